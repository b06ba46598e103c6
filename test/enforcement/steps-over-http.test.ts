import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import type { AuditRecord } from '../../src/audit/index.js';
import { SidecarClient, SidecarError, type StepOp, type StepResponse } from '../../src/client/index.js';
import { Entrypoints } from '../../src/policy/index.js';
import type { BlockLedger } from '../../src/ledger/index.js';
import { auditRecords as readAuditRecords } from '../reliability/helpers.js';
import { restartTestSidecar, startTestSidecar, type TestSidecar } from '../support/sidecar.js';

// A 64-block shared pool (an engine's whole KV cache), a worker Unix socket beside mTLS, and a
// third tenant whose quota (8 blocks of 2 MiB) the pool can exceed.
const engineConfig = (yaml: string): string =>
  yaml
    .replace(/last: 16383/, 'last: 63')
    .replace(/port: 0\n/, 'port: 0\n  unix_socket: ./worker.sock\n')
    .replace(/tenants:\n/, 'tenants:\n  - id: small-demo\n    tier: free\n    overrides: { kv_quota_bytes: 16777216 }\n');

let tg: TestSidecar;
let overSocket: SidecarClient;
let overMtls: SidecarClient;
let stepNo = 0;
let captured: BlockLedger | undefined;
// The real ledger, captured to compare its state with what the steps did.
const captureLedger = { ledger: (real: BlockLedger) => (captured = real) };

const connect = (sidecar: TestSidecar): void => {
  overSocket = new SidecarClient({ socketPath: sidecar.sidecar.services.config.listen.unixSocket! });
  overMtls = new SidecarClient({ url: sidecar.sidecar.url, ca: sidecar.ca, cert: sidecar.worker.cert!, key: sidecar.worker.key! });
};
beforeAll(async () => {
  tg = await startTestSidecar({ configPatch: engineConfig, overrides: captureLedger });
  connect(tg);
});
afterAll(async () => {
  await Promise.all([overSocket.close(), overMtls.close()]);
  await tg.close();
});

const step = (ops: StepOp[], client = overSocket): Promise<StepResponse> => client.step({ step: stepNo++, ops });
const claim = (tenant: string, request_id: string, blocks: number[], prefix_hits?: number[]): StepOp => ({ op: 'claim', tenant, request_id, blocks, ...(prefix_hits ? { prefix_hits } : {}) });
const release = (tenant: string, request_id: string, blocks: number[]): StepOp => ({ op: 'release', tenant, request_id, blocks });
const ledger = (): BlockLedger => captured!;
/** The id the ledger and the audit log know a request by (a keyed digest, L1). */
const rid = (tenant: string, requestId: string): string => tg.sidecar.services.audit.recordedId('request', tenant, requestId);

const auditRecords = (): AuditRecord[] => readAuditRecords(join(tg.setup.dir, 'audit'));

