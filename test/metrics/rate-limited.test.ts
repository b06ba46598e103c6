import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestSidecar, type TestSidecar } from '../support/sidecar.js';

/**
 * Issue 17.9b: `tenantguard_rate_limited_total` counts what its HELP text says — admission
 * refusals by a rate limit (concurrency, tokens per minute, queue timeout) — and nothing else.
 * A KV quota refusal is a holding limit, not a rate: it is counted under
 * `tenantguard_rejections_total{reason="quota_exceeded"}` only.
 */
let tg: TestSidecar;
beforeAll(async () => {
  tg = await startTestSidecar({ configPatch: (y) => `${y}admission:\n  capacity_slots: 512\n  max_queue_wait_ms: 0\n` });
});
afterAll(async () => tg.close());

const scrape = async (): Promise<string> => String((await tg.call(tg.operator, 'GET', '/metrics')).body);
const sample = (text: string, series: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
};
const RATE_LIMITED = 'tenantguard_rate_limited_total{tenant="free-demo"}';
const QUOTA = 'tenantguard_rejections_total{tenant="free-demo",reason="quota_exceeded"}';

describe('tenantguard_rate_limited_total and its HELP text agree (issue 17.9b)', () => {
  test('the HELP text names the rate limits it counts and says quota refusals are not among them', async () => {
    const help = (await scrape()).split('\n').find((l) => l.startsWith('# HELP tenantguard_rate_limited_total '));
    expect(help).toBeDefined();
    expect(help).toMatch(/concurrency/);
    expect(help).toMatch(/tokens per minute/);
    expect(help).toMatch(/queue timeout/);
    expect(help).toMatch(/not .*quota/i);
  });

  test('a KV quota refusal counts as a quota rejection, not as rate limited; a token-limit refusal counts as rate limited', async () => {
    const before = await scrape();
    const held = await tg.call(tg.worker, 'POST', '/v1/blocks/allocate', { tenant: 'free-demo', request_id: 'm-hold', count: 510 });
    expect(held.status).toBe(200);
    const over = await tg.call(tg.worker, 'POST', '/v1/blocks/allocate', { tenant: 'free-demo', request_id: 'm-over', count: 5 });
    expect(over.status).toBe(429);
    const afterQuota = await scrape();
    expect(sample(afterQuota, QUOTA) - sample(before, QUOTA)).toBe(1);
    expect(sample(afterQuota, RATE_LIMITED) - sample(before, RATE_LIMITED)).toBe(0);

    expect((await tg.call(tg.worker, 'POST', '/v1/admission', { tenant: 'free-demo', request_id: 'm-a', max_tokens: 9_000 })).status).toBe(200);
    expect((await tg.call(tg.worker, 'POST', '/v1/admission', { tenant: 'free-demo', request_id: 'm-b', max_tokens: 2_000 })).status).toBe(429);
    const afterTokens = await scrape();
    expect(sample(afterTokens, RATE_LIMITED) - sample(afterQuota, RATE_LIMITED)).toBe(1);
    // The tenant's JSON view reads the same counter.
    const view = (await tg.call(tg.tenantKey('free-demo'), 'GET', '/v1/metrics')).body as { rate_limited: number };
    expect(view.rate_limited).toBe(sample(afterTokens, RATE_LIMITED));
  });
});
