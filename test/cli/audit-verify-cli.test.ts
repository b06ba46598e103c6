import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { REPO_ROOT } from '../support/opa.js';
import { copyOfAuditDir, writtenAuditLog } from '../support/sidecar.js';

const CLI = join(REPO_ROOT, 'bin/tenantguard.js');

/** A real log written by a real sidecar (allocations by the worker over mTLS), and its MAC key. */
let auditDir: string;
let keyFile: string;

beforeAll(async () => {
  ({ auditDir, keyFile } = await writtenAuditLog(async (tg) => {
    for (let i = 0; i < 5; i += 1) {
      const res = await tg.call(tg.worker, 'POST', '/v1/blocks/allocate', { tenant: 'free-demo', request_id: `req-${i}`, count: 2 });
      expect(res.status).toBe(200);
    }
  }));
}, 60_000);

const copyOfLog = (): string => copyOfAuditDir(auditDir);

function newestSegment(dir: string): string {
  return join(dir, readdirSync(dir).filter((f) => /^audit-\d+\.jsonl$/.test(f)).sort().at(-1)!);
}

/** Cuts the newest record off the newest segment: a valid but shorter chain. */
function dropLastRecord(dir: string): { seq: number; hash: string } {
  const file = newestSegment(dir);
  const lines = readFileSync(file, 'utf8').split('\n').slice(0, -1);
  lines.pop();
  writeFileSync(file, `${lines.join('\n')}\n`);
  return JSON.parse(lines.at(-1)!) as { seq: number; hash: string };
}

function verify(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'audit', 'verify', '--key', keyFile, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('tenantguard audit verify on a log written by the sidecar (issue 17.7)', () => {
  test('the intact log verifies, as a directory and as its segment files', () => {
    expect(verify(auditDir).status).toBe(0);
    const segments = readdirSync(auditDir).filter((f) => f.endsWith('.jsonl')).sort().map((f) => join(auditDir, f));
    const asFiles = verify(...segments);
    expect(asFiles.stdout).toMatch(/audit log OK/);
    expect(asFiles.status).toBe(0);
  });

  test('a truncated log given as segment files fails: the anchor of their directory is checked', () => {
    const dir = copyOfLog();
    dropLastRecord(dir);
    const result = verify(newestSegment(dir));
    expect(result.stdout).toMatch(/FAILED .*anchor ahead of log/);
    expect(result.status).toBe(1);
  });

  test('--no-anchor checks segment files alone and says the end of the log was not checked', () => {
    const dir = copyOfLog();
    dropLastRecord(dir);
    const result = verify('--no-anchor', newestSegment(dir));
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/anchor not checked/);
  });

  test('a truncated log whose anchor was emptied or rewritten to the new head fails (the anchor is MACed, issue 20.2)', () => {
    const emptied = copyOfLog();
    dropLastRecord(emptied);
    writeFileSync(join(emptied, 'audit.anchor'), '');
    expect(verify(emptied).stdout).toMatch(/FAILED.*anchor missing/);
    expect(verify(emptied).status).toBe(1);

    const rewritten = copyOfLog();
    const head = dropLastRecord(rewritten);
    const forged = JSON.stringify({ v: 2, seq: head.seq, hash: head.hash, mac: '0'.repeat(64) });
    writeFileSync(join(rewritten, 'audit.anchor'), `${forged.padEnd(255, ' ')}\n`);
    expect(verify(rewritten).stdout).toMatch(/FAILED.*anchor forged/);
    expect(verify(rewritten).status).toBe(1);
    // The same through the segment files: the rewritten anchor is found and refused there too.
    expect(verify(newestSegment(rewritten)).status).toBe(1);
  });

  test('an empty directory is not a verified log (exit 1) unless --allow-empty says none is expected', () => {
    const empty = mkdtempSync(join(tmpdir(), 'tg-verify-empty-'));
    const refused = verify(empty);
    expect(refused.status).toBe(1);
    expect(refused.stdout).toMatch(/FAILED: no records/);
    expect(refused.stdout).toContain(empty);
    const allowed = verify('--allow-empty', empty);
    expect(allowed.status).toBe(0);
    expect(allowed.stdout).toMatch(/OK: no records/);
  });

  test('a missing path exits 2 with a message naming it, not 70 with a raw ENOENT', () => {
    const missing = join(mkdtempSync(join(tmpdir(), 'tg-verify-missing-')), 'no-such-audit');
    const dirResult = verify(missing);
    expect(dirResult.status).toBe(2);
    expect(dirResult.stderr).toContain(missing);
    expect(dirResult.stderr).not.toMatch(/ENOENT|unexpected failure/);
    mkdirSync(missing);
    const fileResult = verify(join(missing, 'audit-000001.jsonl'));
    expect(fileResult.status).toBe(2);
    expect(fileResult.stderr).toContain(join(missing, 'audit-000001.jsonl'));
  });
});
