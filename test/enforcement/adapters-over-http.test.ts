import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { AuditRecord } from '../../src/audit/index.js';
import { startTestSidecar, type TestSidecar } from '../support/sidecar.js';

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

  test('another tenant applying a private adapter is denied and logged as a critical violation', async () => {
    const out = await apply([{ request_id: 'r2', tenant: 'standard-demo', adapter_id: 'free-private', sha256: PRIVATE }]);
    expect(out.results[0]).toEqual({ request_id: 'r2', allow: false, reasons: ['adapter_not_permitted'] });
    expect(out.groups).toEqual([]);
    const dir = join(tg.setup.dir, 'audit');
    const records = readdirSync(dir).filter((f) => f.endsWith('.jsonl')).flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean)).map((l) => JSON.parse(l) as AuditRecord);
    expect(records.some((r) => r.action === 'adapters.apply' && r.type === 'violation' && r.severity === 'critical')).toBe(true);
  });

  test('a public adapter may be applied to any tenant\'s request', async () => {
    const out = await apply([{ request_id: 'r3', tenant: 'free-demo', adapter_id: 'shared-style', sha256: SHARED }]);
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
      { request_id: 'd', tenant: 'standard-demo', adapter_id: 'free-private', sha256: PRIVATE },
      { request_id: 'e', tenant: 'free-demo', adapter_id: 'shared-style', sha256: SHARED },
      { request_id: 'f', tenant: 'free-demo', adapter_id: 'no-such-adapter', sha256: PRIVATE },
    ]);
    expect(out.results.map((r) => r.allow)).toEqual([true, true, true, false, true, false]);
    expect(out.groups).toEqual([
      { adapter_id: 'free-private', request_ids: ['a', 'c'] },
      { adapter_id: 'shared-style', request_ids: ['b', 'e'] },
    ]);
  });

  test('an adapter id taken by another tenant cannot be registered over', async () => {
    const res = await tg.call(tg.tenantKey('standard-demo'), 'POST', '/v1/adapters', { adapter_id: 'free-private', sha256: SHARED, rank: 8 });
    expect(res.status).toBe(409);
    expect(JSON.stringify(res.body)).not.toContain('free-demo');
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
