/**
 * Faults the sidecar must survive without lying: an unwritable audit disk, a corrupt or missing
 * policy bundle, a policy that throws, clients that stall, a certificate revoked mid-connection,
 * a keystore or offload disk that refuses a write after its audit record.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { AuditRecord } from '../../src/audit/index.js';
import { loadConfig } from '../../src/config/index.js';
import { issueCertificate, loadCertificateAuthority, revokeCertificate } from '../../src/pki/index.js';
import { REQUIRED_ENTRYPOINTS } from '../../src/policy/index.js';
import { initDirectory, type InitResult } from '../../src/setup/index.js';
import { startSidecar, type RunningSidecar } from '../../src/sidecar/index.js';
import { buildBundle, PROJECT_BUNDLE, REPO_ROOT } from '../support/opa.js';
import { callOffload, callSidecar, startTestSidecar, type ClientCredential, type TestSidecar } from '../support/sidecar.js';
import { auditRecords, captureOverrides, errorCode, sleep, stateSnapshot, type Captured } from './helpers.js';

const SHA_A = 'a1'.repeat(32);
const SHA_B = 'b2'.repeat(32);

/** A copy of the project bundle in a fresh directory, and a config patch that points at it. */
function bundleCopy(source = PROJECT_BUNDLE): { path: string; patch: (yaml: string) => string } {
  const path = join(mkdtempSync(join(tmpdir(), 'tg-bundle-copy-')), 'bundle.tar.gz');
  copyFileSync(source, path);
  return { path, patch: (yaml) => yaml.replace('paths:\n', `paths:\n  policy_bundle: ${path}\n`) };
}

async function eventually<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await probe();
  while (!done(value) && Date.now() < deadline) {
    await sleep(50);
    value = await probe();
  }
  return value;
}

// ───────────────────────────── (a) audit disk full ─────────────────────────────

// RLIMIT_FSIZE on this process makes the kernel refuse writes past a size for real (EFBIG), the
// way a full disk does, without root (see test/enforcement/audit-down.test.ts).
const prlimitWorks = spawnSync('prlimit', ['--pid', String(process.pid), '--fsize']).status === 0;
const setFileSizeLimit = (value: string): void => void execFileSync('prlimit', ['--pid', String(process.pid), `--fsize=${value}:`]);

