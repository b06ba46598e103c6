import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestSidecar, type TestSidecar } from '../support/sidecar.js';

let tg: TestSidecar;
beforeAll(async () => {
  // Worker capacity larger than any tier's concurrency, no queueing: limits show up directly.
  tg = await startTestSidecar({ configPatch: (y) => `${y}admission:\n  capacity_slots: 512\n  max_queue_wait_ms: 0\n` });
});
afterAll(async () => tg.close());

let seq = 0;
const admit = (tenant: string, maxTokens: number, id = `adm-${seq++}`) => tg.call(tg.worker, 'POST', '/v1/admission', { tenant, request_id: id, max_tokens: maxTokens });
const complete = (id: string, input: number, output: number) => tg.call(tg.worker, 'POST', `/v1/admission/${id}/complete`, { input_tokens: input, output_tokens: output });
const errorOf = (body: unknown) => (body as { error: { code: string; reasons: string[] } }).error;

describe('admission rate limits per tier', () => {
  test('the free tier admits 4 concurrent requests; the 5th is 429 concurrent_limit with Retry-After', async () => {
    const ids = ['c1', 'c2', 'c3', 'c4'];
    for (const id of ids) expect((await admit('free-demo', 10, id)).status).toBe(200);
    const fifth = await admit('free-demo', 10, 'c5');
    expect(fifth.status).toBe(429);
    expect(errorOf(fifth.body)).toMatchObject({ code: 'TG_ERR_CONCURRENCY_LIMIT', reasons: ['concurrent_limit'] });
    expect(Number(fifth.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // The standard tier is not limited by the free tier's in-flight requests.
    expect((await admit('standard-demo', 10)).status).toBe(200);
    for (const id of ids) expect((await complete(id, 1, 1)).status).toBe(200);
    expect((await admit('free-demo', 10, 'c5')).status).toBe(200);
    await complete('c5', 1, 1);
  });

  test('tokens per minute: an estimate over the window is 429 token_limit; completion corrects the charge', async () => {
    // free tier: 10,000 tokens/min; about 40 tokens are charged by the test above.
    expect((await admit('free-demo', 9000, 'big')).status).toBe(200);
    const refused = await admit('free-demo', 2000, 'too-much');
    expect(refused.status).toBe(429);
    expect(errorOf(refused.body)).toMatchObject({ code: 'TG_ERR_TOKEN_LIMIT', reasons: ['token_limit'] });
    expect(refused.headers['retry-after']).toBeDefined();
    // The request used only 500 of its 9,000-token estimate: 8,500 go back to the window.
    const done = await complete('big', 300, 200);
    expect(done.body).toMatchObject({ used_tokens: 500, estimated_tokens: 9000 });
    expect((await admit('free-demo', 2000, 'fits-now')).status).toBe(200);
    await complete('fits-now', 1, 1);
  });

  test('a live request id is a retry for its tenant (issue 17.5) and refused for another; an unknown one cannot be completed', async () => {
    const first = await admit('standard-demo', 5, 'dup');
    expect(first.status).toBe(200);
    const again = await admit('standard-demo', 5, 'dup');
    expect([again.status, again.body]).toEqual([200, first.body]);
    const other = await admit('free-demo', 5, 'dup');
    expect([other.status, errorOf(other.body).code]).toEqual([409, 'TG_ERR_DUPLICATE_REQUEST']);
    await complete('dup', 1, 1);
    expect((await complete('never-admitted', 1, 1)).status).toBe(404);
  });

  test('admission is a worker route', async () => {
    expect((await tg.call(tg.tenantKey('free-demo'), 'POST', '/v1/admission', { tenant: 'free-demo', request_id: 'x', max_tokens: 1 })).status).toBe(403);
  });
});

describe('tenant-scoped metrics (M1)', () => {
  // Distinct figures per tenant, so any leak of one tenant's numbers into another's view shows.
  const planted = { 'free-demo': { requests: 3, input: 111, output: 7 }, 'standard-demo': { requests: 5, input: 2222, output: 13 } } as const;
  type View = { requests: number; tokens: { input: number; output: number } };
  const baseline: Record<string, View> = {};
  const viewOf = async (tenant: string): Promise<View> => (await tg.call(tg.operator, 'GET', `/v1/metrics/tenants/${tenant}`)).body as View;

  beforeAll(async () => {
    for (const tenant of Object.keys(planted)) baseline[tenant] = await viewOf(tenant);
    for (const [tenant, p] of Object.entries(planted)) {
      for (let i = 0; i < p.requests; i++) {
        const id = `m-${tenant}-${i}`;
        expect((await admit(tenant, 100, id)).status).toBe(200);
        expect((await complete(id, i === 0 ? p.input : 0, i === 0 ? p.output : 0)).status).toBe(200);
      }
    }
  });

  test('a tenant sees only its own figures and nothing that names another tenant', async () => {
    for (const [tenant, p] of Object.entries(planted)) {
      const credential = tenant === 'free-demo' ? tg.tenantKey(tenant) : tg.tenantCert(tenant);
      const res = await tg.call(credential, 'GET', '/v1/metrics');
      expect(res.status).toBe(200);
      const view = res.body as View;
      const base = baseline[tenant]!;
      // Exactly its own planted figures: another tenant's would change these sums.
      expect([view.requests - base.requests, view.tokens.input - base.tokens.input, view.tokens.output - base.tokens.output]).toEqual([p.requests, p.input, p.output]);
      const text = JSON.stringify(res.body);
      for (const other of ['free-demo', 'standard-demo', 'enterprise-demo'].filter((t) => t !== tenant)) expect(text).not.toContain(other);
      expect(text).not.toMatch(/prefix_cache_hits_global|cluster/);
    }
  });

  test('tenants and workers get 403 on operator metrics views', async () => {
    for (const path of ['/metrics', '/v1/metrics/tenants/free-demo']) {
      expect((await tg.call(tg.tenantKey('free-demo'), 'GET', path)).status).toBe(403);
      expect((await tg.call(tg.worker, 'GET', path)).status).toBe(403);
    }
    expect((await tg.call(tg.worker, 'GET', '/v1/metrics')).status).toBe(403);
  });

  test('operators get the aggregate, a per-tenant view and Prometheus text that parses', async () => {
    const aggregate = (await tg.call(tg.operator, 'GET', '/v1/metrics')).body as { tenants: { tenant: string }[] };
    expect(aggregate.tenants.map((t) => t.tenant).sort()).toEqual(['enterprise-demo', 'free-demo', 'standard-demo']);
    const one = (await viewOf('standard-demo')) as View & { tenant: string };
    expect(one.tenant).toBe('standard-demo');
    expect(one.tokens.input - baseline['standard-demo']!.tokens.input).toBe(2222);
    const prom = await tg.call(tg.operator, 'GET', '/metrics');
    expect(prom.status).toBe(200);
    const lines = String(prom.body).split('\n').filter((l) => l && !l.startsWith('#'));
    expect(lines.length).toBeGreaterThan(10);
    for (const line of lines) expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.e+-]+|NaN|[+-]Inf$/);
    expect(String(prom.body)).toContain(`tenantguard_tokens_total{tenant="standard-demo",direction="input"} ${one.tokens.input}`);
  });
});