describe('POST /v1/steps: claim mode, one call per scheduler step', () => {
  test('engine-chosen blocks are claimed; another tenant\'s leftovers come back in scrub, one\'s own do not (I2)', async () => {
    const first = await step([claim('free-demo', 'a1', [1, 2]), claim('standard-demo', 'b1', [3])]);
    expect(first.results).toEqual([{ index: 0, ok: true }, { index: 1, ok: true }]);
    expect(first.scrub).toEqual([]);
    expect(ledger().requestBlocks('free-demo', rid('free-demo', 'a1'))).toEqual([1, 2]);

    await step([release('free-demo', 'a1', [1, 2]), release('standard-demo', 'b1', [3])]);
    // Block 1 was free-demo's: standard-demo must have it zeroed; free-demo's own reuse of 2 needs nothing.
    const reuse = await step([claim('standard-demo', 'b2', [1]), claim('free-demo', 'a2', [2])]);
    expect(reuse.results.every((r) => r.ok)).toBe(true);
    expect(reuse.scrub).toEqual([1]);
    expect(ledger().blockState(1)).toMatchObject({ state: 'owned', tenant: 'standard-demo', awaitingScrub: true });

    const confirmed = await step([{ op: 'scrubbed', blocks: [1], epochs: reuse.scrub_epochs }, release('standard-demo', 'b2', [1]), release('free-demo', 'a2', [2])]);
    expect(confirmed.results.every((r) => r.ok)).toBe(true);
    expect(ledger().blockState(1)).toMatchObject({ state: 'dirty', tenant: 'standard-demo' });
  });

  test('a prefix hit on a block being scrubbed is granted within the step that zeroes it, refused in a later one before the confirmation (I2)', async () => {
    await step([claim('standard-demo', 'leftover', [12, 13])]);
    await step([release('standard-demo', 'leftover', [12, 13])]);
    // free-demo prefills a shared prefix into standard-demo's leftovers; a second request of the
    // same step hits that prefix: the worker zeroes 12 and 13 before this step's forward pass.
    const same = await step([claim('free-demo', 'prefill', [12, 13]), claim('free-demo', 'sibling', [14], [12, 13])]);
    expect(same.results).toEqual([{ index: 0, ok: true }, { index: 1, ok: true }]);
    expect(same.scrub).toEqual([12, 13]);
    const later = await step([claim('free-demo', 'late', [15], [12])]);
    expect(later.results[0]).toMatchObject({ ok: false, code: 'TG_ERR_SCRUB_PENDING' });
    await step([{ op: 'scrubbed', blocks: [12, 13], epochs: same.scrub_epochs }, release('free-demo', 'prefill', [12, 13]), release('free-demo', 'sibling', [12, 13, 14])]);
    expect(ledger().blockState(12)).toMatchObject({ state: 'dirty', tenant: 'free-demo' });
  });

  test('a delayed scrub confirmation cannot clear a later use of the block: it names an epoch, a stale one is refused (I2, issue 20.3)', async () => {
    await step([claim('standard-demo', 'owner', [40])]);
    await step([release('standard-demo', 'owner', [40])]);
    const handed = await step([claim('free-demo', 'first-use', [40])]);
    expect(handed.scrub).toEqual([40]);
    const late: StepOp = { op: 'scrubbed', blocks: [40], epochs: handed.scrub_epochs };
    // The confirmation of that zeroing is delayed; meanwhile the request writes and gives the block back.
    await step([release('free-demo', 'first-use', [40])]);
    const stale = await step([late]);
    expect(stale.results).toEqual([{ index: 0, ok: false, code: 'TG_ERR_SCRUB_STALE', reasons: ['stale_scrub:40'] }]);
    // Still contaminated: the next tenant gets it only with a scrub, and the old confirmation cannot clear that either.
    expect(ledger().blockState(40)).toMatchObject({ state: 'dirty', tenant: null });
    const next = await step([claim('standard-demo', 'second-use', [40])]);
    expect(next.scrub).toEqual([40]);
    expect(next.scrub_epochs).not.toEqual(handed.scrub_epochs);
    expect((await step([late])).results[0]).toMatchObject({ ok: false, code: 'TG_ERR_SCRUB_STALE' });
    expect(ledger().blockState(40)).toMatchObject({ state: 'owned', tenant: 'standard-demo', awaitingScrub: true });
    expect(auditRecords().filter((r) => r.action === 'blocks.scrubbed' && r.decision === 'deny' && r.blocks?.includes(40))).toHaveLength(2);
    // A confirmation without epochs (an old client) applies nothing.
    await expect(overSocket.request('POST', '/v1/steps', { step: stepNo++, ops: [{ op: 'scrubbed', blocks: [40] }] })).rejects.toMatchObject({ status: 400, code: 'TG_ERR_BAD_REQUEST' });
    expect((await step([{ op: 'scrubbed', blocks: [40], epochs: next.scrub_epochs }])).results[0]).toMatchObject({ ok: true });
    expect(ledger().blockState(40)).toMatchObject({ state: 'owned', tenant: 'standard-demo', awaitingScrub: false });
    await step([release('standard-demo', 'second-use', [40])]);
  });

  test('a block another tenant\'s live request holds is refused for that op only (I1), as a critical record', async () => {
    await step([claim('free-demo', 'hold', [10])]);
    const res = await step([claim('standard-demo', 'grab', [10]), claim('standard-demo', 'fine', [11])]);
    expect(res.results[0]).toEqual({ index: 0, ok: false, code: 'TG_ERR_NOT_OWNER', reasons: ['not_owner:10'] });
    expect(res.results[1]).toEqual({ index: 1, ok: true });
    expect(ledger().requestBlocks('standard-demo', rid('standard-demo', 'grab'))).toEqual([]);
    expect(ledger().blockState(10)).toMatchObject({ state: 'owned', tenant: 'free-demo' });
    const violation = auditRecords().filter((r) => r.type === 'violation' && r.action === 'blocks.claim' && r.tenant === 'standard-demo');
    expect(violation.at(-1)).toMatchObject({ severity: 'critical', decision: 'deny', blocks: [10] });
    await step([release('free-demo', 'hold', [10]), release('standard-demo', 'fine', [11])]);
  });

  test('a prefix hit on another tenant\'s data is refused (I6); on the tenant\'s own it is shared', async () => {
    await step([claim('free-demo', 'sys-1', [20, 21])]);
    const res = await step([
      claim('standard-demo', 'forged', [22], [20, 21]),
      claim('free-demo', 'sys-2', [23], [20, 21]),
    ]);
    expect(res.results[0]).toMatchObject({ ok: false, code: 'TG_ERR_NOT_OWNER' });
    expect(res.results[1]).toEqual({ index: 1, ok: true });
    expect(ledger().requestBlocks('free-demo', rid('free-demo', 'sys-2'))).toEqual([20, 21, 23]);
    // The first holder's release leaves the shared blocks owned by the second.
    await step([release('free-demo', 'sys-1', [20, 21])]);
    expect(ledger().blockState(20)).toMatchObject({ state: 'owned', tenant: 'free-demo' });
    await step([release('free-demo', 'sys-2', [20, 21, 23])]);
    expect(ledger().blockState(20)).toMatchObject({ state: 'dirty', tenant: 'free-demo' });
  });

  test('only the holding request releases (I4): another tenant\'s release is a violation, a stale one a state error', async () => {
    await step([claim('free-demo', 'mine', [30])]);
    const res = await step([release('standard-demo', 'mine', [30]), release('free-demo', 'never', [30])]);
    expect(res.results.map((r) => r.code)).toEqual(['TG_ERR_NOT_OWNER', 'TG_ERR_BLOCK_STATE']);
    expect(ledger().requestBlocks('free-demo', rid('free-demo', 'mine'))).toEqual([30]);
    await step([release('free-demo', 'mine', [30])]);
  });

  test('claims past the quota are refused for that tenant with TG_ERR_QUOTA, nothing applied; other tenants proceed (I3)', async () => {
    expect(tg.sidecar.services.tenants.require('small-demo').quotaBlocks).toBe(8);
    const fits = await step([claim('small-demo', 'q1', [24, 25, 26, 27, 28, 29])]);
    expect(fits.results[0]).toEqual({ index: 0, ok: true });
    // 6 held + 3 more > 8: the step's claims for small-demo are refused together, by policy.
    const over = await step([claim('small-demo', 'q2', [30, 31]), claim('standard-demo', 'q3', [32]), claim('small-demo', 'q4', [33])]);
    expect(over.results.map((r) => [r.ok, r.code])).toEqual([[false, 'TG_ERR_QUOTA'], [true, undefined], [false, 'TG_ERR_QUOTA']]);
    expect(ledger().usage('small-demo').owned).toBe(6);
    expect(ledger().requestBlocks('small-demo', rid('small-demo', 'q2'))).toEqual([]);
    // Exactly up to the quota is fine, and prefix hits on blocks it already owns add nothing.
    const exact = await step([claim('small-demo', 'q2', [30, 31], [24])]);
    expect(exact.results[0]).toEqual({ index: 0, ok: true });
    expect(ledger().usage('small-demo').owned).toBe(8);
    await step([release('small-demo', 'q1', [24, 25, 26, 27, 28, 29]), release('small-demo', 'q2', [24, 30, 31]), release('standard-demo', 'q3', [32])]);
  });

  test('the whole step costs one blocks-policy evaluation per tenant with claims', async () => {
    const decide = vi.spyOn(tg.sidecar.services.policy, 'decide');
    try {
      await step([
        claim('free-demo', 'p1', [40]),
        claim('free-demo', 'p2', [41]),
        claim('standard-demo', 'p3', [42]),
        claim('free-demo', 'p4', [43]),
        release('standard-demo', 'p3', [42]),
      ]);
      const blockCalls = decide.mock.calls.filter(([entrypoint]) => entrypoint === Entrypoints.blocks);
      expect(blockCalls.map(([, input]) => (input as { tenant: string }).tenant).sort()).toEqual(['free-demo', 'standard-demo']);
      expect(blockCalls.find(([, input]) => (input as { tenant: string }).tenant === 'free-demo')![1]).toMatchObject({ action: 'blocks.claim', resource: { count: 3 } });
    } finally {
      decide.mockRestore();
    }
    await step([release('free-demo', 'p1', [40]), release('free-demo', 'p2', [41]), release('free-demo', 'p4', [43])]);
  });

  test('every op\'s record is durable when the answer arrives, in op order', async () => {
    const before = auditRecords().length;
    await step([claim('free-demo', 'd1', [44]), claim('ghost', 'd2', [45]), release('free-demo', 'd1', [44])], overMtls);
    const written = auditRecords().slice(before);
    expect(written.map((r) => [r.action, r.decision])).toEqual([
      ['blocks.claim', 'allow'],
      ['blocks.claim', 'deny'],
      ['blocks.release', 'allow'],
    ]);
    expect(written[0]!.effects).toMatchObject({ request_id: rid('free-demo', 'd1'), prefix_hits: [], scrub: [] });
  });

  test('unknown tenants and malformed ops get stable codes; nothing else in the step is affected', async () => {
    const res = await step([claim('ghost', 'g', [46]), claim('free-demo', 'ok', [47])]);
    expect(res.results).toEqual([
      { index: 0, ok: false, code: 'TG_ERR_UNKNOWN_TENANT' },
      { index: 1, ok: true },
    ]);
    const dup = await step([claim('free-demo', 'dup', [48, 48]), claim('free-demo', 'far', [9999])]);
    expect(dup.results.map((r) => r.code)).toEqual(['TG_ERR_BAD_REQUEST', 'TG_ERR_BAD_REQUEST']);
    await step([release('free-demo', 'ok', [47])]);

    const bad = async (body: unknown): Promise<SidecarError> => overSocket.request('POST', '/v1/steps', body).then(() => expect.fail('accepted'), (e: SidecarError) => e);
    for (const body of [{ ops: [] }, { step: -1, ops: [] }, { step: 1, ops: [{ op: 'steal', blocks: [1] }] }, { step: 1, ops: [{ op: 'claim', tenant: 'free-demo', request_id: 'x', blocks: [] }] }, { step: 1, ops: [{ op: 'release', tenant: 'free-demo', request_id: 'has space', blocks: [1] }] }]) {
      const error = await bad(body);
      expect(error.status).toBe(400);
      expect(error.code).toBe('TG_ERR_BAD_REQUEST');
    }
  });

  test('worker role only: tenants and operators are refused', async () => {
    const body = { step: 1, ops: [] };
    expect((await tg.call(tg.tenantCert('free-demo'), 'POST', '/v1/steps', body)).status).toBe(403);
    expect((await tg.call(tg.tenantKey('free-demo'), 'POST', '/v1/steps', body)).status).toBe(403);
    const operator = await tg.call(tg.operator, 'POST', '/v1/steps', body);
    expect(operator.status).toBe(403);
    expect((operator.body as { error: { code: string } }).error.code).toBe('TG_ERR_ROLE_DENIED');
    expect(await overMtls.step({ step: 1, ops: [] })).toEqual({ step: 1, scrub: [], scrub_epochs: [], results: [] });
  });

  test('a restart replays claim-mode state exactly: holders, shared holds, scrub flags, data owners', async () => {
    await step([claim('free-demo', 'r1', [50, 51]), claim('standard-demo', 'r2', [52])]);
    await step([claim('free-demo', 'r3', [53], [50]), release('standard-demo', 'r2', [52])]);
    await step([claim('free-demo', 'r4', [52]), claim('free-demo', 'r5', [54], [52])]);
    const snapshot = () => ({
      blocks: Array.from({ length: 64 }, (_, id) => ledger().blockState(id)),
      requests: Object.fromEntries(['free-demo', 'standard-demo'].map((t) => [t, ledger().liveRequests(t).sort().map((r) => [r, ledger().requestBlocks(t, r)])])),
    });
    const before = snapshot();
    expect(before.blocks[52]).toMatchObject({ state: 'owned', tenant: 'free-demo', awaitingScrub: true });
    await Promise.all([overSocket.close(), overMtls.close()]);
    tg = await restartTestSidecar(tg, captureLedger);
    connect(tg);
    expect(snapshot()).toEqual(before);
    expect(ledger().checkInvariants()).toEqual({ ok: true, violations: [] });
    // And the replayed holds still work: the shared block is released by its last holder.
    const res = await step([release('free-demo', 'r1', [50, 51]), release('free-demo', 'r3', [50, 53]), release('free-demo', 'r4', [52]), release('free-demo', 'r5', [52, 54])]);
    expect(res.results.every((r) => r.ok)).toBe(true);
  });
});