describe.skipIf(!prlimitWorks)('audit disk full: every state-changing route family answers 503 TG_ERR_AUDIT_DOWN, applies nothing, and recovers', () => {
  let tg: TestSidecar;
  const captured: Captured = {};
  const keystore = (): Buffer => readFileSync(join(tg.setup.dir, 'keys', 'keystore.json'));
  const blobFile = (tenant: string, key: string): string => join(tg.setup.dir, 'offload', tenant, `${key}.blob`);

  const offload = (method: string, tenant: string, key: string, body?: Buffer): Promise<{ status: number; body: Buffer }> =>
    callOffload(tg.sidecar.url, tg.ca, tg.worker, { method, tenant, key, actingFor: tenant, ...(body ? { body } : {}) });

  /** The disk "fills": the current audit segment may grow by 50 bytes, not by a whole record. */
  const diskFull = (): void => {
    const dir = join(tg.setup.dir, 'audit');
    const segment = readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort().at(-1)!;
    const size = statSync(join(dir, segment)).size;
    // The keystore and blob files must stay writable: only the audit log is out of space.
    expect(size).toBeGreaterThan(keystore().length + 4096);
    setFileSizeLimit(String(size + 50));
  };

  /** Space returns: the next state changes trigger the log's own recovery; wait until one lands. */
  const spaceReturns = async (): Promise<void> => {
    setFileSizeLimit('unlimited');
    const res = await eventually(() => tg.call(tg.worker, 'GET', '/v1/tenants/standard-demo/cache-salt'), (r) => r.status === 200, 6000);
    expect(res.status).toBe(200);
    expect(tg.sidecar.services.audit.healthy).toBe(true);
  };

  const expectAuditDown = (res: { status: number; body: unknown }): void => {
    expect(res.status, JSON.stringify(res.body)).toBe(503);
    expect(errorCode(res)).toBe('TG_ERR_AUDIT_DOWN');
  };

  beforeAll(async () => {
    tg = await startTestSidecar({ overrides: captureOverrides(captured) });
    // Grow the audit segment well past the keystore and the test blobs.
    for (let i = 0; i < 40; i++) expect((await tg.call(tg.worker, 'GET', `/v1/tenants/${['free-demo', 'standard-demo'][i % 2]}/cache-salt`)).status).toBe(200);
  });
  // A failed expectation must not leave the disk "full" for the next test.
  afterEach(async () => {
    if (!tg || tg.sidecar.services.audit.healthy) return;
    setFileSizeLimit('unlimited');
    await eventually(() => tg.call(tg.worker, 'GET', '/v1/tenants/standard-demo/cache-salt'), (r) => r.status === 200, 6000);
  });
  afterAll(async () => {
    setFileSizeLimit('unlimited');
    await tg?.close();
  });

  test('blocks: allocate, free, scrubbed and access are refused with 503 and the ledger is exactly as before; after recovery they work', async () => {
    const allocated = await tg.call(tg.worker, 'POST', '/v1/blocks/allocate', { tenant: 'free-demo', request_id: 'b-1', count: 4 });
    const ids = (allocated.body as { blocks: { id: number }[] }).blocks.map((b) => b.id);
    expect((await tg.call(tg.worker, 'POST', '/v1/blocks/free', { tenant: 'free-demo', blocks: [ids[3]] })).status).toBe(200);
    const before = await stateSnapshot(tg, captured);

    diskFull();
    // The first write that fails (the allocation's own record) and the refusals after it.
    expectAuditDown(await tg.call(tg.worker, 'POST', '/v1/blocks/allocate', { tenant: 'free-demo', request_id: 'b-2', count: 2 }));
    expectAuditDown(await tg.call(tg.worker, 'POST', '/v1/blocks/free', { tenant: 'free-demo', blocks: [ids[0], ids[1]], cache: true }));
    const freedEpoch = ((await tg.call(tg.operator, 'GET', '/v1/pools/shared/ledger')).body as { blocks: { id: number; epoch: number }[] }).blocks.find((b) => b.id === ids[3])!.epoch;
    expectAuditDown(await tg.call(tg.worker, 'POST', '/v1/blocks/scrubbed', { blocks: [ids[3]], epochs: [freedEpoch] }));
    expectAuditDown(await tg.call(tg.worker, 'POST', '/v1/blocks/access', { tenant: 'free-demo', blocks: [ids[2]], mode: 'read' }));
    expect(await stateSnapshot(tg, captured)).toEqual(before);

    await spaceReturns();
    expect(await stateSnapshot(tg, captured)).toEqual(before);
    expect((await tg.call(tg.worker, 'POST', '/v1/blocks/free', { tenant: 'free-demo', blocks: [ids[0], ids[1]] })).body).toEqual({ freed: 2, cached: 0 });
    expect((await tg.call(tg.operator, 'GET', '/v1/audit/verify')).body).toMatchObject({ ok: true });
  });

  test('admission: a refused admission holds no slot and no tokens, a refused completion leaves the request in flight', async () => {
    // free tier: 4 concurrent, 10K tokens per minute.
    expect((await tg.call(tg.worker, 'POST', '/v1/admission', { tenant: 'free-demo', request_id: 'in-flight', max_tokens: 100 })).status).toBe(200);
    const before = await stateSnapshot(tg, captured);

    diskFull();
    expectAuditDown(await tg.call(tg.worker, 'POST', '/v1/admission', { tenant: 'free-demo', request_id: 'refused', max_tokens: 9000 }));
    expectAuditDown(await tg.call(tg.worker, 'POST', '/v1/admission/in-flight/complete', { input_tokens: 10, output_tokens: 20 }));
    expect(await stateSnapshot(tg, captured)).toEqual(before);

    await spaceReturns();
    // Had the refused admission kept its charge, 9000 more tokens would exceed 10K; had it kept a
    // slot, the fourth admission below would be refused; had it kept its id, this would be 409.
    expect((await tg.call(tg.worker, 'POST', '/v1/admission', { tenant: 'free-demo', request_id: 'refused', max_tokens: 9000 })).status).toBe(200);
    for (const id of ['a-2', 'a-3']) expect((await tg.call(tg.worker, 'POST', '/v1/admission', { tenant: 'free-demo', request_id: id, max_tokens: 100 })).status).toBe(200);
    const fifth = await tg.call(tg.worker, 'POST', '/v1/admission', { tenant: 'free-demo', request_id: 'a-5', max_tokens: 100 });
    expect(errorCode(fifth)).toBe('TG_ERR_CONCURRENCY_LIMIT');
    // The refused completion did not happen: the request is still in flight and completes now.
    expect((await tg.call(tg.worker, 'POST', '/v1/admission/in-flight/complete', { input_tokens: 10, output_tokens: 20 })).status).toBe(200);
    for (const id of ['refused', 'a-2', 'a-3']) await tg.call(tg.worker, 'POST', `/v1/admission/${id}/complete`, { input_tokens: 1, output_tokens: 1 });
    expect((await tg.call(tg.operator, 'GET', '/v1/audit/verify')).body).toMatchObject({ ok: true });
  });

  test('adapters: a refused registration registers nothing and a refused re-registration keeps the old digest', async () => {
    expect((await tg.call(tg.tenantKey('free-demo'), 'POST', '/v1/adapters', { adapter_id: 'kept', sha256: SHA_A, rank: 8 })).status).toBe(201);
    const before = await stateSnapshot(tg, captured);

    diskFull();
    expectAuditDown(await tg.call(tg.tenantKey('free-demo'), 'POST', '/v1/adapters', { adapter_id: 'new-one', sha256: SHA_A, rank: 8 }));
    expectAuditDown(await tg.call(tg.tenantKey('free-demo'), 'POST', '/v1/adapters', { adapter_id: 'kept', sha256: SHA_B, rank: 8 }));
    expect(await stateSnapshot(tg, captured)).toEqual(before);
    expect(captured.adapters!.ownedBy('free-demo').map((a) => [a.adapterId, a.sha256])).toEqual([[tg.sidecar.services.audit.recordedId('adapter', 'free-demo', 'kept'), SHA_A]]);

    await spaceReturns();
    const applied = await tg.call(tg.worker, 'POST', '/v1/adapters/apply', {
      batch: [
        { request_id: 'r1', tenant: 'free-demo', adapter_id: 'kept', sha256: SHA_A },
        { request_id: 'r2', tenant: 'free-demo', adapter_id: 'new-one', sha256: SHA_A },
      ],
    });
    expect((applied.body as { results: { allow: boolean; reasons: string[] }[] }).results).toEqual([
      { request_id: 'r1', allow: true, reasons: [] },
      { request_id: 'r2', allow: false, reasons: ['adapter_unknown'] },
    ]);
    expect((await tg.call(tg.operator, 'GET', '/v1/audit/verify')).body).toMatchObject({ ok: true });
  });

  test('offload: a refused put leaves no blob and never replaces the previous one; a refused delete keeps the blob', async () => {
    const original = Buffer.alloc(1024, 0x11);
    expect((await offload('PUT', 'standard-demo', 'kept', original)).status).toBe(201);
    const before = await stateSnapshot(tg, captured);

    diskFull();
    expectAuditDown(await offload('PUT', 'standard-demo', 'fresh', Buffer.alloc(1024, 0x22)).then((r) => ({ status: r.status, body: JSON.parse(r.body.toString()) as unknown })));
    expect(existsSync(blobFile('standard-demo', 'fresh'))).toBe(false);
    const overwrite = await offload('PUT', 'standard-demo', 'kept', Buffer.alloc(1024, 0x33));
    expectAuditDown({ status: overwrite.status, body: JSON.parse(overwrite.body.toString()) as unknown });
    const removal = await offload('DELETE', 'standard-demo', 'kept');
    expectAuditDown({ status: removal.status, body: JSON.parse(removal.body.toString()) as unknown });
    await sleep(100); // an undo that ran late would show here
    expect(await stateSnapshot(tg, captured)).toEqual(before);

    await spaceReturns();
    const back = await offload('GET', 'standard-demo', 'kept');
    expect(back.status).toBe(200);
    expect(back.body.equals(original)).toBe(true);
    expect((await offload('GET', 'standard-demo', 'fresh')).status).toBe(404);
    expect((await tg.call(tg.operator, 'GET', '/v1/audit/verify')).body).toMatchObject({ ok: true });
  });

  test('keys: a refused rotation leaves the keystore file byte for byte and the key version unchanged', async () => {
    const salt = async () => (await tg.call(tg.worker, 'GET', '/v1/tenants/free-demo/cache-salt')).body as { version: number; cache_salt: string };
    const saltBefore = await salt();
    const fileBefore = keystore();
    const before = await stateSnapshot(tg, captured);

    diskFull();
    expectAuditDown(await tg.call(tg.operator, 'POST', '/v1/tenants/free-demo/keys/rotate'));
    expectAuditDown(await tg.call(tg.operator, 'POST', '/v1/tenants/free-demo/keys/rotate'));
    expect(keystore().equals(fileBefore)).toBe(true);
    expect(await stateSnapshot(tg, captured)).toEqual(before);

    await spaceReturns();
    expect(await salt()).toEqual(saltBefore);
    expect((await tg.call(tg.operator, 'POST', '/v1/tenants/free-demo/keys/rotate')).body).toEqual({ tenant: 'free-demo', version: saltBefore.version + 1 });
    expect((await tg.call(tg.operator, 'GET', '/v1/audit/verify')).body).toMatchObject({ ok: true });
  });

  test('erasure: a refused crypto-shred erases nothing (tenant, keys, blocks and blobs all stay)', async () => {
    expect((await offload('PUT', 'standard-demo', 'erase-probe', Buffer.alloc(512, 0x44))).status).toBe(201);
    const before = await stateSnapshot(tg, captured);

    diskFull();
    expectAuditDown(await tg.call(tg.operator, 'DELETE', '/v1/tenants/standard-demo'));
    expect(await stateSnapshot(tg, captured)).toEqual(before);

    await spaceReturns();
    expect(await stateSnapshot(tg, captured)).toEqual(before);
    expect((await offload('GET', 'standard-demo', 'erase-probe')).status).toBe(200);
    expect((await tg.call(tg.operator, 'GET', '/v1/audit/verify')).body).toMatchObject({ ok: true });
  });
});

