import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { AuditLog, loadAuditKey, openAuditKey, verifyAuditLog } from '../../src/audit/index.js';
import { REPO_ROOT } from '../support/opa.js';
import { copyOfAuditDir, writtenAuditLog } from '../support/sidecar.js';

/**
 * docs/audit-format.md is enough to write a verifier (issue 17.7): outside_verifier.py was written
 * from that page alone, in Python with the standard library, sharing nothing with src/audit.
 */
const VERIFIER = join(REPO_ROOT, 'test/audit/outside_verifier.py');

interface Outcome {
  ok: boolean;
  records: number;
  problem?: string;
  firstBadSeq?: number;
  lastSeq?: number;
  lastHash?: string;
}

function python(...args: string[]): string {
  const r = spawnSync('python3', [VERIFIER, ...args], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`outside verifier failed (${r.status}): ${r.stderr}`);
  return r.stdout.trim();
}
const outsideVerify = (dir: string, keyFile: string): Outcome => JSON.parse(python('verify', dir, keyFile)) as Outcome;

let auditDir: string;
let keyFile: string;

beforeAll(async () => {
  ({ auditDir, keyFile } = await writtenAuditLog(async (tg) => {
    for (const id of ['req-outside-1', 'prompt:my.password.is.hunter2', 'req-3']) {
      expect((await tg.call(tg.worker, 'POST', '/v1/blocks/allocate', { tenant: 'free-demo', request_id: id, count: 2 })).status).toBe(200);
    }
    const owned = await tg.call(tg.worker, 'POST', '/v1/blocks/allocate', { tenant: 'standard-demo', request_id: 'other', count: 1 });
    const foreign = (owned.body as { blocks: { id: number }[] }).blocks[0]!.id;
    // A refused cross-tenant reach: a critical violation record.
    expect((await tg.call(tg.worker, 'POST', '/v1/blocks/free', { tenant: 'free-demo', blocks: [foreign] })).status).toBe(403);
    expect((await tg.call(tg.operator, 'POST', '/v1/tenants/enterprise-demo/keys/rotate')).status).toBe(200);
  }));
}, 60_000);

const copyOfLog = (): string => copyOfAuditDir(auditDir);

const segmentOf = (dir: string): string => join(dir, readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort().at(-1)!);
const linesOf = (file: string): string[] => readFileSync(file, 'utf8').split('\n').slice(0, -1);

describe('an outside verifier written from docs/audit-format.md alone agrees with tenantguard (issue 17.7)', () => {
  test('it verifies a log written by the sidecar, to the same head', async () => {
    const ours = await verifyAuditLog(auditDir, await loadAuditKey(keyFile));
    expect(ours.ok).toBe(true);
    expect(ours.records).toBeGreaterThanOrEqual(6);
    expect(outsideVerify(auditDir, keyFile)).toEqual({ ok: true, records: ours.records, lastSeq: ours.lastSeq, lastHash: ours.lastHash });
  });

  test('its recorded ids are the ones in the log, and the client-chosen ids are not there', () => {
    const text = readFileSync(segmentOf(auditDir), 'utf8');
    for (const id of ['req-outside-1', 'prompt:my.password.is.hunter2']) {
      expect(text).toContain(`"request_id":"${python('recorded-id', keyFile, 'request', 'free-demo', id)}"`);
      expect(text).not.toContain(id);
    }
  });

  test('it finds an edited record at its seq, as tenantguard does', async () => {
    const dir = copyOfLog();
    const file = segmentOf(dir);
    const lines = linesOf(file);
    const edited = JSON.parse(lines[1]!) as Record<string, unknown>;
    edited['decision'] = edited['decision'] === 'allow' ? 'deny' : 'allow';
    lines[1] = JSON.stringify(edited);
    writeFileSync(file, `${lines.join('\n')}\n`);
    expect(outsideVerify(dir, keyFile)).toMatchObject({ ok: false, problem: 'hash mismatch', firstBadSeq: 2, records: 1 });
    expect(await verifyAuditLog(dir, await loadAuditKey(keyFile))).toMatchObject({ ok: false, problem: 'hash mismatch', firstBadSeq: 2 });
  });

  test('it finds a truncation through the anchor and a rewritten anchor through its MAC', () => {
    const cut = copyOfLog();
    const lines = linesOf(segmentOf(cut));
    writeFileSync(segmentOf(cut), `${lines.slice(0, -1).join('\n')}\n`);
    expect(outsideVerify(cut, keyFile)).toMatchObject({ ok: false, problem: 'anchor ahead of log', firstBadSeq: lines.length });
    const head = JSON.parse(lines.at(-2)!) as { seq: number; hash: string };
    writeFileSync(join(cut, 'audit.anchor'), `${JSON.stringify({ v: 2, seq: head.seq, hash: head.hash, mac: 'f'.repeat(64) }).padEnd(255, ' ')}\n`);
    expect(outsideVerify(cut, keyFile)).toMatchObject({ ok: false, problem: 'anchor forged' });
  });

  test('numbers hash alike: fractions, exponents and large integers in counts (canonical JSON, RFC 8785 numbers)', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'tg-outside-num-')), 'audit');
    const numbersKey = join(dir, '..', 'audit.key');
    const log = await AuditLog.open({ dir, key: await openAuditKey(numbersKey, dir) });
    for (const value of [0.1, 1e21, 1.5e-7, 123456.789, 2 ** 53 - 1, -0, 1e-6, 5e-324]) {
      await log.append({ type: 'admin', severity: 'info', principal: { role: 'system', id: 'test' }, action: 'test.numbers', decision: 'allow', reasons: [], counts: { value, zeta: 1, alpha: 2 } });
    }
    await log.close();
    expect(outsideVerify(dir, numbersKey)).toMatchObject({ ok: true, records: 8 });
  });
});