describe('GET /v1/pools/{name}/ledger: the operator\'s view of what the ledger holds', () => {
  test('lists every non-clean block and every live request of the pool; other roles and unknown pools are refused', async () => {
    await step([claim('standard-demo', 'view-1', [60, 61]), claim('free-demo', 'view-2', [62])]);
    const view = await tg.call(tg.operator, 'GET', '/v1/pools/shared/ledger');
    expect(view.status).toBe(200);
    const body = view.body as { blocks: Array<{ id: number; state: string; tenant: string }>; requests: Array<{ tenant: string; request_id: string; blocks: number[] }> };
    expect(body.blocks.filter((b) => b.id >= 60)).toEqual([
      { id: 60, state: 'owned', tenant: 'standard-demo', epoch: ledger().epochOf(60), awaiting_scrub: false },
      { id: 61, state: 'owned', tenant: 'standard-demo', epoch: ledger().epochOf(61), awaiting_scrub: false },
      { id: 62, state: 'owned', tenant: 'free-demo', epoch: ledger().epochOf(62), awaiting_scrub: false },
    ]);
    expect(body.requests).toEqual(expect.arrayContaining([{ tenant: 'standard-demo', request_id: rid('standard-demo', 'view-1'), blocks: [60, 61] }, { tenant: 'free-demo', request_id: rid('free-demo', 'view-2'), blocks: [62] }]));
    expect((await tg.call(tg.worker, 'GET', '/v1/pools/shared/ledger')).status).toBe(403);
    expect((await tg.call(tg.tenantKey('free-demo'), 'GET', '/v1/pools/shared/ledger')).status).toBe(403);
    expect((await tg.call(tg.operator, 'GET', '/v1/pools/nope/ledger')).status).toBe(404);
    await step([release('standard-demo', 'view-1', [60, 61]), release('free-demo', 'view-2', [62])]);
  });
});

