/**
 * One "cycle" is what a worker does for a 16-block slice of a request: allocate 16 blocks, access
 * them, free them. Usage stays flat, so a cycle can repeat for as long as the run lasts.
 *
 *  - tenantguard: 3 HTTP calls (POST /v1/blocks/allocate, /access, /free). Each call is
 *    authenticated (mTLS client certificate → SPIFFE principal, or the Unix-socket worker),
 *    authorized (tenantguard.authz), decided (tenantguard.blocks, one evaluation per batch of 16),
 *    applied to the block ledger (I1, I2, I4 in code) and made durable in the hash-chained audit log
 *    (fdatasync, group commit) before the response is sent.
 *  - OPA: 3 queries (POST /v1/data/tenantguard/blocks/decision) with the same input the sidecar
 *    builds for those calls (principal, action, tenant, resource, facts). OPA keeps no state, so
 *    the facts (usage, foreign blocks) come from the caller; nothing is authenticated or recorded.
 */
import { BENCH_TENANTS } from './targets.js';
import { expectOk, type JsonClient } from './http-client.js';
import type { Samples } from './loadgen.js';

/**
 * A cycle as the load generator runs it. Call latencies go to `calls.sink` when the cycle is
 * measured: the first call from the cycle's scheduled send time (so a late send counts), the
 * others from their own send time (they start when the previous answer arrives).
 */
export type Cycle = (scheduledAt?: number, measured?: boolean) => Promise<void>;
export interface CallLatencies {
  sink: Samples | null;
}

async function timed<T>(calls: CallLatencies, measured: boolean | undefined, from: number, call: Promise<T>): Promise<T> {
  const result = await call;
  if (measured && calls.sink) calls.sink.add(performance.now() - from);
  return result;
}

export const BLOCKS_PER_CALL = 16;
export const CALLS_PER_CYCLE = 3;

export function tenantguardCycle(client: JsonClient, calls: CallLatencies = { sink: null }, blocksPerCall = BLOCKS_PER_CALL): Cycle {
  let n = 0;
  return async (scheduledAt, measured) => {
    const i = n++;
    const tenant = BENCH_TENANTS[i % BENCH_TENANTS.length]!;
    const allocated = JSON.parse(
      expectOk(
        await timed(calls, measured, scheduledAt ?? performance.now(), client.post('/v1/blocks/allocate', `{"tenant":"${tenant}","request_id":"bench-${i}","count":${blocksPerCall}}`)),
        'allocate',
      ),
    ) as { blocks: Array<{ id: number; scrub: boolean; epoch: number }> };
    const ids = allocated.blocks.map((b) => b.id);
    if (ids.length !== blocksPerCall) throw new Error(`allocate returned ${ids.length} blocks`);
    const list = ids.join(',');
    // A block that last held another tenant's data must be zeroed and confirmed before a read
    // (I2). The pool is large and each tenant gets its own dirty blocks back first, so this is rare.
    const toScrub = allocated.blocks.filter((b) => b.scrub);
    if (toScrub.length > 0) expectOk(await client.post('/v1/blocks/scrubbed', scrubbedBody(toScrub)), 'scrubbed');
    expectOk(await timed(calls, measured, performance.now(), client.post('/v1/blocks/access', `{"tenant":"${tenant}","blocks":[${list}],"mode":"read"}`)), 'access');
    expectOk(await timed(calls, measured, performance.now(), client.post('/v1/blocks/free', `{"tenant":"${tenant}","blocks":[${list}]}`)), 'free');
  };
}

/** The confirmation of zeroed blocks, each with the use epoch its allocation answer gave (I2). */
function scrubbedBody(blocks: ReadonlyArray<{ id: number; epoch: number }>): string {
  return `{"blocks":[${blocks.map((b) => b.id).join(',')}],"epochs":[${blocks.map((b) => b.epoch).join(',')}]}`;
}

const PRINCIPAL = '{"role":"worker","id":"worker-1","authn":"mtls"}';

function opaAllow(body: string, what: string): void {
  const parsed = JSON.parse(expectOk({ status: 200, body }, what)) as { result?: { allow?: boolean; reasons?: string[] } };
  if (parsed.result?.allow !== true) throw new Error(`${what}: OPA denied (${(parsed.result?.reasons ?? ['undefined']).join(',')})`);
}

