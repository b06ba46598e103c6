import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, test } from 'vitest';
import { AuditLog, verifyAuditLog, type AuditRecord } from '../../src/audit/index.js';
import { loadConfig } from '../../src/config/index.js';
import { TgError } from '../../src/errors.js';
import { initDirectory } from '../../src/setup/index.js';
import { startSidecar } from '../../src/sidecar/index.js';
import { allocation, freshDir, TEST_KEY } from './fixtures.js';

const GENESIS = '0'.repeat(64);

function segmentFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => /^audit-\d{6}\.jsonl$/.test(name))
    .sort()
    .map((name) => join(dir, name));
}

function linesOf(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').filter((line) => line !== '');
}

async function collect(log: AuditLog): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const record of log.records()) out.push(record);
  return out;
}

describe('AuditLog append and chain (L2)', () => {
  test('a live verify while appends land verifies: the anchor may move past the seq the verify started at', async () => {
    const log = await AuditLog.open({ key: TEST_KEY, dir: freshDir() });
    await log.append(allocation(0));
    for (let round = 0; round < 40; round++) {
      // Records still queued when the verify starts become durable (and anchored) while it reads.
      const landing = Array.from({ length: 20 }, (_, i) => log.append(allocation(round * 20 + i + 1)));
      const verdict = log.verify();
      await Promise.all(landing);
      expect(await verdict).toMatchObject({ ok: true });
    }
    await log.close();
  });

  test('append assigns seq, prev and hash synchronously in call order and resolves only once the line is on disk', async () => {
    const dir = freshDir();
    const log = await AuditLog.open({ key: TEST_KEY, dir });
    const first = log.append(allocation(1));
    expect(log.lastSeq).toBe(1); // assigned before any await
    const second = log.append(allocation(2));
    expect(log.lastSeq).toBe(2);
    expect(log.durableSeq).toBe(0); // nothing fsynced yet in this tick

    const onDiskAtResolve = first.then((record) => readFileSync(join(dir, 'audit-000001.jsonl'), 'utf8').includes(record.hash));
    const [r1, r2] = await Promise.all([first, second]);
    expect(await onDiskAtResolve).toBe(true);
    expect(log.stats.fsyncs).toBeGreaterThanOrEqual(1);
    expect(r1.seq).toBe(1);
    expect(r1.prev).toBe(GENESIS);
    expect(r2.seq).toBe(2);
    expect(r2.prev).toBe(r1.hash);
    expect(r1.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(log.durableSeq).toBe(2);
    await log.close();

    const lines = linesOf(join(dir, 'audit-000001.jsonl'));
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[1] ?? '')).toMatchObject({ seq: 2, prev: r1.hash, hash: r2.hash, tenant: 'acme', blocks: [4, 5] });
  });

  test('the chain verifies after many appends across rotations, each segment linking to the previous one', async () => {
    const dir = freshDir();
    const maxFileBytes = 16 * 1024;
    const log = await AuditLog.open({ key: TEST_KEY, dir, maxFileBytes });
    const appended: AuditRecord[] = [];
    for (let batch = 0; batch < 30; batch += 1) {
      appended.push(...(await Promise.all(Array.from({ length: 10 }, (_, i) => log.append(allocation(batch * 10 + i))))));
    }
    expect(log.stats.rotations).toBeGreaterThanOrEqual(3);
    expect(await log.verify()).toMatchObject({ ok: true, records: 300, lastSeq: 300 });
    expect(await collect(log)).toEqual(appended);
    await log.close();

    const files = segmentFiles(dir);
    expect(files.map((file) => file.slice(-18))).toEqual(files.map((_, i) => `audit-${String(i + 1).padStart(6, '0')}.jsonl`));
    for (const file of files) expect(statSync(file).size).toBeLessThanOrEqual(maxFileBytes);
    for (let i = 1; i < files.length; i += 1) {
      const lastOfPrevious = JSON.parse(linesOf(files[i - 1] ?? '').at(-1) ?? '') as AuditRecord;
      const firstOfThis = JSON.parse(linesOf(files[i] ?? '')[0] ?? '') as AuditRecord;
      expect(firstOfThis.prev).toBe(lastOfPrevious.hash);
      expect(firstOfThis.seq).toBe(lastOfPrevious.seq + 1);
    }
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: true, records: 300 });
  });

  test('reopen continues the chain from the tail of the newest segment', async () => {
    const dir = freshDir();
    const log = await AuditLog.open({ key: TEST_KEY, dir, maxFileBytes: 2048 });
    let last: AuditRecord | undefined;
    for (let i = 0; i < 12; i += 1) last = await log.append(allocation(i));
    await log.close();
    expect(segmentFiles(dir).length).toBeGreaterThan(1);

    const reopened = await AuditLog.open({ key: TEST_KEY, dir, maxFileBytes: 2048 });
    expect(reopened.lastSeq).toBe(12);
    const next = await reopened.append(allocation(99));
    expect(next.seq).toBe(13);
    expect(next.prev).toBe(last?.hash);
    await reopened.close();
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: true, records: 13 });
  });

  test('reopen after a crash mid-write moves the torn last line aside and continues the chain', async () => {
    const dir = freshDir();
    const log = await AuditLog.open({ key: TEST_KEY, dir });
    for (let i = 0; i < 3; i += 1) await log.append(allocation(i));
    await log.close();
    const torn = '{"action":"blocks.allocate","blocks":[8,9],"cou';
    appendFileSync(join(dir, 'audit-000001.jsonl'), torn);

    const reopened = await AuditLog.open({ key: TEST_KEY, dir });
    expect(reopened.openReport.tornTailBytes).toBe(torn.length);
    expect(readFileSync(reopened.openReport.tornTailFile ?? '', 'utf8')).toBe(torn);
    expect(reopened.lastSeq).toBe(3);
    expect((await reopened.append(allocation(3))).seq).toBe(4);
    await reopened.close();
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: true, records: 4 });
  });

  test('open refuses a log whose anchor is ahead of it instead of reusing the deleted seqs', async () => {
    const dir = freshDir();
    const log = await AuditLog.open({ key: TEST_KEY, dir });
    for (let i = 0; i < 5; i += 1) await log.append(allocation(i));
    await log.close();
    const file = join(dir, 'audit-000001.jsonl');
    writeFileSync(file, `${linesOf(file).slice(0, 4).join('\n')}\n`);

    await expect(AuditLog.open({ key: TEST_KEY, dir })).rejects.toMatchObject({ code: 'TG_ERR_AUDIT_CORRUPT', reasons: ['anchor_ahead_of_log'] });
  });

  test('records() replays the durable records and refuses a log edited underneath it', async () => {
    const dir = freshDir();
    const log = await AuditLog.open({ key: TEST_KEY, dir });
    for (let i = 0; i < 20; i += 1) await log.append(allocation(i));
    expect((await collect(log)).map((record) => record.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));

    const file = join(dir, 'audit-000001.jsonl');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"tenant":"acme"', '"tenant":"evil"'));
    await expect(collect(log)).rejects.toMatchObject({ code: 'TG_ERR_AUDIT_CORRUPT', reasons: ['audit_hash_mismatch'] });
    await log.close();
  });

  test('close makes pending appends durable and refuses later ones with AUDIT_DOWN', async () => {
    const dir = freshDir();
    const log = await AuditLog.open({ key: TEST_KEY, dir, groupCommitMaxWaitMs: 1000 });
    const pending = Array.from({ length: 5 }, (_, i) => log.append(allocation(i)));
    await log.close(); // does not wait out the 1 s group-commit window
    expect((await Promise.all(pending)).map((record) => record.seq)).toEqual([1, 2, 3, 4, 5]);
    await expect(log.append(allocation(6))).rejects.toMatchObject({ code: 'TG_ERR_AUDIT_DOWN' });
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: true, records: 5 });
  });
});