describe('POST /v1/cache-salts/lookup: attributing a request by its sidecar-issued salt', () => {
  test('a salt names its tenant and key version, also after a rotation; a forged or erased tenant\'s salt names no one', async () => {
    const salt = (await tg.call(tg.worker, 'GET', '/v1/tenants/standard-demo/cache-salt')).body as { cache_salt: string; version: number };
    expect(await overSocket.tenantForCacheSalt(salt.cache_salt)).toEqual({ tenant: 'standard-demo', version: salt.version });
    const forged = await overSocket.tenantForCacheSalt('A'.repeat(43)).catch((e: SidecarError) => e);
    expect(forged).toMatchObject({ status: 404, code: 'TG_ERR_UNKNOWN_CACHE_SALT' });
    expect(String(forged)).not.toContain('AAAA');
    expect((await tg.call(tg.operator, 'POST', '/v1/tenants/standard-demo/keys/rotate')).status).toBe(200);
    const rotated = (await tg.call(tg.worker, 'GET', '/v1/tenants/standard-demo/cache-salt')).body as { cache_salt: string; version: number };
    expect(rotated.cache_salt).not.toBe(salt.cache_salt);
    expect(await overSocket.tenantForCacheSalt(rotated.cache_salt)).toEqual({ tenant: 'standard-demo', version: salt.version + 1 });
    // A request stamped just before the rotation is still standard-demo's.
    expect(await overSocket.tenantForCacheSalt(salt.cache_salt)).toEqual({ tenant: 'standard-demo', version: salt.version });
    const small = (await tg.call(tg.worker, 'GET', '/v1/tenants/small-demo/cache-salt')).body as { cache_salt: string };
    expect((await tg.call(tg.operator, 'DELETE', '/v1/tenants/small-demo')).status).toBe(200);
    expect(await overSocket.tenantForCacheSalt(small.cache_salt).catch((e: SidecarError) => e.code)).toBe('TG_ERR_UNKNOWN_CACHE_SALT');
    expect(auditRecords().some((r) => JSON.stringify(r).includes(salt.cache_salt) || JSON.stringify(r).includes(rotated.cache_salt))).toBe(false);
  });
});
