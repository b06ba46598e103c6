import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ComponentOverrides } from '../../src/sidecar/index.js';
import { startTestSidecar, type TestSidecar } from '../support/sidecar.js';

/**
 * Issue 17.4: Retry-After is exact for the token window, and a request that can never succeed is
 * refused as such (422, no Retry-After, `retryable: false`) instead of being told to come back in
 * a second. Real sidecars over mTLS; the admission clock is a hand-moved one, so "exact" can be
 * checked to the millisecond without waiting a minute.
 */
type ErrorBody = { error: { code: string; reasons?: string[]; retryable?: boolean; retry_after_seconds?: number; retry_after_ms?: number; [k: string]: unknown } };
const errorOf = (body: unknown) => (body as ErrorBody).error;

let now = 1_000_000;
const clock = { now: () => now };

let tg: TestSidecar;
beforeAll(async () => {
  // Capacity above every tier's concurrency and no queueing: only the tier limits answer.
  const overrides = { admissionClock: clock } as ComponentOverrides;
  tg = await startTestSidecar({ configPatch: (y) => `${y}admission:\n  capacity_slots: 512\n  max_queue_wait_ms: 0\n`, overrides });
});
afterAll(async () => tg.close());

let seq = 0;
const admit = (tenant: string, maxTokens: number, id = `ra-${seq++}`) => tg.call(tg.worker, 'POST', '/v1/admission', { tenant, request_id: id, max_tokens: maxTokens });
const complete = (id: string, used = 0) => tg.call(tg.worker, 'POST', `/v1/admission/${id}/complete`, { input_tokens: used, output_tokens: 0 });
const allocate = (tenant: string, count: number, path = '/v1/blocks/allocate') => tg.call(tg.worker, 'POST', path, { tenant, request_id: `ra-blocks-${seq++}`, count });
const free = (tenant: string, blocks: number[]) => tg.call(tg.worker, 'POST', '/v1/blocks/free', { tenant, blocks });

describe('requests that can never succeed are refused without Retry-After (issue 17.4)', () => {
  test('a 20,000-token request against a 10,000/min limit is 422 TG_ERR_MAX_TOKENS_OVER_LIMIT, retryable false, no Retry-After, and charges nothing', async () => {
    const res = await admit('free-demo', 20_000);
    expect(res.status).toBe(422);
    expect(res.headers['retry-after']).toBeUndefined();
    expect(errorOf(res.body)).toMatchObject({ code: 'TG_ERR_MAX_TOKENS_OVER_LIMIT', retryable: false, limit: 10_000, requested: 20_000 });
    expect(errorOf(res.body).retry_after_seconds).toBeUndefined();
    // Nothing was charged: the whole limit is still there.
    const fits = await admit('free-demo', 10_000, 'ra-full');
    expect(fits.status).toBe(200);
    expect((await complete('ra-full')).status).toBe(200);
    now += 60_000; // the full charge leaves the window
  });

  test('a 600-block allocation against a 512-block quota is 422 TG_ERR_COUNT_OVER_LIMIT (count_over_quota), retryable false, no Retry-After, on both dispatchers', async () => {
    // Fast path (plain JSON POST) and Express (the query string keeps it off the fast path).
    for (const path of ['/v1/blocks/allocate', '/v1/blocks/allocate?via=express']) {
      const res = await allocate('free-demo', 600, path);
      expect([path, res.status]).toEqual([path, 422]);
      expect(res.headers['retry-after']).toBeUndefined();
      expect(errorOf(res.body)).toMatchObject({ code: 'TG_ERR_COUNT_OVER_LIMIT', reasons: ['count_over_quota'], retryable: false, quota_blocks: 512, requested: 600 });
    }
    const usage = await tg.call(tg.tenantKey('free-demo'), 'GET', '/v1/usage');
    expect((usage.body as { blocks: { owned: number } }).blocks.owned).toBe(0);
  });
});