// ───────────────────────────── (b) corrupt or missing policy bundle ─────────────────────────────

describe('policy bundle corrupt or missing: reload is refused with 400 TG_ERR_BUNDLE_INVALID and the last good bundle keeps deciding', () => {
  let tg: TestSidecar;
  let bundle: { path: string; patch: (yaml: string) => string };
  const good = readFileSync(PROJECT_BUNDLE);

  beforeAll(async () => {
    bundle = bundleCopy();
    tg = await startTestSidecar({ configPatch: bundle.patch });
  });
  afterAll(async () => tg?.close());

  /** Decisions still come from the good bundle: an allowed call passes, a denied one is denied. */
  async function expectGoodBundleServing(revision: string, sha: string): Promise<void> {
    expect((await tg.call(tg.operator, 'GET', '/v1/policy')).body).toMatchObject({ revision, sha256: sha });
    expect((await tg.call({}, 'GET', '/readyz')).body).toMatchObject({ status: 'ready', policy_revision: revision });
    expect((await tg.call(tg.worker, 'POST', '/v1/blocks/allocate', { tenant: 'free-demo', request_id: 'still-served', count: 1 })).status).toBe(200);
    expect(errorCode(await tg.call(tg.tenantKey('free-demo'), 'POST', '/v1/blocks/allocate', { tenant: 'free-demo', request_id: 'x', count: 1 }))).toBe('TG_ERR_ROLE_DENIED');
    expect(errorCode(await tg.call(tg.worker, 'POST', '/v1/blocks/allocate', { tenant: 'free-demo', request_id: 'x', count: 100_000 }))).toBe('TG_ERR_BAD_REQUEST');
  }

  const incomplete = (): Buffer => {
    // A real OPA bundle that lacks most required entrypoints.
    const path = buildBundle(join(REPO_ROOT, 'policies'), ['tenantguard/authz/decision']);
    return readFileSync(path);
  };

  const corruptions: Array<[string, () => Buffer | null]> = [
    ['random bytes', () => Buffer.from('this is not a gzip archive at all')],
    ['an empty file', () => Buffer.alloc(0)],
    ['a truncated archive', () => good.subarray(0, Math.floor(good.length / 2))],
    ['a flipped byte in the compressed data', () => {
      const copy = Buffer.from(good);
      copy[Math.floor(copy.length / 2)]! ^= 0xff;
      return copy;
    }],
    ['a bundle lacking required entrypoints', incomplete],
    ['a deleted bundle file', () => null],
  ];

  for (const [what, make] of corruptions) {
    test(`${what}: POST /v1/policy/reload is 400 TG_ERR_BUNDLE_INVALID and the previous bundle keeps serving`, async () => {
      const info = (await tg.call(tg.operator, 'GET', '/v1/policy')).body as { revision: string; sha256: string };
      const bytes = make();
      if (bytes === null) rmSync(bundle.path);
      else writeFileSync(bundle.path, bytes);
      const res = await tg.call(tg.operator, 'POST', '/v1/policy/reload');
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ error: { code: 'TG_ERR_BUNDLE_INVALID', kept_revision: info.revision } });
      await sleep(300); // the file watcher tries the same bundle and must refuse it too
      await expectGoodBundleServing(info.revision, info.sha256);
      // Put the good bundle back: it reloads.
      writeFileSync(bundle.path, good);
      expect((await tg.call(tg.operator, 'POST', '/v1/policy/reload')).status).toBe(200);
    });
  }

  test('a sidecar started without any bundle denies everything with 503 TG_ERR_POLICY_UNAVAILABLE, changes nothing, and serves once a bundle appears', async () => {
    const missing = join(mkdtempSync(join(tmpdir(), 'tg-no-bundle-')), 'bundle.tar.gz');
    const captured: Captured = {};
    const empty = await startTestSidecar({ configPatch: (yaml) => yaml.replace('paths:\n', `paths:\n  policy_bundle: ${missing}\n`), overrides: captureOverrides(captured) });
    try {
      expect((await empty.call({}, 'GET', '/readyz')).status).toBe(503);
      const before = await stateSnapshot(empty, captured);
      for (const [credential, method, path, body] of [
        [empty.worker, 'POST', '/v1/blocks/allocate', { tenant: 'free-demo', request_id: 'n', count: 1 }],
        [empty.worker, 'POST', '/v1/admission', { tenant: 'free-demo', request_id: 'n', max_tokens: 10 }],
        [empty.tenantKey('free-demo'), 'POST', '/v1/adapters', { adapter_id: 'n', sha256: SHA_A, rank: 8 }],
        [empty.operator, 'POST', '/v1/tenants/free-demo/keys/rotate', undefined],
        [empty.operator, 'DELETE', '/v1/tenants/free-demo', undefined],
        [empty.tenantKey('free-demo'), 'GET', '/v1/usage', undefined],
      ] as Array<[ClientCredential, string, string, unknown]>) {
        const res = await empty.call(credential, method, path, body);
        expect([res.status, errorCode(res)], `${method} ${path}`).toEqual([503, 'TG_ERR_POLICY_UNAVAILABLE']);
      }
      expect(await stateSnapshot(empty, captured)).toEqual(before);
      copyFileSync(PROJECT_BUNDLE, missing);
      const ready = await eventually(() => empty.call({}, 'GET', '/readyz'), (r) => r.status === 200);
      expect(ready.status).toBe(200);
      expect((await empty.call(empty.worker, 'POST', '/v1/blocks/allocate', { tenant: 'free-demo', request_id: 'n', count: 1 })).status).toBe(200);
    } finally {
      await empty.close();
    }
  });
});

