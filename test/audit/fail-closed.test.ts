import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { AuditLog, verifyAuditLog, type AuditRecord } from '../../src/audit/index.js';
import { allocation, freshDir, TEST_KEY } from './fixtures.js';

/**
 * How the log is made unwritable for real: RLIMIT_FSIZE on this very test process, set with
 * prlimit(1). The kernel then behaves like a full disk for the segment: the write that crosses the
 * limit is cut short (a genuine half line on disk), the next write fails with EFBIG (Node ignores
 * SIGXFSZ, so it surfaces as an error). Lifting the limit is the "operator freed space" step, so
 * recovery runs against the same real file. Why not the alternatives: chmod does not stop root
 * (tests run as root here); a read-only fd or /dev/full would need a hook to swap the log's handle
 * and never produce a partial write, so the truncate-back-to-durable path would go untested;
 * mounting a tiny tmpfs needs privileges a CI runner does not have. Lowering one's own soft limit
 * and raising it back up to the hard limit needs no privilege.
 */
const prlimitWorks = spawnSync('prlimit', ['--pid', String(process.pid), '--fsize']).status === 0;
const originalSoft = prlimitWorks
  ? execFileSync('prlimit', ['--pid', String(process.pid), '--fsize', '--output=SOFT', '--noheadings'], { encoding: 'utf8' }).trim()
  : 'unlimited';

function limitFileSize(bytes: number): void {
  execFileSync('prlimit', ['--pid', String(process.pid), `--fsize=${bytes}:`]);
}
function liftFileSizeLimit(): void {
  execFileSync('prlimit', ['--pid', String(process.pid), `--fsize=${originalSoft}:`]);
}

afterEach(() => {
  if (prlimitWorks) liftFileSizeLimit();
});

const segment = (dir: string) => join(dir, 'audit-000001.jsonl');

async function logWithFiveRecords(options: { recoveryRetryMs?: number } = {}): Promise<{ dir: string; log: AuditLog; records: AuditRecord[] }> {
  const dir = freshDir('tg-audit-full-');
  const log = await AuditLog.open({ key: TEST_KEY, dir, ...options });
  const records: AuditRecord[] = [];
  for (let i = 0; i < 5; i += 1) records.push(await log.append(allocation(i)));
  return { dir, log, records };
}

