import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readyAgain, startTestSidecar, type TestSidecar } from '../support/sidecar.js';

// The disk is made to refuse writes for real with RLIMIT_FSIZE on this process (see
// test/audit/fail-closed.test.ts for why not chmod or a fake file handle).
const prlimitWorks = spawnSync('prlimit', ['--pid', String(process.pid), '--fsize']).status === 0;
const setFileSizeLimit = (value: string): void => void execFileSync('prlimit', ['--pid', String(process.pid), `--fsize=${value}:`]);

let tg: TestSidecar;
beforeAll(async () => {
  tg = await startTestSidecar();
});
afterAll(async () => {
  if (prlimitWorks) setFileSizeLimit('unlimited');
  await tg.close();
});

describe.skipIf(!prlimitWorks)('state changes fail closed when the audit log is unwritable', () => {
  test('allocate answers 503 and changes nothing; after space returns it works again', async () => {
    const allocate = (id: string) => tg.call(tg.worker, 'POST', '/v1/blocks/allocate', { tenant: 'free-demo', request_id: id, count: 2 });
    expect((await allocate('before')).status).toBe(200);
    const usageBefore = (await tg.call(tg.tenantKey('free-demo'), 'GET', '/v1/usage')).body;

    const dir = join(tg.setup.dir, 'audit');
    const segment = readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort().at(-1)!;
    setFileSizeLimit(String(statSync(join(dir, segment)).size + 50));
    const refused = await allocate('during');
    expect(refused.status).toBe(503);
    expect((refused.body as { error: { code: string } }).error.code).toBe('TG_ERR_AUDIT_DOWN');
    expect((await tg.call(tg.tenantKey('free-demo'), 'GET', '/v1/usage')).body).toEqual(usageBefore);

    setFileSizeLimit('unlimited');
    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await allocate(`after-${i}`)).status;
    }
    expect(status).toBe(200);
    expect((await tg.call(tg.operator, 'GET', '/v1/audit/verify')).body).toMatchObject({ ok: true });
  });

  test('a policy reload over the API while the log refuses writes is 503 and reloads nothing (a change nobody can account for is not made)', async () => {
    const before = (await tg.call(tg.operator, 'GET', '/v1/policy')).body as { loaded_at: string };
    // A refused write marks the log down first; the reload is then refused before it runs.
    const dir = join(tg.setup.dir, 'audit');
    const segment = readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort().at(-1)!;
    setFileSizeLimit(String(statSync(join(dir, segment)).size + 50));
    try {
      expect((await tg.call(tg.worker, 'POST', '/v1/blocks/allocate', { tenant: 'free-demo', request_id: 'reload-down', count: 1 })).status).toBe(503);
      const reload = await tg.call(tg.operator, 'POST', '/v1/policy/reload');
      expect([reload.status, (reload.body as { error: { code: string } }).error.code]).toEqual([503, 'TG_ERR_AUDIT_DOWN']);
    } finally {
      setFileSizeLimit('unlimited');
    }
    expect(((await tg.call(tg.operator, 'GET', '/v1/policy')).body as { loaded_at: string }).loaded_at).toBe(before.loaded_at);
    expect(await readyAgain(tg)).toBe(200);
  });

  test('readiness fails while the log refuses writes and returns once it recovers; liveness stays up (issue 20.10)', async () => {
    const dir = join(tg.setup.dir, 'audit');
    const segment = readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort().at(-1)!;
    setFileSizeLimit(String(statSync(join(dir, segment)).size + 50));
    expect((await tg.call(tg.worker, 'POST', '/v1/blocks/allocate', { tenant: 'free-demo', request_id: 'ready-1', count: 1 })).status).toBe(503);
    const notReady = await tg.call({}, 'GET', '/readyz');
    expect(notReady.status).toBe(503);
    expect((notReady.body as { error: { code: string } }).error.code).toBe('TG_ERR_AUDIT_DOWN');
    expect((await tg.call({}, 'GET', '/healthz')).status).toBe(200);
    setFileSizeLimit('unlimited');
    expect(await readyAgain(tg)).toBe(200);
  });

  test('a scheduler step answers 503 and applies none of its ops; the same step succeeds once the log is writable', async () => {
    const step = (n: number) =>
      tg.call(tg.worker, 'POST', '/v1/steps', {
        step: n,
        ops: [
          { op: 'claim', tenant: 'free-demo', request_id: 'step-a', blocks: [100, 101] },
          { op: 'claim', tenant: 'standard-demo', request_id: 'step-b', blocks: [102] },
          { op: 'release', tenant: 'free-demo', request_id: 'never-held', blocks: [103] },
        ],
      });
    const ledgerView = async () => (await tg.call(tg.operator, 'GET', '/v1/pools/shared/ledger')).body;
    const before = await ledgerView();

    const dir = join(tg.setup.dir, 'audit');
    const segment = readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort().at(-1)!;
    setFileSizeLimit(String(statSync(join(dir, segment)).size + 50));
    const refused = await step(1);
    expect(refused.status).toBe(503);
    expect((refused.body as { error: { code: string } }).error.code).toBe('TG_ERR_AUDIT_DOWN');
    setFileSizeLimit('unlimited');
    expect(await ledgerView()).toEqual(before);

    let answer = await step(2);
    for (let i = 0; i < 40 && answer.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      answer = await step(3 + i);
    }
    expect(answer.status).toBe(200);
    expect((answer.body as { results: Array<{ ok: boolean }> }).results.map((r) => r.ok)).toEqual([true, true, false]);
    expect((await tg.call(tg.operator, 'GET', '/v1/audit/verify')).body).toMatchObject({ ok: true });
  });
});