// ───────────────────────────── (c) policy evaluation throws ─────────────────────────────

describe('a policy whose evaluation throws (conflict error) denies with a 4xx, never a 5xx, and changes nothing', () => {
  let tg: TestSidecar;
  const captured: Captured = {};
  const CONFLICT = ['policy_error:eval_conflict_error'];

  beforeAll(async () => {
    // The project's policies plus fixture rules that give `decision` a second, disagreeing value.
    const src = mkdtempSync(join(tmpdir(), 'tg-conflict-src-'));
    cpSync(join(REPO_ROOT, 'policies'), src, { recursive: true });
    const fixtures = join(import.meta.dirname, 'fixtures', 'policy-conflict');
    for (const file of readdirSync(fixtures)) copyFileSync(join(fixtures, file), join(src, 'tenantguard', file));
    const { patch } = bundleCopy(buildBundle(src, REQUIRED_ENTRYPOINTS));
    tg = await startTestSidecar({ configPatch: patch, overrides: captureOverrides(captured) });
  });
  afterAll(async () => tg?.close());

  const expectConflictDenial = (res: { status: number; body: unknown }, code = 'TG_ERR_POLICY_DENIED'): void => {
    expect(res.status, JSON.stringify(res.body)).toBe(403);
    expect(res.body).toMatchObject({ error: { code, reasons: CONFLICT } });
  };

  test('blocks: an allocation whose evaluation conflicts is denied 403 even though the broken rule says allow', async () => {
    const before = await stateSnapshot(tg, captured);
    expectConflictDenial(await tg.call(tg.worker, 'POST', '/v1/blocks/allocate', { tenant: 'free-demo', request_id: 'c-13', count: 13 }));
    expect(await stateSnapshot(tg, captured)).toEqual(before);
    // The rest of the policy still decides normally.
    expect((await tg.call(tg.worker, 'POST', '/v1/blocks/allocate', { tenant: 'free-demo', request_id: 'c-3', count: 3 })).status).toBe(200);
  });

  test('blocks: a free whose evaluation conflicts is denied and the blocks stay owned', async () => {
    const mine = (await tg.call(tg.worker, 'POST', '/v1/blocks/allocate', { tenant: 'standard-demo', request_id: 'c-f', count: 3 })).body as { blocks: { id: number }[] };
    const ids = mine.blocks.map((b) => b.id);
    const before = await stateSnapshot(tg, captured);
    expectConflictDenial(await tg.call(tg.worker, 'POST', '/v1/blocks/free', { tenant: 'standard-demo', blocks: ids }));
    expect(await stateSnapshot(tg, captured)).toEqual(before);
    for (const id of ids) expect(captured.ledger!.blockState(id)).toMatchObject({ state: 'owned', tenant: 'standard-demo' });
  });

  test('admission, adapter registration and key rotation with conflicting evaluations are denied and change nothing', async () => {
    const keystore = readFileSync(join(tg.setup.dir, 'keys', 'keystore.json'));
    const before = await stateSnapshot(tg, captured);
    expectConflictDenial(await tg.call(tg.worker, 'POST', '/v1/admission', { tenant: 'free-demo', request_id: 'c-a', max_tokens: 13 }));
    expectConflictDenial(await tg.call(tg.tenantKey('free-demo'), 'POST', '/v1/adapters', { adapter_id: 'c-ad', sha256: SHA_A, rank: 13 }));
    expectConflictDenial(await tg.call(tg.operator, 'POST', '/v1/tenants/standard-demo/keys/rotate'));
    expect(readFileSync(join(tg.setup.dir, 'keys', 'keystore.json')).equals(keystore)).toBe(true);
    expect(await stateSnapshot(tg, captured)).toEqual(before);
    // Same routes, inputs the broken rules do not match: decided normally.
    expect((await tg.call(tg.worker, 'POST', '/v1/admission', { tenant: 'free-demo', request_id: 'c-a', max_tokens: 12 })).status).toBe(200);
    expect((await tg.call(tg.operator, 'POST', '/v1/tenants/free-demo/keys/rotate')).status).toBe(200);
  });

  test('route authorization whose evaluation conflicts is a 403 TG_ERR_ROLE_DENIED, and the denials are in a verifying audit chain', async () => {
    expectConflictDenial(await tg.call(tg.operator, 'GET', '/v1/policy'), 'TG_ERR_ROLE_DENIED');
    expect((await tg.call(tg.operator, 'GET', '/v1/tenants')).status).toBe(200);
    const verify = await tg.call(tg.operator, 'GET', '/v1/audit/verify');
    expect(verify.body).toMatchObject({ ok: true });
    const log = readdirSync(join(tg.setup.dir, 'audit')).filter((f) => f.endsWith('.jsonl')).map((f) => readFileSync(join(tg.setup.dir, 'audit', f), 'utf8')).join('');
    expect(log).toContain('policy_error:eval_conflict_error');
  });
});

