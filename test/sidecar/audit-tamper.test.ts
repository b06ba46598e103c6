import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, test } from 'vitest';
import { canonicalJson } from '../../src/audit/chain.js';
import { loadConfig } from '../../src/config/index.js';
import { startSidecar } from '../../src/sidecar/index.js';
import { startTestSidecar, type TestSidecar } from '../support/sidecar.js';

/**
 * Issue 20.2: a restart rebuilds the ledger from the audit log, so an edited log is edited state.
 * Each test tampers with a stopped sidecar's log the way someone with write access to the audit
 * directory (but not to the keys directory) can, and proves the next start refuses it.
 */
const quiet = { logger: pino({ level: 'silent' }) };

async function stoppedAfterTwoAllocations(): Promise<{ configFile: string; auditDir: string; lines: string[]; allocationIndex: number }> {
  const running: TestSidecar = await startTestSidecar();
  for (const request_id of ['r1', 'r2']) {
    const allocated = await running.call(running.worker, 'POST', '/v1/blocks/allocate', { tenant: 'free-demo', request_id, count: 2 });
    expect(allocated.status).toBe(200);
  }
  await running.close();
  const auditDir = loadConfig(running.setup.configFile, {}).paths.audit;
  const lines = readFileSync(join(auditDir, 'audit-000001.jsonl'), 'utf8').split('\n').slice(0, -1);
  // The second allocation: the log keeps records before it, so it is not a new log.
  const actions = lines.map((line) => (JSON.parse(line) as { action: string }).action);
  const allocationIndex = actions.lastIndexOf('blocks.allocate');
  expect(allocationIndex).toBeGreaterThan(0);
  return { configFile: running.setup.configFile, auditDir, lines, allocationIndex };
}

function writeSegment(auditDir: string, lines: readonly string[]): void {
  writeFileSync(join(auditDir, 'audit-000001.jsonl'), lines.map((line) => `${line}\n`).join(''));
}

describe('a restart refuses an audit log that does not verify against its key and anchor (issue 20.2)', () => {
  test('deleting the allocation record, everything after it and the anchor: the sidecar does not start with the allocation forgotten', async () => {
    const { configFile, auditDir, lines, allocationIndex } = await stoppedAfterTwoAllocations();
    writeSegment(auditDir, lines.slice(0, allocationIndex));
    rmSync(join(auditDir, 'audit.anchor'));
    await expect(startSidecar(loadConfig(configFile), quiet)).rejects.toMatchObject({ code: 'TG_ERR_AUDIT_CORRUPT', reasons: ['anchor_missing'] });
  });

  test('handing the allocation to another tenant and recomputing the unkeyed chain and anchor: refused', async () => {
    const { configFile, auditDir, lines, allocationIndex } = await stoppedAfterTwoAllocations();
    let prev = (JSON.parse(lines[allocationIndex] ?? '') as { prev: string }).prev;
    const forged = lines.map((line, i) => {
      if (i < allocationIndex) return line;
      const { prev: _p, hash: _h, ...body } = JSON.parse(line) as Record<string, unknown>;
      const edited = i === allocationIndex ? { ...body, tenant: 'acme' } : body;
      const hash = createHash('sha256').update(prev).update(canonicalJson(edited)).digest('hex');
      const out = JSON.stringify({ ...edited, prev, hash });
      prev = hash;
      return out;
    });
    writeSegment(auditDir, forged);
    const last = JSON.parse(forged.at(-1) ?? '') as { seq: number; hash: string };
    writeFileSync(join(auditDir, 'audit.anchor'), `${JSON.stringify({ v: 1, seq: last.seq, hash: last.hash }).padEnd(159, ' ')}\n`);
    await expect(startSidecar(loadConfig(configFile), quiet)).rejects.toMatchObject({ code: 'TG_ERR_AUDIT_CORRUPT' });
  });

  test('deleting the audit MAC key of a log with records: refused, never replaced by a new key', async () => {
    const { configFile } = await stoppedAfterTwoAllocations();
    const config = loadConfig(configFile);
    rmSync(config.paths.auditKey);
    await expect(startSidecar(config, quiet)).rejects.toMatchObject({ code: 'TG_ERR_AUDIT_KEY_INVALID' });
    expect(() => readFileSync(config.paths.auditKey)).toThrow();
  });
});
