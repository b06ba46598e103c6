import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { AuditLog, runAuditVerify, verifyAuditLog } from '../../src/audit/index.js';
import { allocation, freshDir } from './fixtures.js';

/** One intact 20-record log in a single segment, copied fresh for each tampering. */
let singleSegment: string;
/** One intact log spread over several segments. */
let rotated: string;

beforeAll(async () => {
  singleSegment = freshDir('tg-audit-tpl-');
  const log = await AuditLog.open({ dir: singleSegment });
  for (let i = 1; i <= 20; i += 1) await log.append({ ...allocation(i), decision: i % 2 === 0 ? 'deny' : 'allow' });
  await log.close();

  rotated = freshDir('tg-audit-rot-');
  const big = await AuditLog.open({ dir: rotated, maxFileBytes: 2048 });
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

function writeLines(dir: string, lines: string[], file = SEGMENT): void {
  writeFileSync(join(dir, file), lines.map((line) => `${line}\n`).join(''));
}

/** Line index of seq n in the single-segment log. */
const at = (seq: number): number => seq - 1;

describe('verifyAuditLog finds tampering (L2)', () => {
  test('an intact log verifies, and reports its last seq and hash', async () => {
    const lines = readLines(singleSegment);
    const last = JSON.parse(lines.at(-1) ?? '') as { hash: string };
    expect(await verifyAuditLog(singleSegment)).toEqual({ ok: true, records: 20, lastSeq: 20, lastHash: last.hash });
  });

  test('an edited field is a hash mismatch at that record', async () => {
    const dir = copyOf(singleSegment);
    const lines = readLines(dir);
    const record = JSON.parse(lines[at(7)] ?? '') as Record<string, unknown>;
    expect(record['decision']).toBe('allow');
    lines[at(7)] = JSON.stringify({ ...record, decision: 'deny' });
    writeLines(dir, lines);
    expect(await verifyAuditLog(dir)).toMatchObject({ ok: false, firstBadSeq: 7, problem: 'hash mismatch', records: 6, line: 7 });
  });

  test('an edit whose hash was recomputed breaks the next record\'s prev link', async () => {
    const dir = copyOf(singleSegment);
    const lines = readLines(dir);
    const { prev, hash: _old, ...body } = JSON.parse(lines[at(7)] ?? '') as Record<string, unknown>;
    const forged = { ...body, decision: 'deny' };
    const canonical = JSON.stringify(Object.fromEntries(Object.entries(forged).sort(([a], [b]) => (a < b ? -1 : 1))));
    const hash = createHash('sha256').update(String(prev)).update(canonical).digest('hex');
    lines[at(7)] = JSON.stringify({ ...forged, prev, hash });
    writeLines(dir, lines);
    expect(await verifyAuditLog(dir)).toMatchObject({ ok: false, firstBadSeq: 8, problem: 'prev mismatch' });
  });

  test('a deleted middle record is reported missing at its seq', async () => {
    const dir = copyOf(singleSegment);
    const lines = readLines(dir);
    lines.splice(at(9), 1);
    writeLines(dir, lines);
    expect(await verifyAuditLog(dir)).toMatchObject({ ok: false, firstBadSeq: 9, problem: 'missing record', records: 8 });
  });

  test('two swapped records are reported out of order at the first swapped seq', async () => {
    const dir = copyOf(singleSegment);
    const lines = readLines(dir);
    const twelve = lines[at(12)] ?? '';
    lines[at(12)] = lines[at(13)] ?? '';
    lines[at(13)] = twelve;
    writeLines(dir, lines);
    expect(await verifyAuditLog(dir)).toMatchObject({ ok: false, firstBadSeq: 12, problem: 'out of order', records: 11 });
  });

  test('a partially truncated last line is reported as truncated at its seq', async () => {
    const dir = copyOf(singleSegment);
    const text = readFileSync(join(dir, SEGMENT), 'utf8');
    writeFileSync(join(dir, SEGMENT), text.slice(0, text.length - 40));
    expect(await verifyAuditLog(dir)).toMatchObject({ ok: false, firstBadSeq: 20, problem: 'truncated line', records: 19 });
  });

  test('a deleted last record is caught by the anchor', async () => {
    const dir = copyOf(singleSegment);
    writeLines(dir, readLines(dir).slice(0, -1));
    expect(await verifyAuditLog(dir)).toMatchObject({ ok: false, firstBadSeq: 20, problem: 'anchor ahead of log', records: 19 });
  });

  test('a replaced last record (same seq, new hash chain) disagrees with the anchor', async () => {
    const dir = copyOf(singleSegment);
    const lines = readLines(dir);
    // Re-append record 20 built through the real writer on top of records 1..19.
    const forgedDir = copyOf(singleSegment);
    writeLines(forgedDir, lines.slice(0, -1));
    rmSync(join(forgedDir, 'audit.anchor'));
    const forger = await AuditLog.open({ dir: forgedDir });
    await forger.append({ ...allocation(20), decision: 'allow' });
    await forger.close();
    cpSync(join(forgedDir, SEGMENT), join(dir, SEGMENT));
    expect(await verifyAuditLog(dir)).toMatchObject({ ok: false, firstBadSeq: 20, problem: 'anchor mismatch' });
  });

  test('deleting the first segment of a rotated log is a missing record at seq 1', async () => {
    const dir = copyOf(rotated);
    expect(await verifyAuditLog(dir)).toMatchObject({ ok: true, records: 30 });
    rmSync(join(dir, SEGMENT));
    expect(await verifyAuditLog(dir)).toMatchObject({ ok: false, firstBadSeq: 1, problem: 'missing record' });
  });

  test('a record deleted at a segment boundary is found across files', async () => {
    const dir = copyOf(rotated);
    const second = 'audit-000002.jsonl';
    const lines = readLines(dir, second);
    const firstSeq = (JSON.parse(lines[0] ?? '') as { seq: number }).seq;
    writeLines(dir, lines.slice(1), second);
    expect(await verifyAuditLog(dir)).toMatchObject({ ok: false, firstBadSeq: firstSeq, problem: 'missing record', file: second, line: 1 });
  });

  test('given explicit files, a later segment verifies on its own as a chain segment', async () => {
    const files = readdirSync(rotated).filter((name) => name.endsWith('.jsonl')).sort();
    expect(files.length).toBeGreaterThan(2);
    const result = await verifyAuditLog(files.slice(1).map((name) => join(rotated, name)));
    expect(result).toMatchObject({ ok: true, lastSeq: 30 });
    expect(result.records).toBeLessThan(30);
  });

  test('runAuditVerify exits 0 for an intact log and 1 naming the seq for a tampered one', async () => {
    const good = await runAuditVerify([singleSegment], '/nonexistent');
    expect(good.exitCode).toBe(0);
    expect(good.output).toContain('20 records');
    const dir = copyOf(singleSegment);
    const lines = readLines(dir);
    lines.splice(at(3), 1);
    writeLines(dir, lines);
    const bad = await runAuditVerify([], dir);
    expect(bad.exitCode).toBe(1);
    expect(bad.output).toContain('at seq 3: missing record');
  });
});