// ───────────────────────────── (d) clients that stall ─────────────────────────────

describe('slow clients are cut off by the server timeouts and leave nothing behind', () => {
  const REQUEST_TIMEOUT = 1500;
  const HEADERS_TIMEOUT = 600;
  let setup: InitResult;
  let sidecar: RunningSidecar;
  let worker: { cert: Buffer; key: Buffer };
  let ca: Buffer;

  beforeAll(async () => {
    setup = await initDirectory(mkdtempSync(join(tmpdir(), 'tg-slow-')), { port: 0 });
    sidecar = await startSidecar(loadConfig(setup.configFile), { logger: pino({ level: 'silent' }), watchIntervalMs: 100, drainTimeoutMs: 2000, requestTimeoutMs: REQUEST_TIMEOUT, headersTimeoutMs: HEADERS_TIMEOUT });
    worker = { cert: readFileSync(setup.files.worker.cert), key: readFileSync(setup.files.worker.key) };
    ca = readFileSync(setup.files.ca);
  });
  afterAll(async () => sidecar?.close());

  /** Open TCP sockets of this process (client and server ends both count). */
  const openSockets = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;

  /** Connects with the worker certificate, writes `head`, then stalls; resolves when the server hangs up. */
  function stallingClient(head: string): Promise<{ elapsedMs: number; answer: string }> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: sidecar.port, ca, cert: worker.cert, key: worker.key, servername: 'localhost' });
      let answer = '';
      let started = 0;
      socket.on('secureConnect', () => {
        started = Date.now();
        socket.write(head);
      });
      socket.on('data', (d: Buffer) => (answer += d.toString()));
      socket.on('error', () => undefined); // a reset is one way of being cut off
      socket.on('close', () => resolve({ elapsedMs: Date.now() - started, answer }));
      setTimeout(() => reject(new Error('server never closed the stalled connection')), REQUEST_TIMEOUT * 6).unref();
    });
  }

  const usage = async () => (await callSidecar(sidecar.url, ca, { bearer: setup.apiKeys['free-demo']! }, 'GET', '/v1/usage')).body;

  test('a client that stalls mid-body gets 408 and is disconnected after the request timeout; the half-sent allocation is not applied', async () => {
    const before = await usage();
    const body = JSON.stringify({ tenant: 'free-demo', request_id: 'slow', count: 4 });
    const head = `POST /v1/blocks/allocate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 20)}`;
    const { elapsedMs, answer } = await stallingClient(head);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(elapsedMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT - 100);
    expect(elapsedMs).toBeLessThan(REQUEST_TIMEOUT + 2500);
    expect(await usage()).toEqual(before);
  });

  test('a client that stalls mid-headers is disconnected after the headers timeout', async () => {
    const { elapsedMs, answer } = await stallingClient('POST /v1/blocks/allocate HTTP/1.1\r\nHost: localhost\r\nContent-Type: appl');
    expect(answer === '' || /^HTTP\/1\.1 408/.test(answer)).toBe(true);
    expect(elapsedMs).toBeGreaterThanOrEqual(HEADERS_TIMEOUT - 100);
    expect(elapsedMs).toBeLessThan(REQUEST_TIMEOUT + 2500);
  });

  test('a client that never starts the TLS handshake is disconnected after the handshake timeout', async () => {
    const elapsedMs = await new Promise<number>((resolve, reject) => {
      const started = Date.now();
      const socket = netConnect({ host: '127.0.0.1', port: sidecar.port });
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(Date.now() - started));
      setTimeout(() => reject(new Error('server never closed the silent connection')), REQUEST_TIMEOUT * 6).unref();
    });
    expect(elapsedMs).toBeGreaterThanOrEqual(HEADERS_TIMEOUT - 100);
    expect(elapsedMs).toBeLessThan(REQUEST_TIMEOUT + 2500);
  });

  test('twenty stalled clients are all cut off while other clients are served, and the open socket count returns to baseline', async () => {
    const baseline = openSockets();
    const body = JSON.stringify({ tenant: 'standard-demo', request_id: 'slow-many', count: 1 });
    const stalled = Array.from({ length: 20 }, (_, i) =>
      stallingClient(i % 2 === 0
        ? `POST /v1/blocks/allocate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n{`
        : 'GET /v1/tenants/standard-demo/cache-salt HTTP/1.1\r\nHost: lo'),
    );
    await sleep(200);
    expect(openSockets()).toBeGreaterThanOrEqual(baseline + 20);
    // The stalled ones do not block anyone else.
    for (let i = 0; i < 5; i++) {
      const res = await callSidecar(sidecar.url, ca, worker, 'POST', '/v1/blocks/allocate', { tenant: 'standard-demo', request_id: `fast-${i}`, count: 1 });
      expect(res.status).toBe(200);
    }
    await Promise.all(stalled);
    const settled = await eventually(async () => openSockets(), (n) => n <= baseline, 3000);
    expect(settled).toBeLessThanOrEqual(baseline);
    expect((await callSidecar(sidecar.url, ca, {}, 'GET', '/healthz')).body).toEqual({ status: 'ok' });
  });
});

