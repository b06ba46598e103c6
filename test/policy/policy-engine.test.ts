import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { Entrypoints, PolicyEngine, REQUIRED_ENTRYPOINTS, parseBundle } from '../../src/policy/index.js';
import { buildBundle, PROJECT_BUNDLE, REPO_ROOT } from '../support/opa.js';

const registry = { tenants: { bob: { tier: 'free' }, acme: { tier: 'enterprise' } } };

function copyOfProjectBundle(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'tg-engine-')), 'bundle.tar.gz');
  copyFileSync(PROJECT_BUNDLE, path);
  return path;
}

async function loadedEngine(bundlePath = copyOfProjectBundle()): Promise<PolicyEngine> {
  const engine = new PolicyEngine({ bundlePath, requiredEntrypoints: REQUIRED_ENTRYPOINTS, externalData: registry });
  const result = await engine.reload();
  expect(result.ok).toBe(true);
  return engine;
}

const allocate = (tenant: string, count: number, owned: number, quota: number) => ({
  principal: { role: 'worker', id: 'w1', authn: 'mtls' },
  action: 'blocks.allocate',
  tenant,
  resource: { count },
  facts: { owned, cached: 0, quota_blocks: quota, pool: { name: 'shared' } },
});

describe('PolicyEngine with the project bundle compiled by opa build', () => {
  test('the bundle carries one entrypoint per policy area and a revision', () => {
    const bundle = parseBundle(readFileSync(PROJECT_BUNDLE));
    expect([...bundle.manifest.entrypoints].sort()).toEqual([...REQUIRED_ENTRYPOINTS].sort());
    expect(bundle.manifest.revision).toMatch(/^[0-9a-f]{16}$/);
    expect(bundle.wasm.byteLength).toBeGreaterThan(1000);
  });

  test('authz allows a worker on a worker route and denies a tenant on it', async () => {
    const engine = await loadedEngine();
    const worker = engine.decide(Entrypoints.authz, { principal: { role: 'worker', id: 'w1', authn: 'mtls' }, action: 'blocks.allocate' });
    expect(worker).toEqual({ allow: true, reasons: [] });
    const tenant = engine.decide(Entrypoints.authz, { principal: { role: 'tenant', id: 'bob', authn: 'api_key' }, action: 'blocks.allocate', tenant: 'bob' });
    expect(tenant).toEqual({ allow: false, reasons: ['role_not_permitted'] });
  });

  test('authz sees the tenant registry set as external data (enterprise needs mTLS)', async () => {
    const engine = await loadedEngine();
    const input = { principal: { role: 'tenant', id: 'acme', authn: 'api_key' }, action: 'usage.read', tenant: 'acme' };
    expect(engine.decide(Entrypoints.authz, input).reasons).toEqual(['mtls_required']);
    engine.setExternalData({ tenants: { acme: { tier: 'free' } } });
    expect(engine.decide(Entrypoints.authz, input).allow).toBe(true);
  });

  test('blocks allows an allocation within quota and denies one beyond it', async () => {
    const engine = await loadedEngine();
    expect(engine.decide(Entrypoints.blocks, allocate('bob', 4, 0, 4)).allow).toBe(true);
    expect(engine.decide(Entrypoints.blocks, allocate('bob', 5, 0, 4))).toEqual({ allow: false, reasons: ['quota_exceeded'] });
  });

  test('a 256-operation batch input is decided in one evaluation with a reason per refused block', async () => {
    const engine = await loadedEngine();
    const blocks = Array.from({ length: 256 }, (_, i) => i);
    const decision = engine.decide(Entrypoints.blocks, {
      action: 'blocks.free', tenant: 'bob', resource: { blocks }, facts: { foreign_blocks: [7, 200], scrub_pending: [] },
    });
    expect(decision).toEqual({ allow: false, reasons: ['not_owner:200', 'not_owner:7'] });
  });
});

