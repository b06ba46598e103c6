import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, TenantRegistry } from '../../src/config/index.js';
import { Entrypoints, parseBundle, PolicyEngine, REQUIRED_ENTRYPOINTS, type Decision } from '../../src/policy/index.js';
import { initDirectory } from '../../src/setup/index.js';
import { registryData } from '../../src/sidecar/index.js';
import { OPA_BIN, PROJECT_BUNDLE, REPO_ROOT } from '../support/opa.js';

/**
 * Issue 17.10: a security team loads the exact bundle the sidecar runs into stock OPA (the pinned
 * .tools/bin/opa, built without a WASM engine) plus the tenant registry document from
 * `tenantguard policy data`, and gets the sidecar's decisions for every entrypoint.
 */

const TENANTS = ['free-demo', 'standard-demo', 'enterprise-demo', 'ghost'] as const;
const tenant = fc.constantFrom(...TENANTS);
const role = fc.constantFrom('operator', 'worker', 'tenant', 'intruder');
const principal = fc.record({ role, id: fc.constantFrom(...TENANTS, 'admin', 'worker-1'), authn: fc.constantFrom('mtls', 'api_key') });
const count = fc.oneof(fc.integer({ min: -2, max: 5000 }), fc.constantFrom(0, 1, 2.5, '3'));
const blockIds = fc.array(fc.nat({ max: 20 }), { maxLength: 4 });

/** Inputs per entrypoint: the shapes the sidecar sends (policies/tenantguard/*.rego headers), plus wrong actions and odd values. */
const inputs: Record<string, fc.Arbitrary<unknown>> = {
  [Entrypoints.authz]: fc.record({
    principal,
    action: fc.constantFrom('health.read', 'blocks.allocate', 'adapters.register', 'usage.read', 'metrics.own', 'tenants.manage', 'policy.reload', 'nope.nothing'),
    tenant,
  }),
  [Entrypoints.blocks]: fc.record({
    principal,
    action: fc.constantFrom('blocks.allocate', 'blocks.claim', 'blocks.free', 'blocks.scrubbed', 'blocks.access', 'blocks.steal'),
    tenant,
    resource: fc.record({ count, blocks: blockIds }),
    facts: fc.record({
      owned: fc.nat({ max: 100 }),
      quota_blocks: fc.nat({ max: 100 }),
      pool: fc.record({ name: fc.constantFrom('shared', 'dedicated-enterprise'), dedicated_to: fc.option(tenant, { nil: undefined }) }, { requiredKeys: ['name'] }),
      foreign_blocks: blockIds,
      scrub_pending: blockIds,
    }),
  }),
  [Entrypoints.admission]: fc.record({
    principal,
    action: fc.oneof({ arbitrary: fc.constant('admission.request'), weight: 4 }, fc.constant('admission.skip')),
    tenant,
    resource: fc.record({ max_tokens: fc.oneof({ arbitrary: fc.integer({ min: 1, max: 5000 }), weight: 4 }, fc.integer({ min: -1, max: 2_000_000 }), fc.constantFrom(2.5, '10')) }),
    facts: fc.record({ in_flight: fc.nat({ max: 4 }), concurrent_limit: fc.integer({ min: 1, max: 8 }), tokens_in_window: fc.nat({ max: 10_000 }), tokens_per_minute: fc.integer({ min: 5000, max: 20_000 }) }),
  }),
  [Entrypoints.adapters]: fc.oneof(
    fc.record({
      principal,
      action: fc.constant('adapters.apply'),
      resource: fc.record({
        items: fc.array(
          fc.record({
            index: fc.nat({ max: 8 }),
            tenant,
            adapter_id: fc.constantFrom('a', 'acme/a'),
            facts: fc.record({ registered: fc.boolean(), owner_is_tenant: fc.boolean(), public: fc.boolean(), digest_matches: fc.boolean() }),
          }),
          { maxLength: 4 },
        ),
      }),
    }),
    fc.record({ principal, action: fc.constantFrom('adapters.register', 'adapters.delete'), tenant, resource: fc.record({ rank: fc.oneof(fc.integer({ min: -1, max: 300 }), fc.constant(1.5)), public: fc.boolean() }) }),
  ),
  [Entrypoints.keys]: fc.record({
    principal,
    action: fc.constantFrom('keys.datakey', 'keys.unwrap', 'keys.cache_salt', 'offload.put', 'offload.get', 'offload.delete', 'keys.steal'),
    tenant,
    facts: fc.record({ acting_for: tenant, sealed: fc.boolean(), erased: fc.boolean() }),
  }),
  [Entrypoints.metrics]: fc.record({
    principal,
    action: fc.constantFrom('metrics.read', 'metrics.write'),
    tenant,
    resource: fc.record({ scope: fc.constantFrom('own', 'tenant', 'aggregate', 'prometheus', 'everything'), fields: fc.subarray(['tokens', 'prefix_cache_hits_global', 'cluster_load', 'latency']) }),
  }),
};

const PER_ENTRYPOINT = 60;

