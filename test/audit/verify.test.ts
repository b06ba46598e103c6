import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { canonicalJson } from '../../src/audit/chain.js';
import { formatAnchor } from '../../src/audit/files.js';
import { AuditKey, AuditLog, runAuditVerify, verifyAuditLog } from '../../src/audit/index.js';
import { allocation, freshDir, TEST_KEY } from './fixtures.js';

/** One intact 20-record log in a single segment, copied fresh for each tampering. */
let singleSegment: string;
/** One intact log spread over several segments. */
let rotated: string;

beforeAll(async () => {
  singleSegment = freshDir('tg-audit-tpl-');
  const log = await AuditLog.open({ key: TEST_KEY, dir: singleSegment });
  for (let i = 1; i <= 20; i += 1) await log.append({ ...allocation(i), decision: i % 2 === 0 ? 'deny' : 'allow' });
  await log.close();

  rotated = freshDir('tg-audit-rot-');
  const big = await AuditLog.open({ key: TEST_KEY, dir: rotated, maxFileBytes: 2048 });
  for (let i = 1; i <= 30; i += 1) await big.append(allocation(i));
  await big.close();
});

function copyOf(template: string): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'tg-audit-copy-')), 'audit');
  cpSync(template, dir, { recursive: true });
  return dir;
}

const SEGMENT = 'audit-000001.jsonl';

function readLines(dir: string, file = SEGMENT): string[] {
  return readFileSync(join(dir, file), 'utf8').split('\n').slice(0, -1); // every line ends with \n
}

/** The chain hash of tenantguard before issue 20.2: SHA-256 over prev and the canonical body, no key. */
function unkeyedHash(prev: string, body: Record<string, unknown>): string {
  return createHash('sha256').update(prev).update(canonicalJson(body)).digest('hex');
}

/**
 * What an attacker with write access to the audit directory could do to the unkeyed chain: edit a
 * record, recompute every later hash and prev link, and rewrite the anchor to the new head.
 */
function rewriteChainWithoutKey(dir: string, edit: (body: Record<string, unknown>) => Record<string, unknown>, seq: number): void {
  const lines = readLines(dir);
  let prev = (JSON.parse(lines[at(seq)] ?? '') as { prev: string }).prev;
  for (let i = at(seq); i < lines.length; i += 1) {
    const { prev: _p, hash: _h, ...body } = JSON.parse(lines[i] ?? '') as Record<string, unknown>;
    const next = i === at(seq) ? edit(body) : body;
    const hash = unkeyedHash(prev, next);
    lines[i] = JSON.stringify({ ...next, prev, hash });
    prev = hash;
  }
  writeLines(dir, lines);
  const last = JSON.parse(lines.at(-1) ?? '') as { seq: number; hash: string };
  writeFileSync(join(dir, 'audit.anchor'), `${JSON.stringify({ v: 1, seq: last.seq, hash: last.hash }).padEnd(159, ' ')}\n`);
}

function writeLines(dir: string, lines: string[], file = SEGMENT): void {
  writeFileSync(join(dir, file), lines.map((line) => `${line}\n`).join(''));
}

/** Line index of seq n in the single-segment log. */
const at = (seq: number): number => seq - 1;

