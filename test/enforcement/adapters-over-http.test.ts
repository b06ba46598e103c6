import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { AuditRecord } from '../../src/audit/index.js';
import { TIERS } from '../../src/config/index.js';
import { restartTestSidecar, startTestSidecar, type TestSidecar } from '../support/sidecar.js';

let tg: TestSidecar;
beforeAll(async () => {
  tg = await startTestSidecar();
});
afterAll(async () => tg.close());

const digest = (s: string): string => createHash('sha256').update(s).digest('hex');
const PRIVATE = digest('free-demo private adapter weights');
const SHARED = digest('standard-demo public adapter weights');

type Apply = { results: { request_id: string; allow: boolean; reasons: string[] }[]; groups: { adapter_id: string; request_ids: string[] }[] };
const apply = async (batch: unknown[]): Promise<Apply> => {
  const res = await tg.call(tg.worker, 'POST', '/v1/adapters/apply', { batch });
  expect(res.status).toBe(200);
  return res.body as Apply;
};

describe('LoRA adapter isolation (A1)', () => {
  beforeAll(async () => {
    expect((await tg.call(tg.tenantKey('free-demo'), 'POST', '/v1/adapters', { adapter_id: 'free-private', sha256: PRIVATE, rank: 16 })).status).toBe(201);
    expect((await tg.call(tg.tenantKey('standard-demo'), 'POST', '/v1/adapters', { adapter_id: 'shared-style', sha256: SHARED, rank: 8, public: true })).status).toBe(201);
  });

  test('an adapter is applied to its owner\'s requests', async () => {
    const out = await apply([{ request_id: 'r1', tenant: 'free-demo', adapter_id: 'free-private', sha256: PRIVATE }]);
    expect(out.results).toEqual([{ request_id: 'r1', allow: true, reasons: [] }]);
  });

  test('another tenant applying a private adapter by its owner-qualified id is denied and logged as a critical violation', async () => {
    const out = await apply([{ request_id: 'r2', tenant: 'standard-demo', adapter_id: 'free-demo/free-private', sha256: PRIVATE }]);
    expect(out.results[0]).toEqual({ request_id: 'r2', allow: false, reasons: ['adapter_not_permitted'] });
    expect(out.groups).toEqual([]);
    const dir = join(tg.setup.dir, 'audit');
    const records = readdirSync(dir).filter((f) => f.endsWith('.jsonl')).flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean)).map((l) => JSON.parse(l) as AuditRecord);
    expect(records.some((r) => r.action === 'adapters.apply' && r.type === 'violation' && r.severity === 'critical')).toBe(true);
  });

  test('a public adapter may be applied to any tenant\'s request under its owner-qualified id', async () => {
    const out = await apply([{ request_id: 'r3', tenant: 'free-demo', adapter_id: 'standard-demo/shared-style', sha256: SHARED }]);
    expect(out.results[0]!.allow).toBe(true);
  });

  test('a digest that differs from the registered one is denied', async () => {
    const out = await apply([{ request_id: 'r4', tenant: 'free-demo', adapter_id: 'free-private', sha256: digest('tampered weights') }]);
    expect(out.results[0]).toMatchObject({ allow: false, reasons: ['digest_mismatch'] });
  });

  test('allowed items are grouped by adapter, refused ones left out', async () => {
    const out = await apply([
      { request_id: 'a', tenant: 'free-demo', adapter_id: 'free-private', sha256: PRIVATE },
      { request_id: 'b', tenant: 'standard-demo', adapter_id: 'shared-style', sha256: SHARED },
      { request_id: 'c', tenant: 'free-demo', adapter_id: 'free-private', sha256: PRIVATE },
      { request_id: 'd', tenant: 'standard-demo', adapter_id: 'free-demo/free-private', sha256: PRIVATE },
      { request_id: 'e', tenant: 'free-demo', adapter_id: 'standard-demo/shared-style', sha256: SHARED },
      { request_id: 'f', tenant: 'free-demo', adapter_id: 'no-such-adapter', sha256: PRIVATE },
    ]);
    expect(out.results.map((r) => r.allow)).toEqual([true, true, true, false, true, false]);
    expect(out.groups).toEqual([
      { adapter_id: 'free-demo/free-private', request_ids: ['a', 'c'] },
      { adapter_id: 'standard-demo/shared-style', request_ids: ['b', 'e'] },
    ]);
  });

  test('registration is refused for workers and for an absurd rank', async () => {
    expect((await tg.call(tg.worker, 'POST', '/v1/adapters', { adapter_id: 'x', sha256: PRIVATE, rank: 8 })).status).toBe(403);
    const res = await tg.call(tg.tenantKey('free-demo'), 'POST', '/v1/adapters', { adapter_id: 'huge', sha256: PRIVATE, rank: 100000 });
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ error: { reasons: ['rank_invalid'] } });
  });

  test('a tenant may not ask the worker route to apply adapters', async () => {
    expect((await tg.call(tg.tenantKey('free-demo'), 'POST', '/v1/adapters/apply', { batch: [] })).status).toBe(403);
  });
});

