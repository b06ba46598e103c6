import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { AuditRecord } from '../../src/audit/index.js';
import { auditRecords as readAuditRecords } from '../reliability/helpers.js';
import { restartTestSidecar, startTestSidecar, type TestSidecar } from '../support/sidecar.js';

/**
 * Issue 17.5: a worker that retries a state-changing call after a lost answer (a timeout) gets
 * the first answer again, and the change is made and recorded once. Same request = same tenant +
 * same request_id; the same id with another body while the first is live is a 409.
 */
type Allocated = { request_id: string; blocks: { id: number; scrub: boolean; epoch: number }[]; reclaimed: number[] };
const codeOf = (body: unknown): string | undefined => (body as { error?: { code?: string } }).error?.code;

let tg: TestSidecar;
beforeAll(async () => {
  tg = await startTestSidecar({ configPatch: (y) => `${y}admission:\n  capacity_slots: 512\n  max_queue_wait_ms: 0\n` });
});
afterAll(async () => tg.close());

const FAST = '/v1/blocks/allocate';
/** A query string keeps the call off the fast path (src/http/fast-blocks.ts): Express answers it. */
const EXPRESS = '/v1/blocks/allocate?via=express';
const allocate = (tenant: string, requestId: string, count: number, path = FAST) => tg.call(tg.worker, 'POST', path, { tenant, request_id: requestId, count });
const owned = async (t: TestSidecar, tenant: string): Promise<number> => ((await t.call(t.tenantKey(tenant), 'GET', '/v1/usage')).body as { blocks: { owned: number } }).blocks.owned;
/** The allowed records of `action` for one client id, found by its keyed digest (issue 20.6). */
const recordsFor = (t: TestSidecar, action: string, kind: 'request' | 'admission', tenant: string, requestId: string): AuditRecord[] => {
  const recorded = t.sidecar.services.audit.recordedId(kind, tenant, requestId);
  return readAuditRecords(join(t.setup.dir, 'audit')).filter((r) => r.action === action && r.decision === 'allow' && r.effects?.['request_id'] === recorded);
};

describe('POST /v1/blocks/allocate is idempotent per tenant and request_id (issue 17.5)', () => {
  test.each([
    ['fast path', FAST, FAST],
    ['Express', EXPRESS, EXPRESS],
    ['fast path, then a retry through Express', FAST, EXPRESS],
  ])('%s: a retry after a lost answer gets the same blocks, and the allocation is made and recorded once', async (_name, first, retry) => {
    const id = `lost-${first.length}-${retry.length}`;
    const before = await owned(tg, 'standard-demo');
    const a = await allocate('standard-demo', id, 4, first);
    expect(a.status).toBe(200);
    const b = await allocate('standard-demo', id, 4, retry);
    expect(b.status).toBe(200);
    expect(b.body).toEqual(a.body);
    expect(await owned(tg, 'standard-demo')).toBe(before + 4);
    expect(recordsFor(tg, 'blocks.allocate', 'request', 'standard-demo', id)).toHaveLength(1);
  });

  test('the same request_id with another count is 409 TG_ERR_IDEMPOTENCY_CONFLICT and allocates nothing', async () => {
    const a = await allocate('standard-demo', 'conflict-1', 2);
    expect(a.status).toBe(200);
    const before = await owned(tg, 'standard-demo');
    for (const path of [FAST, EXPRESS]) {
      const other = await allocate('standard-demo', 'conflict-1', 3, path);
      expect([path, other.status, codeOf(other.body)]).toEqual([path, 409, 'TG_ERR_IDEMPOTENCY_CONFLICT']);
    }
    expect(await owned(tg, 'standard-demo')).toBe(before);
    expect(recordsFor(tg, 'blocks.allocate', 'request', 'standard-demo', 'conflict-1')).toHaveLength(1);
  });

  test('the same request_id of another tenant is another request', async () => {
    const a = (await allocate('standard-demo', 'shared-name', 2)).body as Allocated;
    const b = (await allocate('free-demo', 'shared-name', 2)).body as Allocated;
    expect(b.blocks.map((x) => x.id).some((id) => a.blocks.some((y) => y.id === id))).toBe(false);
  });

  test('identical requests in flight at once: one allocation, every caller gets its answer', async () => {
    const before = await owned(tg, 'standard-demo');
    const answers = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => allocate('standard-demo', 'concurrent-1', 3, i % 2 === 0 ? FAST : EXPRESS)));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    for (const r of answers) expect(r.body).toEqual(answers[0]!.body);
    expect(await owned(tg, 'standard-demo')).toBe(before + 3);
    expect(recordsFor(tg, 'blocks.allocate', 'request', 'standard-demo', 'concurrent-1')).toHaveLength(1);
  });

  test('once the blocks are freed the id names nothing: the next allocation with it is a new one', async () => {
    const a = (await allocate('standard-demo', 'reused-1', 2)).body as Allocated;
    expect((await tg.call(tg.worker, 'POST', '/v1/blocks/free', { tenant: 'standard-demo', blocks: a.blocks.map((b) => b.id) })).status).toBe(200);
    const again = await allocate('standard-demo', 'reused-1', 2);
    expect(again.status).toBe(200);
    // Same tenant: its own dirty blocks come back first, but each under a new use epoch.
    const epochs = (again.body as Allocated).blocks.map((b) => b.epoch);
    expect(epochs).not.toEqual(a.blocks.map((b) => b.epoch));
    expect(recordsFor(tg, 'blocks.allocate', 'request', 'standard-demo', 'reused-1')).toHaveLength(2);
  });

  test('after a restart a retry still gets the same answer: the memory of allocations is rebuilt from the audit log', async () => {
    let t = await startTestSidecar();
    try {
      const first = await t.call(t.worker, 'POST', FAST, { tenant: 'free-demo', request_id: 'survives-restart', count: 5 });
      expect(first.status).toBe(200);
      t = await restartTestSidecar(t);
      const retry = await t.call(t.worker, 'POST', FAST, { tenant: 'free-demo', request_id: 'survives-restart', count: 5 });
      expect(retry.status).toBe(200);
      expect(retry.body).toEqual(first.body);
      expect(await owned(t, 'free-demo')).toBe(5);
      expect(recordsFor(t, 'blocks.allocate', 'request', 'free-demo', 'survives-restart')).toHaveLength(1);
      const conflict = await t.call(t.worker, 'POST', EXPRESS, { tenant: 'free-demo', request_id: 'survives-restart', count: 6 });
      expect([conflict.status, codeOf(conflict.body)]).toEqual([409, 'TG_ERR_IDEMPOTENCY_CONFLICT']);
    } finally {
      await t.close();
    }
  });
});