describe.skipIf(!prlimitWorks)('AuditLog fails closed when the disk refuses writes', () => {
  test('a failing write rejects every undurable append with AUDIT_DOWN, newest first, and leaves no half line', async () => {
    const { dir, log, records } = await logWithFiveRecords();
    const durableBytes = statSync(segment(dir)).size;
    limitFileSize(durableBytes + 100); // room for a third of one record: a torn write

    const rollbacks: number[] = [];
    const pending = Array.from({ length: 20 }, (_, i) =>
      log.append(allocation(100 + i)).then(
        () => 'resolved',
        (error: unknown) => {
          rollbacks.push(i);
          return error;
        },
      ),
    );
    expect(log.lastSeq).toBe(25); // assigned optimistically, synchronously
    const outcomes = await Promise.all(pending);

    for (const outcome of outcomes) {
      expect(outcome).toMatchObject({ code: 'TG_ERR_AUDIT_DOWN', status: 503, reasons: ['audit_io_error:efbig'] });
    }
    // Callers undo in-memory changes in these handlers; newest first is the safe undo order.
    expect(rollbacks).toEqual(Array.from({ length: 20 }, (_, i) => 19 - i));
    expect(log.healthy).toBe(false);
    expect(log.lastSeq).toBe(5); // chain head back at the last durable record
    expect(log.durableSeq).toBe(5);
    expect(log.stats.failures).toBe(1);

    // The torn bytes were cut away: the segment is exactly the five durable records.
    expect(statSync(segment(dir)).size).toBe(durableBytes);
    expect(readFileSync(segment(dir), 'utf8').endsWith('\n')).toBe(true);
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: true, records: 5, lastHash: records[4]?.hash });

    // Later appends are refused at once; nothing reaches the file.
    await expect(log.append(allocation(200))).rejects.toMatchObject({ code: 'TG_ERR_AUDIT_DOWN' });
    expect(statSync(segment(dir)).size).toBe(durableBytes);
    await log.close();
  });

  test('recovery fails while the disk is still full and succeeds once it is not, recording the outage in the chain', async () => {
    const { dir, log, records } = await logWithFiveRecords();
    const durableBytes = statSync(segment(dir)).size;
    limitFileSize(durableBytes + 100);
    const failed = await Promise.allSettled([log.append(allocation(10)), log.append(allocation(11))]);
    expect(failed.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected']);
    await expect(log.append(allocation(12))).rejects.toMatchObject({ code: 'TG_ERR_AUDIT_DOWN' });

    expect(await log.tryRecover()).toBe(false); // its test write hits the limit too
    expect(log.healthy).toBe(false);
    expect(statSync(segment(dir)).size).toBe(durableBytes); // and was cut back as well

    liftFileSizeLimit();
    expect(await log.tryRecover()).toBe(true);
    expect(log.healthy).toBe(true);
    expect(log.lastSeq).toBe(6);
    const next = await log.append(allocation(13));
    expect(next.seq).toBe(7);
    expect(log.stats.recoveries).toBe(1);

    const replay: AuditRecord[] = [];
    for await (const record of log.records()) replay.push(record);
    expect(replay.map((record) => record.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(replay[5]).toMatchObject({
      type: 'lifecycle',
      action: 'audit.recovered',
      prev: records[4]?.hash,
      counts: { refused: 3 }, // two pending at the failure, one refused while down
    });
    await log.close();
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: true, records: 7 });
  });

  test('an append to a down log retries recovery by itself, but not more often than recoveryRetryMs', async () => {
    const { dir, log } = await logWithFiveRecords({ recoveryRetryMs: 300 });
    limitFileSize(statSync(segment(dir)).size + 100);
    await expect(log.append(allocation(10))).rejects.toMatchObject({ code: 'TG_ERR_AUDIT_DOWN' });
    liftFileSizeLimit();

    // Within the retry interval an append is refused and triggers nothing.
    await expect(log.append(allocation(11))).rejects.toMatchObject({ code: 'TG_ERR_AUDIT_DOWN' });
    await new Promise((done) => setTimeout(done, 20));
    expect(log.healthy).toBe(false);
    expect(log.stats.recoveries).toBe(0);

    // After it, the next append is still refused (its order relative to the recovery record is
    // unknown) but starts a recovery that brings the log back.
    await new Promise((done) => setTimeout(done, 320));
    await expect(log.append(allocation(12))).rejects.toMatchObject({ code: 'TG_ERR_AUDIT_DOWN' });
    await vi.waitFor(() => expect(log.healthy).toBe(true), { timeout: 2000, interval: 10 });
    expect((await log.append(allocation(13))).seq).toBe(7);
    await log.close();
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: true, records: 7 });
  });

  test('a failure while rotating to a new segment also fails closed and the chain resumes there', async () => {
    const dir = freshDir('tg-audit-full-');
    const log = await AuditLog.open({ key: TEST_KEY, dir, maxFileBytes: 1 }); // every commit starts a new segment
    for (let i = 0; i < 4; i += 1) await log.append(allocation(i));
    limitFileSize(300); // the fresh segment 5 can take 300 bytes, not a record; the 256-byte anchor still fits
    await expect(log.append(allocation(4))).rejects.toMatchObject({ code: 'TG_ERR_AUDIT_DOWN' });
    expect(statSync(join(dir, 'audit-000005.jsonl')).size).toBe(0);
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: true, records: 4 });
    liftFileSizeLimit();
    expect(await log.tryRecover()).toBe(true);
    expect((await log.append(allocation(5))).seq).toBe(6);
    await log.close();
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: true, records: 6 });
    expect(JSON.parse(readFileSync(join(dir, 'audit-000005.jsonl'), 'utf8'))).toMatchObject({ seq: 5, action: 'audit.recovered' });
  });
});