describe('AuditLog group commit', () => {
  test('64 concurrent appends resolve in call order and share far fewer fsyncs than records', async () => {
    const dir = freshDir();
    const log = await AuditLog.open({ key: TEST_KEY, dir });
    const records = await Promise.all(Array.from({ length: 64 }, (_, i) => log.append(allocation(i, `t${i}`))));
    expect(records.map((record) => record.seq)).toEqual(Array.from({ length: 64 }, (_, i) => i + 1));
    expect(records.map((record) => record.tenant)).toEqual(Array.from({ length: 64 }, (_, i) => `t${i}`));
    expect(log.stats.records).toBe(64);
    expect(log.stats.fsyncs).toBeLessThanOrEqual(2);
    expect(log.stats.maxBatch).toBeGreaterThanOrEqual(32);
    await log.close();
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: true, records: 64 });
  });

  test('64 appenders looping on await keep batching: appends arriving during an fsync join the next one', async () => {
    const dir = freshDir();
    const log = await AuditLog.open({ key: TEST_KEY, dir, maxFileBytes: 64 * 1024 });
    const appender = async (worker: number): Promise<void> => {
      for (let i = 0; i < 10; i += 1) await log.append(allocation(worker * 10 + i, `t${worker}`));
    };
    await Promise.all(Array.from({ length: 64 }, (_, worker) => appender(worker)));
    expect(log.stats.records).toBe(640);
    expect(log.stats.fsyncs * 8).toBeLessThanOrEqual(640);
    await log.close();
    expect(await verifyAuditLog(dir, TEST_KEY)).toMatchObject({ ok: true, records: 640 });
  });

  test('groupCommitMaxWaitMs gathers appends arriving within the window into one commit', async () => {
    const dir = freshDir();
    const log = await AuditLog.open({ key: TEST_KEY, dir, groupCommitMaxWaitMs: 60 });
    const late = (ms: number, n: number) => new Promise<AuditRecord>((done, fail) => setTimeout(() => log.append(allocation(n)).then(done, fail), ms));
    await Promise.all([log.append(allocation(0)), late(10, 1), late(20, 2)]);
    expect(log.stats.commits).toBe(1);
    expect(log.stats.fsyncs).toBe(1);
    await log.close();
  });
});