// ───────────────────────────── (e) revocation and expiry mid-connection ─────────────────────────────

describe('a certificate that expires while its keep-alive connection is open (issue 20.8)', () => {
  let tg: TestSidecar;
  beforeAll(async () => {
    tg = await startTestSidecar();
  });
  afterAll(async () => tg?.close());

  test('is refused with 401 TG_ERR_CERT_EXPIRED on the next request of the same connection', async () => {
    const ca = await loadCertificateAuthority(join(tg.setup.dir, 'pki'));
    // Issued "a day ago" for one day: valid for about three more seconds.
    const cert = await issueCertificate(ca, { role: 'worker', id: 'soon-expired', validityDays: 1, now: new Date(Date.now() - 86_400_000 + 3_000) });
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: tg.ca, cert: cert.certPem, key: cert.keyPem });
    const call = (): Promise<{ status: number; body: unknown; port: number }> =>
      new Promise((resolve, reject) => {
        const req = request(new URL('/v1/tenants/free-demo/cache-salt', tg.sidecar.url), { method: 'GET', agent, servername: 'localhost' }, (res) => {
          const port = res.socket.localPort ?? 0;
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) as unknown, port }));
        });
        req.on('error', reject);
        req.end();
      });
    try {
      const first = await call();
      expect(first.status).toBe(200);
      await new Promise((r) => setTimeout(r, Math.max(0, cert.notAfter.getTime() - Date.now()) + 1_100));
      const after = await call();
      expect(after.port).toBe(first.port); // the same TLS connection, no new handshake
      expect(after.status).toBe(401);
      expect(after.body).toMatchObject({ error: { code: 'TG_ERR_CERT_EXPIRED' } });
    } finally {
      agent.destroy();
    }
  });
});