/** The same three decisions, asked of OPA's REST API; block ids and usage vary per cycle. */
export function opaCycle(client: JsonClient, quotaBlocks: number, calls: CallLatencies = { sink: null }, blocksPerCall = BLOCKS_PER_CALL): Cycle {
  let n = 0;
  const path = '/v1/data/tenantguard/blocks/decision';
  const check = async (from: number, measured: boolean | undefined, body: string, what: string): Promise<void> => {
    const response = await timed(calls, measured, from, client.post(path, body));
    if (response.status !== 200) expectOk(response, what);
    opaAllow(response.body, what);
  };
  return async (scheduledAt, measured) => {
    const i = n++;
    const tenant = BENCH_TENANTS[i % BENCH_TENANTS.length]!;
    const first = (i * blocksPerCall) % (1 << 20);
    const list = Array.from({ length: blocksPerCall }, (_, k) => first + k).join(',');
    const owned = (i * 7) % 512;
    await check(
      scheduledAt ?? performance.now(),
      measured,
      `{"input":{"principal":${PRINCIPAL},"action":"blocks.allocate","tenant":"${tenant}","resource":{"count":${blocksPerCall}},"facts":{"owned":${owned},"cached":0,"quota_blocks":${quotaBlocks},"pool":{"name":"shared"}}}}`,
      'allocate',
    );
    await check(
      performance.now(),
      measured,
      `{"input":{"principal":${PRINCIPAL},"action":"blocks.access","tenant":"${tenant}","resource":{"blocks":[${list}],"mode":"read"},"facts":{"foreign_blocks":[],"scrub_pending":[]}}}`,
      'access',
    );
    await check(
      performance.now(),
      measured,
      `{"input":{"principal":${PRINCIPAL},"action":"blocks.free","tenant":"${tenant}","resource":{"blocks":[${list}],"cache":false},"facts":{"foreign_blocks":[],"scrub_pending":[]}}}`,
      'free',
    );
  };
}

/**
 * The allocation path as a decoding worker drives it: a request's KV cache grows by 16 blocks per
 * step (one allocate call each, `GROWTH_STEPS` of them, the steps of one request in sequence), then
 * the request ends and all its blocks are freed in one call. Allocate calls dominate, so this is
 * where "allocate calls/s" is measured; every call still takes the full path (authenticated,
 * authorized, decided, applied, durable before the answer). Only allocate latencies go to `calls.sink`.
 */
export const GROWTH_STEPS = 8;

export function tenantguardGrowth(client: JsonClient, calls: CallLatencies = { sink: null }): Cycle {
  let n = 0;
  return async (scheduledAt, measured) => {
    const i = n++;
    const tenant = BENCH_TENANTS[i % BENCH_TENANTS.length]!;
    const ids: number[] = [];
    const toScrub: Array<{ id: number; epoch: number }> = [];
    for (let step = 0; step < GROWTH_STEPS; step++) {
      const from = step === 0 ? (scheduledAt ?? performance.now()) : performance.now();
      // One request_id per allocate call: the same id again would be a retry of the first step
      // and get its blocks back (issue 17.5), so each growth step names itself.
      const body = `{"tenant":"${tenant}","request_id":"grow-${i}.${step}","count":${BLOCKS_PER_CALL}}`;
      const allocated = JSON.parse(expectOk(await timed(calls, measured, from, client.post('/v1/blocks/allocate', body)), 'allocate')) as {
        blocks: Array<{ id: number; scrub: boolean; epoch: number }>;
      };
      for (const b of allocated.blocks) {
        ids.push(b.id);
        if (b.scrub) toScrub.push(b);
      }
    }
    if (toScrub.length > 0) expectOk(await client.post('/v1/blocks/scrubbed', scrubbedBody(toScrub)), 'scrubbed');
    expectOk(await client.post('/v1/blocks/free', `{"tenant":"${tenant}","blocks":[${ids.join(',')}]}`), 'free');
  };
}

/** The same request shape asked of OPA: `GROWTH_STEPS` allocate decisions, then one free decision. */
export function opaGrowth(client: JsonClient, quotaBlocks: number, calls: CallLatencies = { sink: null }): Cycle {
  let n = 0;
  const path = '/v1/data/tenantguard/blocks/decision';
  return async (scheduledAt, measured) => {
    const i = n++;
    const tenant = BENCH_TENANTS[i % BENCH_TENANTS.length]!;
    const owned = (i * 7) % 512;
    for (let step = 0; step < GROWTH_STEPS; step++) {
      const from = step === 0 ? (scheduledAt ?? performance.now()) : performance.now();
      const body = `{"input":{"principal":${PRINCIPAL},"action":"blocks.allocate","tenant":"${tenant}","resource":{"count":${BLOCKS_PER_CALL}},"facts":{"owned":${owned + step * BLOCKS_PER_CALL},"cached":0,"quota_blocks":${quotaBlocks},"pool":{"name":"shared"}}}}`;
      const response = await timed(calls, measured, from, client.post(path, body));
      opaAllow(expectOk(response, 'allocate'), 'allocate');
    }
    const first = (i * GROWTH_STEPS * BLOCKS_PER_CALL) % (1 << 20);
    const list = Array.from({ length: GROWTH_STEPS * BLOCKS_PER_CALL }, (_, k) => first + k).join(',');
    opaAllow(
      expectOk(
        await client.post(path, `{"input":{"principal":${PRINCIPAL},"action":"blocks.free","tenant":"${tenant}","resource":{"blocks":[${list}],"cache":false},"facts":{"foreign_blocks":[],"scrub_pending":[]}}}`),
        'free',
      ),
      'free',
    );
  };
}