/**
 * Issue 20.5: adapter ids were one global namespace. A 409 told tenant B that tenant A had an
 * adapter of that name, a tenant could squat names (also as public), and nothing bounded how many
 * adapters a tenant registered (5,000 from a free-tier key, all replayed at every start).
 */
describe('adapter ids are per tenant, public adapters are owner-qualified, and each tier has a cap (issue 20.5)', () => {
  let ns: TestSidecar;
  beforeAll(async () => {
    ns = await startTestSidecar();
  });
  afterAll(async () => ns.close());

  const A = 'free-demo';
  const B = 'standard-demo';
  const A_WEIGHTS = digest('tenant A weights for x');
  const B_WEIGHTS = digest('tenant B weights for x');
  const register = (tenant: string, body: Record<string, unknown>) => ns.call(ns.tenantKey(tenant), 'POST', '/v1/adapters', { rank: 8, ...body });
  const applyOn = async (batch: unknown[]): Promise<Apply> => {
    const res = await ns.call(ns.worker, 'POST', '/v1/adapters/apply', { batch });
    expect(res.status).toBe(200);
    return res.body as Apply;
  };
  /** B's verdicts for a request naming `name` with A's weights and with its own. */
  const verdictsForB = async (name: string): Promise<unknown> =>
    (
      await applyOn([
        { request_id: 'with-a-weights', tenant: B, adapter_id: name, sha256: A_WEIGHTS },
        { request_id: 'with-b-weights', tenant: B, adapter_id: name, sha256: B_WEIGHTS },
      ])
    ).results;

  test('tenant B registering a name tenant A holds gets the same 201 as for a fresh name, not a 409 oracle', async () => {
    expect((await register(A, { adapter_id: 'taken-by-a', sha256: A_WEIGHTS })).status).toBe(201);
    const taken = await register(B, { adapter_id: 'taken-by-a', sha256: B_WEIGHTS });
    const fresh = await register(B, { adapter_id: 'fresh-for-b', sha256: B_WEIGHTS });
    expect([taken.status, fresh.status]).toEqual([201, 201]);
    expect(Object.keys(taken.body as object).sort()).toEqual(Object.keys(fresh.body as object).sort());
  });

  test('no apply verdict for tenant B depends on whether tenant A has the adapter, by bare or owner-qualified name', async () => {
    const bareBefore = await verdictsForB('probe-x');
    expect((await register(A, { adapter_id: 'probe-x', sha256: A_WEIGHTS })).status).toBe(201);
    expect(await verdictsForB('probe-x')).toEqual(bareBefore);
    const qualifiedBefore = await verdictsForB(`${A}/probe-y`);
    expect((await register(A, { adapter_id: 'probe-y', sha256: A_WEIGHTS })).status).toBe(201);
    expect(await verdictsForB(`${A}/probe-y`)).toEqual(qualifiedBefore);
    // Nor on whether the owner named is a tenant at all.
    expect(await verdictsForB('no-such-tenant/probe-y')).toEqual(qualifiedBefore);
  });

  test('tenant A\'s "x" and tenant B\'s "x" are different adapters: each request gets its own tenant\'s, and B cannot apply A\'s private one by name', async () => {
    expect((await register(A, { adapter_id: 'x', sha256: A_WEIGHTS })).status).toBe(201);
    expect((await register(B, { adapter_id: 'x', sha256: B_WEIGHTS })).status).toBe(201);
    const out = await applyOn([
      { request_id: 'a-own', tenant: A, adapter_id: 'x', sha256: A_WEIGHTS },
      { request_id: 'b-own', tenant: B, adapter_id: 'x', sha256: B_WEIGHTS },
      { request_id: 'b-takes-a-bare', tenant: B, adapter_id: 'x', sha256: A_WEIGHTS },
      { request_id: 'b-takes-a-qualified', tenant: B, adapter_id: `${A}/x`, sha256: A_WEIGHTS },
      { request_id: 'a-own-qualified', tenant: A, adapter_id: `${A}/x`, sha256: A_WEIGHTS },
    ]);
    expect(out.results).toEqual([
      { request_id: 'a-own', allow: true, reasons: [] },
      { request_id: 'b-own', allow: true, reasons: [] },
      // B's own "x" has other weights: A's weights under B's name are a digest mismatch, not A's adapter.
      { request_id: 'b-takes-a-bare', allow: false, reasons: ['digest_mismatch'] },
      { request_id: 'b-takes-a-qualified', allow: false, reasons: ['adapter_not_permitted'] },
      { request_id: 'a-own-qualified', allow: true, reasons: [] },
    ]);
    // Groups name the adapter that runs, owner-qualified: the two "x" are never batched together.
    expect(out.groups).toEqual([
      { adapter_id: `${A}/x`, request_ids: ['a-own', 'a-own-qualified'] },
      { adapter_id: `${B}/x`, request_ids: ['b-own'] },
    ]);
  });

  test('a public adapter is shared only under its owner-qualified id, so a public registration squats no name of anyone else', async () => {
    const res = await register(B, { adapter_id: 'style', sha256: B_WEIGHTS, public: true });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ adapter_id: 'style', qualified_id: `${B}/style` });
    expect((await register(A, { adapter_id: 'style', sha256: A_WEIGHTS })).status).toBe(201);
    const out = await applyOn([
      { request_id: 'shared', tenant: A, adapter_id: `${B}/style`, sha256: B_WEIGHTS },
      { request_id: 'own', tenant: A, adapter_id: 'style', sha256: A_WEIGHTS },
      { request_id: 'bare-public', tenant: A, adapter_id: 'style', sha256: B_WEIGHTS },
    ]);
    expect(out.results.map((r) => [r.request_id, r.allow, r.reasons])).toEqual([
      ['shared', true, []],
      ['own', true, []],
      ['bare-public', false, ['digest_mismatch']],
    ]);
  });

  test('a free-tier tenant cannot register more adapters than its tier allows (429 TG_ERR_ADAPTER_LIMIT); replacing one it has still works', async () => {
    const cap = TIERS.free.maxAdapters;
    expect(cap).toBeGreaterThan(0);
    const tenant = 'free-demo';
    const have = (await registeredCount(ns, tenant));
    for (let i = have; i < cap; i++) expect((await register(tenant, { adapter_id: `cap-${i}`, sha256: A_WEIGHTS, public: i % 2 === 0 })).status).toBe(201);
    for (const isPublic of [false, true]) {
      const over = await register(tenant, { adapter_id: `cap-over-${String(isPublic)}`, sha256: A_WEIGHTS, public: isPublic });
      expect(over.status).toBe(429);
      expect(over.body).toMatchObject({ error: { code: 'TG_ERR_ADAPTER_LIMIT', reasons: ['adapter_limit'] } });
    }
    // Re-registering an id the tenant holds replaces its digest and takes no new slot.
    expect((await register(tenant, { adapter_id: 'x', sha256: B_WEIGHTS })).status).toBe(201);
    const out = await applyOn([
      { request_id: 'replaced', tenant, adapter_id: 'x', sha256: B_WEIGHTS },
      { request_id: 'refused', tenant, adapter_id: 'cap-over-false', sha256: A_WEIGHTS },
    ]);
    expect(out.results.map((r) => r.allow)).toEqual([true, false]);
  });
});