describe('verifyAuditLog finds tampering (L2)', () => {
  test('an intact log verifies, and reports its last seq and hash', async () => {
    const lines = readLines(singleSegment);
    const last = JSON.parse(lines.at(-1) ?? '') as { hash: string };
    expect(await verifyAuditLog(singleSegment, TEST_KEY)).toEqual({ ok: true, records: 20, lastSeq: 20, lastHash: last.hash });
  });

  test('an edited field is a hash mismatch at that record', async () => {
    const dir = copyOf(singleSegment);
    const lines = readLines(dir);
    const record = JSON.parse(lines[at(7)] ?? '') as Record<string, unknown>;
    expect(record['decision']).toBe('allow');
    lines[at(7)] = JSON.stringify({ ...record, decision: 'deny' });
    writeLines(dir, lines);
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: false, firstBadSeq: 7, problem: 'hash mismatch', records: 6, line: 7 });
  });

  test('an edit whose hash was recomputed without the key is a hash mismatch at that record (issue 20.2)', async () => {
    const dir = copyOf(singleSegment);
    const lines = readLines(dir);
    const { prev, hash: _old, ...body } = JSON.parse(lines[at(7)] ?? '') as Record<string, unknown>;
    const forged = { ...body, decision: 'deny' };
    lines[at(7)] = JSON.stringify({ ...forged, prev, hash: unkeyedHash(String(prev), forged) });
    writeLines(dir, lines);
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: false, firstBadSeq: 7, problem: 'hash mismatch' });
  });

  test('a deleted middle record is reported missing at its seq', async () => {
    const dir = copyOf(singleSegment);
    const lines = readLines(dir);
    lines.splice(at(9), 1);
    writeLines(dir, lines);
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: false, firstBadSeq: 9, problem: 'missing record', records: 8 });
  });

  test('two swapped records are reported out of order at the first swapped seq', async () => {
    const dir = copyOf(singleSegment);
    const lines = readLines(dir);
    const twelve = lines[at(12)] ?? '';
    lines[at(12)] = lines[at(13)] ?? '';
    lines[at(13)] = twelve;
    writeLines(dir, lines);
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: false, firstBadSeq: 12, problem: 'out of order', records: 11 });
  });

  test('a partially truncated last line is reported as truncated at its seq', async () => {
    const dir = copyOf(singleSegment);
    const text = readFileSync(join(dir, SEGMENT), 'utf8');
    writeFileSync(join(dir, SEGMENT), text.slice(0, text.length - 40));
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: false, firstBadSeq: 20, problem: 'truncated line', records: 19 });
  });

  test('a deleted last record is caught by the anchor', async () => {
    const dir = copyOf(singleSegment);
    writeLines(dir, readLines(dir).slice(0, -1));
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: false, firstBadSeq: 20, problem: 'anchor ahead of log', records: 19 });
  });

  test('a replaced last record (same seq, new hash chain) disagrees with the anchor', async () => {
    const dir = copyOf(singleSegment);
    const lines = readLines(dir);
    // Re-append record 20 built through the real writer on top of records 1..19.
    const forgedDir = copyOf(singleSegment);
    writeLines(forgedDir, lines.slice(0, -1));
    writeFileSync(join(forgedDir, 'audit.anchor'), formatAnchor(TEST_KEY, { seq: 19, hash: (JSON.parse(lines[at(19)] ?? '') as { hash: string }).hash }));
    const forger = await AuditLog.open({ key: TEST_KEY, dir: forgedDir });
    await forger.append({ ...allocation(20), decision: 'allow' });
    await forger.close();
    cpSync(join(forgedDir, SEGMENT), join(dir, SEGMENT));
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: false, firstBadSeq: 20, problem: 'anchor mismatch' });
  });

  test('a record rewritten with the whole chain and the anchor recomputed is refused (issue 20.2)', async () => {
    const dir = copyOf(singleSegment);
    rewriteChainWithoutKey(dir, (body) => ({ ...body, tenant: 'globex' }), 7);
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: false, problem: 'anchor unreadable' });
    // Even with an anchor the key made, the rewritten record itself does not verify.
    const lines = readLines(dir);
    writeFileSync(join(dir, 'audit.anchor'), formatAnchor(TEST_KEY, { seq: 6, hash: (JSON.parse(lines[at(6)] ?? '') as { hash: string }).hash }));
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: false, firstBadSeq: 7, problem: 'hash mismatch', records: 6 });
  });

  test('a log written under another key does not verify (issue 20.2)', async () => {
    const dir = freshDir('tg-audit-otherkey-');
    const forger = await AuditLog.open({ key: new AuditKey(Buffer.alloc(32, 7)), dir });
    for (let i = 1; i <= 3; i += 1) await forger.append(allocation(i));
    await forger.close();
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: false, problem: 'anchor forged' });
    await expect(AuditLog.open({ key: TEST_KEY, dir })).rejects.toMatchObject({ code: 'TG_ERR_AUDIT_CORRUPT' });
  });

  test('deleting the newest record together with the anchor is refused: only a new log may lack one (issue 20.2)', async () => {
    const dir = copyOf(singleSegment);
    writeLines(dir, readLines(dir).slice(0, -1));
    rmSync(join(dir, 'audit.anchor'));
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: false, problem: 'anchor missing', lastSeq: 19 });
    await expect(AuditLog.open({ key: TEST_KEY, dir })).rejects.toMatchObject({ code: 'TG_ERR_AUDIT_CORRUPT', reasons: ['anchor_missing'] });
    // An emptied anchor is the same as a missing one.
    writeFileSync(join(dir, 'audit.anchor'), '');
    await expect(AuditLog.open({ key: TEST_KEY, dir })).rejects.toMatchObject({ code: 'TG_ERR_AUDIT_CORRUPT', reasons: ['anchor_missing'] });
  });

  test('an anchor moved back to an earlier record without the key is refused (issue 20.2)', async () => {
    const dir = copyOf(singleSegment);
    const lines = readLines(dir);
    writeLines(dir, lines.slice(0, -1));
    const nineteen = JSON.parse(lines[at(19)] ?? '') as { hash: string };
    // Every field an attacker can read from the log, and a MAC under a key of their own.
    writeFileSync(join(dir, 'audit.anchor'), formatAnchor(new AuditKey(Buffer.alloc(32, 1)), { seq: 19, hash: nineteen.hash }));
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: false, problem: 'anchor forged' });
    await expect(AuditLog.open({ key: TEST_KEY, dir })).rejects.toMatchObject({ code: 'TG_ERR_AUDIT_CORRUPT', reasons: ['anchor_forged'] });
  });

  test('a new log has no records and needs no anchor', async () => {
    const dir = freshDir('tg-audit-new-');
    const log = await AuditLog.open({ key: TEST_KEY, dir });
    await log.close();
    rmSync(join(dir, 'audit.anchor'));
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: true, records: 0 });
    const reopened = await AuditLog.open({ key: TEST_KEY, dir });
    expect((await reopened.append(allocation(1))).seq).toBe(1);
    await reopened.close();
  });

  test('deleting the first segment of a rotated log is a missing record at seq 1', async () => {
    const dir = copyOf(rotated);
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: true, records: 30 });
    rmSync(join(dir, SEGMENT));
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: false, firstBadSeq: 1, problem: 'missing record' });
  });

  test('a record deleted at a segment boundary is found across files', async () => {
    const dir = copyOf(rotated);
    const second = 'audit-000002.jsonl';
    const lines = readLines(dir, second);
    const firstSeq = (JSON.parse(lines[0] ?? '') as { seq: number }).seq;
    writeLines(dir, lines.slice(1), second);
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: false, firstBadSeq: firstSeq, problem: 'missing record', file: second, line: 1 });
  });

  test('given explicit files, a later segment verifies on its own as a chain segment', async () => {
    const files = readdirSync(rotated).filter((name) => name.endsWith('.jsonl')).sort();
    expect(files.length).toBeGreaterThan(2);
    const result = await verifyAuditLog(files.slice(1).map((name) => join(rotated, name)), TEST_KEY);
    expect(result).toMatchObject({ ok: true, lastSeq: 30 });
    expect(result.records).toBeLessThan(30);
  });

  test('segment 1 given as a file must begin the log: records cut off its front are a missing record at seq 1 (issue 17.7)', async () => {
    const dir = copyOf(singleSegment);
    writeLines(dir, readLines(dir).slice(2));
    expect(await verifyAuditLog([join(dir, SEGMENT)], TEST_KEY)).toMatchObject({ ok: false, firstBadSeq: 1, problem: 'missing record' });
  });

  test('segment files are checked against the anchor beside the last of them, or against none with anchorFile null (issue 17.7)', async () => {
    const dir = copyOf(singleSegment);
    writeLines(dir, readLines(dir).slice(0, -1));
    expect(await verifyAuditLog([join(dir, SEGMENT)], TEST_KEY)).toMatchObject({ ok: false, firstBadSeq: 20, problem: 'anchor ahead of log' });
    expect(await verifyAuditLog([join(dir, SEGMENT)], TEST_KEY, { anchorFile: null })).toMatchObject({ ok: true, records: 19 });
  });

  test('runAuditVerify exits 0 for an intact log and 1 naming the seq for a tampered one', async () => {
    const good = await runAuditVerify([singleSegment], '/nonexistent', TEST_KEY);
    expect(good.exitCode).toBe(0);
    expect(good.output).toContain('20 records');
    const dir = copyOf(singleSegment);
    const lines = readLines(dir);
    lines.splice(at(3), 1);
    writeLines(dir, lines);
    const bad = await runAuditVerify([], dir, TEST_KEY);
    expect(bad.exitCode).toBe(1);
    expect(bad.output).toContain('at seq 3: missing record');
  });
});