describe('PolicyEngine fails closed', () => {
  test('with no bundle loaded every decision is a deny', () => {
    const engine = new PolicyEngine({ bundlePath: '/nonexistent/bundle.tar.gz', requiredEntrypoints: REQUIRED_ENTRYPOINTS });
    expect(engine.ready).toBe(false);
    expect(engine.decide(Entrypoints.authz, {})).toEqual({ allow: false, reasons: ['policy_unavailable'] });
  });

  test('a missing bundle file is refused with an actionable error', async () => {
    const engine = new PolicyEngine({ bundlePath: '/nonexistent/bundle.tar.gz', requiredEntrypoints: REQUIRED_ENTRYPOINTS });
    const result = await engine.reload();
    expect(result).toMatchObject({ ok: false, error: expect.stringContaining('npm run policy:build') });
  });

  test('a corrupt bundle is refused', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'tg-corrupt-')), 'bundle.tar.gz');
    writeFileSync(path, Buffer.from('this is not a gzip archive'));
    const engine = new PolicyEngine({ bundlePath: path, requiredEntrypoints: REQUIRED_ENTRYPOINTS });
    expect(await engine.reload()).toMatchObject({ ok: false, error: expect.stringContaining('gzip') });
    expect(engine.decide(Entrypoints.blocks, allocate('bob', 1, 0, 4)).allow).toBe(false);
  });

  test('a bundle without policy.wasm is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-nowasm-'));
    execFileSync('tar', ['xzf', PROJECT_BUNDLE, '-C', dir]);
    rmSync(join(dir, 'policy.wasm'));
    const path = join(dir, 'bundle.tar.gz');
    execFileSync('tar', ['czf', path, '-C', dir, '.manifest', 'data.json']);
    const engine = new PolicyEngine({ bundlePath: path, requiredEntrypoints: REQUIRED_ENTRYPOINTS });
    expect(await engine.reload()).toMatchObject({ ok: false, error: expect.stringContaining('policy.wasm') });
  });

  test('a bundle lacking a required entrypoint is refused as incomplete', async () => {
    const path = buildBundle(join(REPO_ROOT, 'policies'), [Entrypoints.authz]);
    const engine = new PolicyEngine({ bundlePath: path, requiredEntrypoints: REQUIRED_ENTRYPOINTS });
    expect(await engine.reload()).toMatchObject({ ok: false, error: expect.stringContaining(Entrypoints.blocks) });
  });

  test('a wrong entrypoint name is a deny with a reason', async () => {
    const engine = await loadedEngine();
    expect(engine.decide('tenantguard/nope/decision', {})).toEqual({ allow: false, reasons: ['unknown_entrypoint'] });
  });

  test('a conflict error raised during evaluation is a deny with a reason', async () => {
    const path = buildBundle(join(REPO_ROOT, 'test/fixtures/policies/conflict'), ['tenantguard/conflict/decision']);
    const engine = new PolicyEngine({ bundlePath: path, requiredEntrypoints: ['tenantguard/conflict/decision'] });
    expect((await engine.reload()).ok).toBe(true);
    expect(engine.decide('tenantguard/conflict/decision', { a: true })).toEqual({ allow: true, reasons: [] });
    const conflict = engine.decide('tenantguard/conflict/decision', { a: true, b: true });
    expect(conflict.allow).toBe(false);
    expect(conflict.reasons).toEqual(['policy_error:eval_conflict_error']);
  });

  test('an undefined decision is a deny', async () => {
    const path = buildBundle(join(REPO_ROOT, 'test/fixtures/policies/conflict'), ['tenantguard/conflict/decision']);
    const engine = new PolicyEngine({ bundlePath: path, requiredEntrypoints: [] });
    await engine.reload();
    expect(engine.decide('tenantguard/conflict/decision', {})).toEqual({ allow: false, reasons: ['policy_undefined'] });
  });

  test('a failed reload keeps the previous bundle serving', async () => {
    const path = copyOfProjectBundle();
    const engine = await loadedEngine(path);
    const before = engine.info;
    writeFileSync(path, Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad]));
    const result = await engine.reload();
    expect(result).toMatchObject({ ok: false, kept: before });
    expect(engine.info).toBe(before);
    expect(engine.decide(Entrypoints.blocks, allocate('bob', 1, 0, 4)).allow).toBe(true);
  });

  test('a good reload swaps the bundle and updates revision and load time', async () => {
    const path = copyOfProjectBundle();
    const engine = await loadedEngine(path);
    const before = engine.info!;
    const other = buildBundle(join(REPO_ROOT, 'policies'), REQUIRED_ENTRYPOINTS); // no --revision: empty
    copyFileSync(other, path);
    const result = await engine.reload();
    expect(result.ok).toBe(true);
    expect(engine.info!.sha256).not.toBe(before.sha256);
    expect(engine.info!.loadedAt.getTime()).toBeGreaterThanOrEqual(before.loadedAt.getTime());
  });
});