describe('a retryable refusal sends the exact wait, or says what it sends (issue 17.4)', () => {
  test('token limit: Retry-After is the time until enough tokens leave the 60 s window; a retry 1 ms earlier is refused, one on time is admitted', async () => {
    const start = now;
    expect((await admit('free-demo', 6_000, 'ra-a')).status).toBe(200); // charged at start
    now = start + 15_000;
    const refused = await admit('free-demo', 6_000);
    expect(refused.status).toBe(429);
    expect(errorOf(refused.body)).toMatchObject({ code: 'TG_ERR_TOKEN_LIMIT', retry_after_ms: 45_000, retry_after_seconds: 45 });
    expect(refused.headers['retry-after']).toBe('45');
    // Completion corrects the charge at its original time: a real use of 5,000 leaves 5,000 in the
    // window until start + 60 s, so 6,000 more still wait exactly as long.
    expect((await complete('ra-a', 5_000)).status).toBe(200);
    const later = await admit('free-demo', 6_000);
    expect([later.status, later.headers['retry-after']]).toEqual([429, '45']);
    now = start + 59_999;
    const early = await admit('free-demo', 6_000);
    expect(early.status).toBe(429);
    expect(errorOf(early.body)).toMatchObject({ retry_after_ms: 1, retry_after_seconds: 1 });
    now = start + 60_000;
    const onTime = await admit('free-demo', 6_000, 'ra-b');
    expect(onTime.status).toBe(200);
    expect((await complete('ra-b')).status).toBe(200);
    now += 60_000;
  });

  test('token limit with several charges: the wait is until as many charges as needed have left, not the oldest one', async () => {
    const start = now;
    expect((await admit('free-demo', 3_000, 'ra-c1')).status).toBe(200);
    now = start + 10_000;
    expect((await admit('free-demo', 3_000, 'ra-c2')).status).toBe(200);
    now = start + 20_000;
    expect((await admit('free-demo', 3_000, 'ra-c3')).status).toBe(200);
    now = start + 30_000;
    // 9,000 in the window; 7,000 more needs 6,000 gone: c1 (at 60 s) and c2 (at 70 s).
    const refused = await admit('free-demo', 7_000);
    expect(errorOf(refused.body)).toMatchObject({ code: 'TG_ERR_TOKEN_LIMIT', retry_after_ms: 40_000 });
    expect(refused.headers['retry-after']).toBe('40');
    now = start + 70_000;
    expect((await admit('free-demo', 7_000, 'ra-c4')).status).toBe(200);
    for (const id of ['ra-c1', 'ra-c2', 'ra-c3', 'ra-c4']) await complete(id);
    now += 60_000;
  });

  test('KV quota: 429 TG_ERR_QUOTA with Retry-After 1 as a poll interval (blocks come back only when the tenant frees them, which the sidecar cannot foresee)', async () => {
    const held = await allocate('free-demo', 500);
    expect(held.status).toBe(200);
    const over = await allocate('free-demo', 20);
    expect(over.status).toBe(429);
    expect(errorOf(over.body)).toMatchObject({ code: 'TG_ERR_QUOTA', reasons: ['quota_exceeded'], quota_blocks: 512, owned: 500, requested: 20, retry_after_seconds: 1 });
    expect(errorOf(over.body).retryable).toBeUndefined();
    expect(over.headers['retry-after']).toBe('1');
    expect((await free('free-demo', (held.body as { blocks: { id: number }[] }).blocks.map((b) => b.id))).status).toBe(200);
    expect((await allocate('free-demo', 20)).status).toBe(200);
  });
});

describe('an allocation larger than the tenant\'s pool can never succeed either (issue 17.4)', () => {
  let small: TestSidecar;
  beforeAll(async () => {
    // The enterprise tenant's dedicated pool shrunk to 8 blocks (its quota stays 40,960).
    small = await startTestSidecar({ configPatch: (y) => y.replace(/first: 16384\n(\s+)last: 24575/, 'first: 16384\n$1last: 16391') });
  });
  afterAll(async () => small.close());

  test('9 blocks from an 8-block pool is 422 TG_ERR_COUNT_OVER_LIMIT (count_over_pool) without Retry-After; 8 while the pool is in use is a retryable 429 TG_ERR_POOL_EXHAUSTED', async () => {
    const call = (count: number, id: string) => small.call(small.worker, 'POST', '/v1/blocks/allocate', { tenant: 'enterprise-demo', request_id: id, count });
    const never = await call(9, 'p-9');
    expect(never.status).toBe(422);
    expect(never.headers['retry-after']).toBeUndefined();
    expect(errorOf(never.body)).toMatchObject({ code: 'TG_ERR_COUNT_OVER_LIMIT', reasons: ['count_over_pool'], retryable: false, requested: 9 });
    expect((await call(1, 'p-1')).status).toBe(200);
    const busy = await call(8, 'p-8');
    expect(busy.status).toBe(429);
    expect(errorOf(busy.body).code).toBe('TG_ERR_POOL_EXHAUSTED');
    expect(busy.headers['retry-after']).toBe('1');
  });
});