describe('a certificate revoked while its keep-alive connection is open', () => {
  let tg: TestSidecar;
  beforeAll(async () => {
    tg = await startTestSidecar();
  });
  afterAll(async () => tg?.close());

  test('is refused with 401 TG_ERR_CERT_REVOKED on the next request of the same connection and on every new handshake', async () => {
    const ca = await loadCertificateAuthority(join(tg.setup.dir, 'pki'));
    const cert = await issueCertificate(ca, { role: 'worker', id: 'soon-revoked' });
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: tg.ca, cert: cert.certPem, key: cert.keyPem });
    const call = (method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown; port: number }> =>
      new Promise((resolve, reject) => {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const req = request(new URL(path, tg.sidecar.url), {
          method,
          agent,
          servername: 'localhost',
          headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
        }, (res) => {
          const port = res.socket.localPort ?? 0;
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) as unknown, port }));
        });
        req.on('error', reject);
        if (payload) req.write(payload);
        req.end();
      });
    try {
      const first = await call('GET', '/v1/tenants/free-demo/cache-salt');
      expect(first.status).toBe(200);
      const usageBefore = (await tg.call(tg.tenantKey('free-demo'), 'GET', '/v1/usage')).body;

      await revokeCertificate(join(tg.setup.dir, 'pki'), cert.serialNumber);
      // The sidecar watches the revocation list (every 100 ms in tests, 1 s by default).
      const refused = await eventually(() => call('GET', '/v1/tenants/free-demo/cache-salt'), (r) => r.status === 401);
      expect(refused.port).toBe(first.port); // the same TLS connection, no new handshake
      expect(refused.body).toMatchObject({ error: { code: 'TG_ERR_CERT_REVOKED' } });
      const change = await call('POST', '/v1/blocks/allocate', { tenant: 'free-demo', request_id: 'revoked', count: 1 });
      expect([change.status, change.port]).toEqual([401, first.port]);
      expect(change.body).toMatchObject({ error: { code: 'TG_ERR_CERT_REVOKED' } });
      expect((await tg.call(tg.tenantKey('free-demo'), 'GET', '/v1/usage')).body).toEqual(usageBefore);

      // A fresh handshake with the revoked certificate is refused as well.
      const fresh = await callSidecar(tg.sidecar.url, tg.ca, { cert: cert.certPem, key: cert.keyPem }, 'GET', '/v1/tenants/free-demo/cache-salt');
      expect(fresh.status).toBe(401);
      expect(fresh.body).toMatchObject({ error: { code: 'TG_ERR_CERT_REVOKED' } });
      // Everyone else is unaffected.
      expect((await tg.call(tg.worker, 'GET', '/v1/tenants/free-demo/cache-salt')).status).toBe(200);
    } finally {
      agent.destroy();
    }
  });
});

