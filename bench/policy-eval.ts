/**
 * Micro-benchmark: microseconds per in-process policy decision for batches of 1, 16 and 256
 * operations, using the project bundle built by `npm run policy:build`.
 * Run: npm run build && node dist/bench/policy-eval.js
 */
import { DEFAULT_POLICY_BUNDLE } from '../src/config/index.js';
import { Entrypoints, PolicyEngine, REQUIRED_ENTRYPOINTS } from '../src/policy/index.js';
import { reportLine, type BenchResult } from './report.js';

const bundlePath = DEFAULT_POLICY_BUNDLE;

function freeBatch(size: number): unknown {
  const blocks = Array.from({ length: size }, (_, i) => i);
  return {
    principal: { role: 'worker', id: 'w1', authn: 'mtls' },
    action: 'blocks.free',
    tenant: 'bob',
    resource: { blocks },
    facts: { foreign_blocks: [], scrub_pending: [] },
  };
}

const allocate = {
  principal: { role: 'worker', id: 'w1', authn: 'mtls' },
  action: 'blocks.allocate',
  tenant: 'bob',
  resource: { count: 16 },
  facts: { owned: 0, cached: 0, quota_blocks: 1024, pool: { name: 'shared' } },
};

function measure(engine: PolicyEngine, name: string, entrypoint: string, input: unknown, ops: number): BenchResult {
  const iterations = Math.max(2000, Math.floor(200_000 / ops));
  for (let i = 0; i < 500; i++) engine.decide(entrypoint, input); // warm-up (JIT, wasm memory growth)
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    if (!engine.decide(entrypoint, input).allow) throw new Error(`${name}: unexpected deny`);
  }
  const micros = Number(process.hrtime.bigint() - start) / 1000 / iterations;
  return { name, unit: 'us/decision', value: micros, extra: { operations: ops, iterations, usPerOperation: micros / ops } };
}

export async function runPolicyBench(): Promise<BenchResult[]> {
  const engine = new PolicyEngine({ bundlePath, requiredEntrypoints: REQUIRED_ENTRYPOINTS, externalData: { tenants: { bob: { tier: 'free' } } } });
  const loaded = await engine.reload();
  if (!loaded.ok) throw new Error(loaded.error);
  return [
    measure(engine, 'authz, 1 operation', Entrypoints.authz, { principal: { role: 'worker', id: 'w1', authn: 'mtls' }, action: 'blocks.allocate' }, 1),
    measure(engine, 'blocks.allocate, 16 blocks', Entrypoints.blocks, allocate, 16),
    measure(engine, 'blocks.free, 1 block', Entrypoints.blocks, freeBatch(1), 1),
    measure(engine, 'blocks.free, 16 blocks', Entrypoints.blocks, freeBatch(16), 16),
    measure(engine, 'blocks.free, 256 blocks', Entrypoints.blocks, freeBatch(256), 256),
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const result of await runPolicyBench()) console.log(reportLine(result));
}