describe('an audit directory that the sidecar did not create keeps no mode that lets others in (issue 20.10d)', () => {
  const refusal = (dir: string) =>
    AuditLog.open({ key: TEST_KEY, dir }).then(
      async (log) => {
        await log.close();
        return null;
      },
      (error: unknown) => error as TgError,
    );

  test.each(['0777', '0775', '0757', '0722'])('a pre-existing directory with mode %s (group or others may write) is refused with TG_ERR_CONFIG_INVALID, and nothing is written into it', async (mode) => {
    const dir = freshDir();
    mkdirSync(dir);
    chmodSync(dir, parseInt(mode, 8));
    const error = await refusal(dir);
    expect(error).toBeInstanceOf(TgError);
    expect(error?.code).toBe('TG_ERR_CONFIG_INVALID');
    expect(error?.reasons).toEqual(['audit_dir_shared']);
    expect(error?.message).toContain('chmod 700');
    expect(readdirSync(dir)).toEqual([]);
  });

  test('a pre-existing owner-only directory (0700, or 0755: others may read, not write) is used', async () => {
    for (const mode of [0o700, 0o755]) {
      const dir = freshDir();
      mkdirSync(dir);
      chmodSync(dir, mode);
      expect(await refusal(dir)).toBeNull();
    }
  });

  test('a sidecar whose audit directory was made beforehand with mode 0777 (init does not create it) refuses to start', async () => {
    const setup = await initDirectory(mkdtempSync(join(tmpdir(), 'tg-audit-mode-')), { port: 0 });
    mkdirSync(join(setup.dir, 'audit'));
    chmodSync(join(setup.dir, 'audit'), 0o777);
    const error = await startSidecar(loadConfig(setup.configFile), { logger: pino({ level: 'silent' }) }).then(
      async (running) => {
        await running.close();
        return null;
      },
      (e: unknown) => e as TgError,
    );
    expect(error?.code).toBe('TG_ERR_CONFIG_INVALID');
    expect(error?.reasons).toEqual(['audit_dir_shared']);
  });
});