/** How many adapters a tenant holds, from the audit log the test sidecar writes (allowed registrations of distinct ids). */
async function registeredCount(sidecar: TestSidecar, tenant: string): Promise<number> {
  const dir = join(sidecar.setup.dir, 'audit');
  const records = readdirSync(dir).filter((f) => f.endsWith('.jsonl')).flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean)).map((l) => JSON.parse(l) as AuditRecord);
  return new Set(records.filter((r) => r.action === 'adapters.register' && r.decision === 'allow' && r.tenant === tenant).map((r) => r.effects?.['adapter_id'])).size;
}

describe('replay at start respects the tier cap on adapters (issue 20.5)', () => {
  let rs: TestSidecar;
  afterAll(async () => rs?.close());

  test('a log holding more registrations than the tenant\'s tier now allows restores only the first ones, in log order, and new ones stay refused', async () => {
    rs = await startTestSidecar();
    const cap = TIERS.free.maxAdapters;
    const tenant = 'standard-demo';
    const sha = digest('replayed weights');
    // Registered while standard-demo was on the standard tier (a bigger cap) ...
    for (let i = 0; i < cap + 3; i++) {
      expect((await rs.call(rs.tenantKey(tenant), 'POST', '/v1/adapters', { adapter_id: `r-${i}`, sha256: sha, rank: 4 })).status).toBe(201);
    }
    // ... then the operator moves it to the free tier and restarts.
    await rs.close();
    const configFile = rs.setup.configFile;
    const yaml = readFileSync(configFile, 'utf8');
    const moved = yaml.replace(/(id: standard-demo\n\s+tier: )standard/, '$1free');
    expect(moved).not.toBe(yaml);
    writeFileSync(configFile, moved);
    rs = await restartTestSidecar(rs);
    const batch = Array.from({ length: cap + 3 }, (_, i) => ({ request_id: `q-${i}`, tenant, adapter_id: `r-${i}`, sha256: sha }));
    const res = await rs.call(rs.worker, 'POST', '/v1/adapters/apply', { batch });
    expect(res.status).toBe(200);
    const allowed = (res.body as Apply).results.map((r) => r.allow);
    expect(allowed).toEqual(Array.from({ length: cap + 3 }, (_, i) => i < cap));
    const over = await rs.call(rs.tenantKey(tenant), 'POST', '/v1/adapters', { adapter_id: 'r-new', sha256: sha, rank: 4 });
    expect(over.status).toBe(429);
    // An id restored within the cap can still be replaced.
    expect((await rs.call(rs.tenantKey(tenant), 'POST', '/v1/adapters', { adapter_id: 'r-0', sha256: digest('new weights'), rank: 4 })).status).toBe(201);
  });
});