/** The sidecar's decision as the policy's decision object, to compare with OPA's raw result. */
function asResult(decision: Decision): Record<string, unknown> {
  return { allow: decision.allow, reasons: decision.reasons, ...(decision.details ?? {}) };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

describe('stock OPA evaluates the project bundle like the sidecar (issue 17.10)', () => {
  let registryFile: string;
  let sidecarData: Record<string, unknown>;
  let engine: PolicyEngine;
  let opa: ChildProcess | null = null;
  let opaUrl: string;

  beforeAll(async () => {
    const setup = await initDirectory(mkdtempSync(join(tmpdir(), 'tg-parity-')), { port: 0 });
    // The registry document exactly as the CLI writes it for a security team.
    registryFile = join(mkdtempSync(join(tmpdir(), 'tg-parity-data-')), 'registry.json');
    execFileSync(process.execPath, [join(REPO_ROOT, 'bin/tenantguard.js'), 'policy', 'data', '--config', setup.configFile, '--output', registryFile], { stdio: 'pipe' });
    const config = loadConfig(setup.configFile);
    // The sidecar's own engine, with the data the sidecar builds (build-services.ts).
    sidecarData = registryData(config, new TenantRegistry(config.tenants));
    engine = new PolicyEngine({ bundlePath: PROJECT_BUNDLE, requiredEntrypoints: REQUIRED_ENTRYPOINTS, externalData: sidecarData });
    const loaded = await engine.reload();
    if (!loaded.ok) throw new Error(loaded.error);

    const port = await freePort();
    opaUrl = `http://127.0.0.1:${port}`;
    const child = spawn(OPA_BIN, ['run', '--server', '--addr', `127.0.0.1:${port}`, '--log-level', 'error', PROJECT_BUNDLE, registryFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    opa = child;
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`opa run exited ${child.exitCode}: ${stderr}`);
      try {
        if ((await fetch(`${opaUrl}/health?bundles`)).ok) break;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) throw new Error(`opa run did not become healthy: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 30_000);

  afterAll(() => {
    engine?.close();
    opa?.kill('SIGTERM');
  });

  it('the registry document from `tenantguard policy data` is the data the sidecar evaluates with', () => {
    expect(JSON.parse(readFileSync(registryFile, 'utf8'))).toEqual(sidecarData);
  });

  it('the bundle owns only its package and its own data (roots tenantguard, tiers) and names no WASM resolver stock OPA would need an engine for', () => {
    const bundle = parseBundle(readFileSync(PROJECT_BUNDLE));
    expect([...bundle.manifest.roots].sort()).toEqual(['tenantguard', 'tiers']);
    expect([...bundle.manifest.entrypoints].sort()).toEqual([...REQUIRED_ENTRYPOINTS].sort());
  });

  it('the bundle keeps data.tenants and data.limits outside its roots, so the registry document adds them', async () => {
    const res = await fetch(`${opaUrl}/v1/data/tenants`);
    const body = (await res.json()) as { result?: Record<string, { tier: string }> };
    expect(Object.keys(body.result ?? {}).sort()).toEqual(['enterprise-demo', 'free-demo', 'standard-demo']);
    const limits = (await (await fetch(`${opaUrl}/v1/data/limits`)).json()) as { result?: unknown };
    expect(limits.result).toEqual({ max_blocks_per_call: 4096 });
  });

  it.each(Object.values(Entrypoints))('opa run --server (real HTTP) answers %s exactly as PolicyEngine does, for allowed and denied inputs', async (entrypoint) => {
    const samples = fc.sample(inputs[entrypoint]!, { numRuns: PER_ENTRYPOINT, seed: 1717 });
    const outcomes = new Set<boolean>();
    for (const input of samples) {
      // JSON round trip: what either side receives over the wire (fast-check's undefined fields vanish).
      const wire: unknown = JSON.parse(JSON.stringify(input));
      const res = await fetch(`${opaUrl}/v1/data/${entrypoint}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input: wire }) });
      expect(res.status).toBe(200);
      const { result } = (await res.json()) as { result?: unknown };
      const sidecar = engine.decide(entrypoint, wire);
      expect(sidecar.reasons.some((r) => r.startsWith('policy_')), JSON.stringify(sidecar)).toBe(false);
      expect(result, JSON.stringify(wire)).toEqual(asResult(sidecar));
      outcomes.add(sidecar.allow);
    }
    // Representative: the sample holds both allowed and denied inputs.
    expect([...outcomes].sort()).toEqual([false, true]);
  });

  it('opa eval -b BUNDLE -d REGISTRY (the documented one-off command) gives the sidecar decision', () => {
    const input = { principal: { role: 'tenant', id: 'enterprise-demo', authn: 'api_key' }, action: 'usage.read', tenant: 'enterprise-demo' };
    const dir = mkdtempSync(join(tmpdir(), 'tg-parity-eval-'));
    writeFileSync(join(dir, 'input.json'), JSON.stringify(input));
    const out = execFileSync(OPA_BIN, ['eval', '-b', PROJECT_BUNDLE, '-d', registryFile, '-i', join(dir, 'input.json'), '-f', 'raw', `data.${Entrypoints.authz.replaceAll('/', '.')}`], { encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual(asResult(engine.decide(Entrypoints.authz, input)));
    expect(JSON.parse(out)).toMatchObject({ allow: false, reasons: ['mtls_required'] });
  });
});