describe('POST /v1/admission is idempotent per tenant and request_id (issue 17.5)', () => {
  const admit = (tenant: string, id: string, maxTokens: number) => tg.call(tg.worker, 'POST', '/v1/admission', { tenant, request_id: id, max_tokens: maxTokens });
  const complete = (id: string) => tg.call(tg.worker, 'POST', `/v1/admission/${id}/complete`, { input_tokens: 1, output_tokens: 1 });
  const admittedCount = async (tenant: string): Promise<number> => (await tg.sidecar.services.metrics.tenantView(tenant)).requests;

  test('a retry of an admitted request gets the same answer, is admitted and recorded once, and holds no second slot', async () => {
    const requestsBefore = await admittedCount('free-demo');
    const a = await admit('free-demo', 'adm-lost', 100);
    expect(a.status).toBe(200);
    const b = await admit('free-demo', 'adm-lost', 100);
    expect(b.status).toBe(200);
    expect(b.body).toEqual(a.body);
    expect(await admittedCount('free-demo')).toBe(requestsBefore + 1);
    expect(recordsFor(tg, 'admission.request', 'admission', 'free-demo', 'adm-lost')).toHaveLength(1);
    // The free tier admits 4 at once: 3 more fit, so the retry took no slot.
    for (const id of ['adm-f1', 'adm-f2', 'adm-f3']) expect((await admit('free-demo', id, 10)).status).toBe(200);
    // At the concurrency limit a retry is still answered, not refused as a fifth request.
    expect((await admit('free-demo', 'adm-lost', 100)).status).toBe(200);
    expect((await admit('free-demo', 'adm-f4', 10)).status).toBe(429);
    for (const id of ['adm-lost', 'adm-f1', 'adm-f2', 'adm-f3']) expect((await complete(id)).status).toBe(200);
  });

  test('the same request_id with another max_tokens is 409 TG_ERR_IDEMPOTENCY_CONFLICT and charges nothing', async () => {
    expect((await admit('standard-demo', 'adm-conflict', 50)).status).toBe(200);
    const other = await admit('standard-demo', 'adm-conflict', 60);
    expect([other.status, codeOf(other.body)]).toEqual([409, 'TG_ERR_IDEMPOTENCY_CONFLICT']);
    expect(recordsFor(tg, 'admission.request', 'admission', 'standard-demo', 'adm-conflict')).toHaveLength(1);
    expect((await complete('adm-conflict')).status).toBe(200);
  });

  test('identical admissions in flight at once: admitted and recorded once', async () => {
    const answers = await Promise.all([0, 1, 2, 3].map(() => admit('standard-demo', 'adm-concurrent', 70)));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    for (const r of answers) expect(r.body).toEqual(answers[0]!.body);
    expect(recordsFor(tg, 'admission.request', 'admission', 'standard-demo', 'adm-concurrent')).toHaveLength(1);
    expect((await complete('adm-concurrent')).status).toBe(200);
    // Completed: the id is free again, and a second completion finds nothing.
    expect((await complete('adm-concurrent')).status).toBe(404);
  });
});