// ─────────────────── (f) keystore / offload disk refusing a write after the record ───────────────────

describe('storage refusing a write after its audit record: 503 TG_ERR_STORAGE_DOWN, nothing applied, and a second record says the change did not happen', () => {
  let tg: TestSidecar;
  beforeAll(async () => {
    tg = await startTestSidecar();
  });
  afterAll(async () => tg.close());

  /** The last two records: the write-ahead allow and the abort that must follow it. */
  const lastTwo = (): AuditRecord[] => auditRecords(join(tg.setup.dir, 'audit')).slice(-2);
  const expectAborted = (action: string, tenant: string): void => {
    const [ahead, abort] = lastTwo();
    expect(ahead).toMatchObject({ action, tenant, decision: 'allow' });
    expect(abort).toMatchObject({ action, tenant, decision: 'deny', reasons: ['storage_failed'], effects: { aborts: ahead!.seq } });
  };

  // The filesystem refuses for real: a directory where the store renames its finished file makes
  // rename(2) fail with EISDIR after the sealed temp file is written and the record is durable.
  test('offload put: the blob is not stored, the answer is 503, and the log pairs the allow with an abort', async () => {
    const blobPath = join(tg.setup.dir, 'offload', 'standard-demo', 'wedged.blob');
    mkdirSync(blobPath, { recursive: true });
    const put = await callOffload(tg.sidecar.url, tg.ca, tg.worker, { method: 'PUT', tenant: 'standard-demo', key: 'wedged', actingFor: 'standard-demo', body: Buffer.alloc(2048, 7) });
    expect(put.status).toBe(503);
    expect(errorCode({ body: JSON.parse(put.body.toString()) as unknown })).toBe('TG_ERR_STORAGE_DOWN');
    expectAborted('offload.put', 'standard-demo');
    expect(statSync(blobPath).isDirectory()).toBe(true);
    expect(readdirSync(join(tg.setup.dir, 'offload', 'standard-demo')).filter((f) => f.endsWith('.tmp'))).toEqual([]); // no temp file left
    rmSync(blobPath, { recursive: true });
    // The disk is healthy again: the same put works and reads back.
    expect((await callOffload(tg.sidecar.url, tg.ca, tg.worker, { method: 'PUT', tenant: 'standard-demo', key: 'wedged', actingFor: 'standard-demo', body: Buffer.alloc(2048, 7) })).status).toBe(201);
    const back = await callOffload(tg.sidecar.url, tg.ca, tg.worker, { method: 'GET', tenant: 'standard-demo', key: 'wedged', actingFor: 'standard-demo' });
    expect(back.body.equals(Buffer.alloc(2048, 7))).toBe(true);
  });

  test('key rotation: the keystore and the key version are unchanged, the answer is 503, and the log pairs the allow with an abort', async () => {
    const keystore = join(tg.setup.dir, 'keys', 'keystore.json');
    const saltBefore = await tg.call(tg.worker, 'GET', '/v1/tenants/free-demo/cache-salt');
    const bytesBefore = readFileSync(keystore);
    rmSync(keystore);
    mkdirSync(keystore);
    const rotate = await tg.call(tg.operator, 'POST', '/v1/tenants/free-demo/keys/rotate');
    expect([rotate.status, errorCode(rotate)]).toEqual([503, 'TG_ERR_STORAGE_DOWN']);
    expectAborted('keys.rotate', 'free-demo');
    rmSync(keystore, { recursive: true });
    writeFileSync(keystore, bytesBefore, { mode: 0o600 });
    expect((await tg.call(tg.worker, 'GET', '/v1/tenants/free-demo/cache-salt')).body).toEqual(saltBefore.body); // same version, same salt
    const retried = await tg.call(tg.operator, 'POST', '/v1/tenants/free-demo/keys/rotate');
    expect(retried.status).toBe(200);
    expect((retried.body as { version: number }).version).toBe((saltBefore.body as { version: number }).version + 1);
    expect((await tg.call(tg.operator, 'GET', '/v1/audit/verify')).status).toBe(200);
  });
});
