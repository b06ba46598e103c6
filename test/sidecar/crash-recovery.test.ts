/**
 * SIGKILL under load. A real sidecar process serves mixed concurrent traffic — admission and
 * completion, allocate / scrub / access / free, encrypted offload puts, key rotations — and is
 * killed mid-flight, then restarted, `TG_CRASH_ROUNDS` times (default 3). After every kill the log
 * the dead process left must verify and rebuild a ledger with every docs/design.md invariant intact;
 * after every restart the running sidecar must still have every acknowledged operation.
 *
 * What the client knows for certain is only what was acknowledged: an operation in flight at the
 * kill may or may not have landed. Allocations in flight are resolved from the log by request id
 * (Jepsen-style); other in-flight operations make their blocks or blobs "either outcome".
 *
 * The same for claim mode: simulated engines that own their block pool send one `POST /v1/steps`
 * per scheduler step, concurrently, and the sidecar is killed with steps in flight. Every
 * acknowledged claim, shared prefix hit, release and scrub confirmation must be in the rebuilt
 * ledger and in the restarted process; each op of a step that was in flight landed whole or not
 * at all, and what it touched is then read from the rebuilt ledger.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, test } from 'vitest';
import { openSetupAudit, verifySetupAudit } from '../support/sidecar.js';
import { loadAuditKey, type AuditKey } from '../../src/audit/index.js';
import { SidecarClient, type StepOp, type StepRequest, type StepResponse } from '../../src/client/index.js';
import { loadConfig } from '../../src/config/index.js';
import type { BlockLedger, BlockState } from '../../src/ledger/index.js';
import { initDirectory, type InitResult } from '../../src/setup/index.js';
import { restoreStateFromAudit } from '../../src/sidecar/index.js';
import { mtlsClient, spawnSidecar, type SidecarProcess } from '../support/process-sidecar.js';

const ROUNDS = Number(process.env['TG_CRASH_ROUNDS'] ?? 3);
/** Shared-pool tenants compete for a small pool (so blocks change tenants and need scrubbing); enterprise-demo has its own pool (I5). */
const BLOCK_TENANTS = ['free-demo', 'standard-demo', 'enterprise-demo'] as const;
const OFFLOAD_TENANTS = ['free-demo', 'standard-demo'] as const;
const ROTATED_TENANT = 'standard-demo';
const SHARED_POOL_LAST = 63;
const DEDICATED_POOL = { first: 16384, last: 24575 };
type Tenant = (typeof BLOCK_TENANTS)[number];

const digest = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** Everything acknowledged so far, and what was in flight at the last kill. */
class AckModel {
  readonly owned = new Map<number, Tenant>();
  readonly dirty = new Map<number, Tenant>();
  /** Owned blocks that came with `scrub: true` and whose scrub was not yet confirmed (I2), with their use epoch. */
  readonly awaitingScrub = new Map<number, number>();
  /** Blocks touched by an operation in flight at the kill (a free or a scrub confirmation). */
  readonly uncertain = new Set<number>();
  /** Allocations in flight at the kill, resolved afterwards from the audit log by request id. */
  readonly inflightAllocations = new Map<string, Tenant>();
  /** Admission request id → its tenant. */
  readonly admitted = new Map<string, Tenant>();
  readonly completed = new Map<string, Tenant>();
  /** Offloaded blob name → digest of its last acknowledged content; and a put in flight at the kill. */
  readonly blobs = new Map<string, string>();
  readonly blobInFlight = new Map<string, string>();
  rotatedTo = 0;

  allocated(tenant: Tenant, blocks: ReadonlyArray<{ readonly id: number; readonly scrub: boolean; readonly epoch: number }>): void {
    for (const { id, scrub, epoch } of blocks) {
      this.owned.set(id, tenant);
      this.dirty.delete(id);
      if (scrub) this.awaitingScrub.set(id, epoch);
    }
  }
}

/** The history the dead process left: what the sidecar will replay at its next start. */
/** Ids in the history are recorded ids (keyed digests, L1): `recordedId` maps a client's id to one. */
async function readHistory(configFile: string): Promise<{ allocations: Map<string, number[]>; admitted: Set<string>; completed: Set<string>; rotatedTo: number; recordedId: AuditKey['recordedId'] }> {
  const audit = await openSetupAudit(configFile);
  const history = { allocations: new Map<string, number[]>(), admitted: new Set<string>(), completed: new Set<string>(), rotatedTo: 0, recordedId: await recordedIds(configFile) };
  for await (const record of audit.records()) {
    if (record.decision !== 'allow') continue;
    const requestId = record.effects?.['request_id'];
    if (record.action === 'blocks.allocate' && typeof requestId === 'string') history.allocations.set(requestId, record.blocks ?? []);
    if (record.action === 'admission.request' && typeof requestId === 'string') history.admitted.add(requestId);
    if (record.action === 'admission.complete' && typeof requestId === 'string') history.completed.add(requestId);
    if (record.action === 'keys.rotate' && record.tenant === ROTATED_TENANT) history.rotatedTo = Math.max(history.rotatedTo, record.counts?.['version'] ?? 0);
  }
  await audit.close();
  return history;
}

/** How the sidecar of `configFile` records client-chosen ids (keyed digests, L1): what its ledger and log hold. */
async function recordedIds(configFile: string): Promise<AuditKey['recordedId']> {
  const key = await loadAuditKey(loadConfig(configFile, {}).paths.auditKey);
  return key.recordedId.bind(key);
}

async function rebuildLedger(configFile: string): Promise<BlockLedger> {
  const config = loadConfig(configFile, {});
  const audit = await openSetupAudit(configFile);
  const { ledger } = await restoreStateFromAudit(config, audit, pino({ level: 'silent' }));
  await audit.close();
  return ledger;
}

/** Offline, from the log of the killed process: chain, invariants and every acknowledged operation. */
async function checkAfterKill(setup: InitResult, model: AckModel): Promise<void> {
  expect((await verifySetupAudit(setup)).ok).toBe(true);
  const history = await readHistory(setup.configFile);
  const ledger = await rebuildLedger(setup.configFile);
  // An allocation whose answer was lost is looked up in the history: if it landed, its blocks are the tenant's.
  for (const [requestId, tenant] of model.inflightAllocations) {
    for (const id of history.allocations.get(history.recordedId('request', tenant, requestId)) ?? []) {
      expect(ledger.blockState(id)).toMatchObject({ state: 'owned', tenant });
      model.dirty.delete(id);
      model.owned.set(id, tenant);
      model.uncertain.add(id); // whether it needs a scrub is read from the ledger below
    }
  }
  model.inflightAllocations.clear();

  expect(ledger.checkInvariants()).toEqual({ ok: true, violations: [] }); // I1, I3, I5 and the ledger's own bookkeeping
  for (const [id, tenant] of model.owned) {
    if (model.uncertain.has(id)) continue;
    const state = ledger.blockState(id);
    expect(state).toMatchObject({ state: 'owned', tenant });
    // I2: a block handed over with another tenant's data stays unreadable until its scrub is confirmed, also across a crash.
    expect(state?.state === 'owned' && state.awaitingScrub).toBe(model.awaitingScrub.has(id));
    if (tenant === 'enterprise-demo') expect(id >= DEDICATED_POOL.first && id <= DEDICATED_POOL.last).toBe(true); // I5
  }
  for (const [id, tenant] of model.dirty) {
    if (model.uncertain.has(id)) continue;
    // Never forgotten as dirty: still holding this tenant's data until someone scrubs it (I2).
    expect(ledger.blockState(id)).toMatchObject({ state: 'dirty', tenant });
  }
  for (const [id, tenant] of model.admitted) expect(history.admitted.has(history.recordedId('admission', tenant, id))).toBe(true);
  for (const [id, tenant] of model.completed) expect(history.completed.has(history.recordedId('admission', tenant, id))).toBe(true);
  expect(history.rotatedTo).toBeGreaterThanOrEqual(model.rotatedTo);
  // Whatever was in flight has now either landed or not; the truth is the rebuilt ledger.
  for (const id of model.uncertain) {
    const state = ledger.blockState(id)!;
    model.owned.delete(id);
    model.dirty.delete(id);
    model.awaitingScrub.delete(id);
    if (state.state === 'owned') {
      model.owned.set(id, state.tenant as Tenant);
      if (state.awaitingScrub) model.awaitingScrub.set(id, ledger.epochOf(id)!);
    } else if (state.state === 'dirty') model.dirty.set(id, state.tenant as Tenant);
  }
  model.uncertain.clear();
}

/** Online, against the restarted process: blobs open with their acknowledged bytes, keys did not go back, salts stay per tenant. */
async function checkAfterRestart(sidecar: SidecarProcess, worker: ReturnType<typeof mtlsClient>, model: AckModel): Promise<void> {
  for (const name of new Set([...model.blobs.keys(), ...model.blobInFlight.keys()])) {
    const [tenant, key] = name.split('/') as [string, string];
    const res = await worker.raw(sidecar.url, 'GET', `/v1/offload/${tenant}/${key}`, undefined, { 'x-tenantguard-acting-for': tenant });
    const either = [model.blobs.get(name), model.blobInFlight.get(name)];
    if (res.status === 404) {
      expect(model.blobs.has(name)).toBe(false); // only a put that was never acknowledged may be missing
      continue;
    }
    expect(res.status).toBe(200);
    expect(either).toContain(digest(res.bytes));
    model.blobs.set(name, digest(res.bytes));
  }
  model.blobInFlight.clear();
  const salts = await Promise.all(OFFLOAD_TENANTS.map((t) => worker.call(sidecar.url, 'GET', `/v1/tenants/${t}/cache-salt`)));
  const [free, standard] = salts.map((s) => s.body as { version: number; cache_salt: string });
  expect(standard!.version).toBeGreaterThanOrEqual(Math.max(1, model.rotatedTo));
  expect(free!.cache_salt).not.toBe(standard!.cache_salt); // I6
}

function patchConfig(configFile: string): void {
  const yaml = readFileSync(configFile, 'utf8');
  const patched = yaml.replace('last: 16383', `last: ${SHARED_POOL_LAST}`);
  if (patched === yaml) throw new Error('shared pool not found in the init config');
  writeFileSync(configFile, patched);
}

// ───────────────────────── claim mode: POST /v1/steps ─────────────────────────

/** Both use the shared pool (patched to 0..SHARED_POOL_LAST), so blocks pass between them and need scrubbing. */
const STEP_TENANTS = ['free-demo', 'standard-demo'] as const;
type StepTenant = (typeof STEP_TENANTS)[number];
/** Concurrent scheduler loops. Engine e owns the blocks with id % ENGINES === e; engine 0 talks over the worker Unix socket, the others over mTLS. */
const ENGINES = 3;
const POOL_IDS = Array.from({ length: SHARED_POOL_LAST + 1 }, (_, id) => id);

const ascending = (ids: Iterable<number>): number[] => [...ids].sort((a, b) => a - b);
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
/** Up to `n` distinct items, in random order. */
function sample<T>(items: readonly T[], n: number): T[] {
  const rest = [...items];
  const out: T[] = [];
  while (out.length < n && rest.length > 0) out.push(rest.splice(Math.floor(Math.random() * rest.length), 1)[0]!);
  return out;
}
function asStepTenant(id: string): StepTenant {
  const tenant = STEP_TENANTS.find((t) => t === id);
  if (tenant === undefined) throw new Error(`not a claim-mode tenant of this test: ${id}`);
  return tenant;
}

/** Everything /v1/steps acknowledged, as the engines' own bookkeeping has it, and the steps in flight at the last kill. */
class StepModel {
  /** Who last wrote each block: a tenant, or null for mixed data (contaminated); no entry: clean. */
  readonly data = new Map<number, StepTenant | null>();
  /** Held blocks claimed with another tenant's or mixed data whose scrub is not yet confirmed (I2), with their use epoch (-1 until the answer tells it). */
  readonly awaitingScrub = new Map<number, number>();
  /** Live requests (ids are unique across tenants) and the blocks each holds. */
  readonly requests = new Map<string, { tenant: StepTenant; blocks: Set<number> }>();
  /** Per engine, the step it had sent and had no answer for when the process died. */
  readonly inflight = new Map<number, StepRequest>();

  clone(): StepModel {
    const copy = new StepModel();
    for (const [id, owner] of this.data) copy.data.set(id, owner);
    for (const [id, epoch] of this.awaitingScrub) copy.awaitingScrub.set(id, epoch);
    for (const [requestId, r] of this.requests) copy.requests.set(requestId, { tenant: r.tenant, blocks: new Set(r.blocks) });
    return copy;
  }

  /** The tenant whose live requests hold block `id` (null: none), and how many of them do. */
  holders(id: number): { tenant: StepTenant | null; count: number } {
    let tenant: StepTenant | null = null;
    let count = 0;
    for (const r of this.requests.values()) {
      if (!r.blocks.has(id)) continue;
      tenant = r.tenant;
      count++;
    }
    return { tenant, count };
  }

  requestIds(tenant: StepTenant): string[] {
    return [...this.requests].filter(([, r]) => r.tenant === tenant).map(([id]) => id).sort();
  }

  /** The tenant's held blocks (shared ones once). */
  heldBy(tenant: StepTenant): number[] {
    return ascending(new Set([...this.requests.values()].filter((r) => r.tenant === tenant).flatMap((r) => [...r.blocks])));
  }

  /** What the ledger must say about block `id`. */
  expected(id: number): BlockState {
    const { tenant } = this.holders(id);
    if (tenant !== null) return { id, pool: 'shared', state: 'owned', tenant, awaitingScrub: this.awaitingScrub.has(id) };
    const owner = this.data.get(id);
    return owner === undefined ? { id, pool: 'shared', state: 'clean' } : { id, pool: 'shared', state: 'dirty', tenant: owner };
  }

  /**
   * One allowed op, as the ledger applies it: the blocks a claim must be told to scrub, prefix hits
   * on blocks another live request holds (shared), and blocks released before their scrub was confirmed.
   */
  apply(op: StepOp): { scrub: number[]; shared: number; contaminated: number } {
    const out = { scrub: [] as number[], shared: 0, contaminated: 0 };
    if (op.op === 'scrubbed') {
      for (const id of op.blocks) {
        if (this.holders(id).count > 0) this.awaitingScrub.delete(id);
        else this.data.delete(id);
      }
      return out;
    }
    const tenant = asStepTenant(op.tenant);
    if (op.op === 'claim') {
      const request = this.requests.get(op.request_id) ?? { tenant, blocks: new Set<number>() };
      for (const id of op.prefix_hits ?? []) {
        if (this.holders(id).count > 0) out.shared++;
        request.blocks.add(id);
      }
      for (const id of op.blocks) {
        const owner = this.data.get(id);
        if (owner !== undefined && owner !== tenant) {
          this.awaitingScrub.set(id, -1);
          out.scrub.push(id);
        }
        this.data.set(id, tenant);
        request.blocks.add(id);
      }
      this.requests.set(op.request_id, request);
      return out;
    }
    const request = this.requests.get(op.request_id);
    if (request === undefined) throw new Error(`model: release by ${op.request_id}, which holds nothing`);
    for (const id of op.blocks) {
      request.blocks.delete(id);
      if (this.holders(id).count > 0) continue; // still held by another request of the tenant
      if (this.awaitingScrub.delete(id)) {
        this.data.set(id, null);
        out.contaminated++;
      }
    }
    if (request.blocks.size === 0) this.requests.delete(op.request_id);
    return out;
  }

  /** After a kill, for an op whose step was in flight: its request and blocks are what the rebuilt ledger says. */
  adopt(ledger: BlockLedger, op: StepOp, rid: AuditKey['recordedId']): void {
    if (op.op !== 'scrubbed') {
      const held = ledger.requestBlocks(op.tenant, rid('request', op.tenant, op.request_id));
      if (held.length === 0) this.requests.delete(op.request_id);
      else this.requests.set(op.request_id, { tenant: asStepTenant(op.tenant), blocks: new Set(held) });
    }
    for (const id of op.op === 'claim' ? [...op.blocks, ...(op.prefix_hits ?? [])] : op.blocks) {
      const state = ledger.blockState(id)!;
      this.awaitingScrub.delete(id);
      if (state.state === 'clean') this.data.delete(id);
      else if (state.state === 'owned') {
        this.data.set(id, asStepTenant(state.tenant));
        if (state.awaitingScrub) this.awaitingScrub.set(id, ledger.epochOf(id)!);
      } else this.data.set(id, state.tenant === null ? null : asStepTenant(state.tenant)); // dirty (claim mode here never caches)
    }
  }
}

/**
 * One scheduler step of engine `engine`, planned on what it knows (everything acknowledged: it has
 * one step in flight at a time): confirm scrubs of earlier steps (sometimes a step late), finish
 * or preempt some requests, give running ones another block, admit new ones on free blocks of its
 * slice — sometimes with prefix hits on blocks another live request of the same tenant holds, or
 * on the tenant's own leftovers. Ops are planned in order on a copy, so each sees the ones before it.
 */
function planStep(model: StepModel, engine: number, newRequestId: () => string): StepOp[] {
  const scratch = model.clone();
  const ops: StepOp[] = [];
  const push = (op: StepOp): void => {
    scratch.apply(op);
    ops.push(op);
  };
  const mine = POOL_IDS.filter((id) => id % ENGINES === engine);
  const free = (): number[] => mine.filter((id) => scratch.holders(id).count === 0);

  const confirm = mine.filter((id) => scratch.awaitingScrub.has(id) && Math.random() < 0.7);
  if (confirm.length > 0) push({ op: 'scrubbed', blocks: confirm, epochs: confirm.map((id) => scratch.awaitingScrub.get(id)!) });
  const running: Array<[string, StepTenant]> = [];
  for (const [requestId, { tenant, blocks }] of [...scratch.requests].filter(([id]) => id.startsWith(`e${engine}-`))) {
    const fate = Math.random();
    if (fate < 0.3) push({ op: 'release', tenant, request_id: requestId, blocks: ascending(blocks) });
    else if (fate < 0.4 && blocks.size > 1) push({ op: 'release', tenant, request_id: requestId, blocks: [pick([...blocks])] }); // preempted: one block dropped
    else running.push([requestId, tenant]);
  }
  for (const [requestId, tenant] of running) {
    const candidates = free();
    if (candidates.length > 0 && Math.random() < 0.35) push({ op: 'claim', tenant, request_id: requestId, blocks: [pick(candidates)] });
  }
  for (let arrivals = Math.random() < 0.4 ? 2 : 1; arrivals > 0; arrivals--) {
    const tenant = pick(STEP_TENANTS);
    const shareable = mine.filter((id) => scratch.holders(id).tenant === tenant && !scratch.awaitingScrub.has(id));
    const leftovers = mine.filter((id) => scratch.holders(id).count === 0 && scratch.data.get(id) === tenant);
    const hits = Math.random() < 0.5 ? sample(shareable, 1 + Math.floor(Math.random() * 2)) : Math.random() < 0.3 ? sample(leftovers, 1) : [];
    const fresh = sample(free().filter((id) => !hits.includes(id)), 1 + Math.floor(Math.random() * 3));
    if (fresh.length === 0) continue; // the engine's slice is full: the request waits
    push({ op: 'claim', tenant, request_id: newRequestId(), blocks: fresh, ...(hits.length > 0 ? { prefix_hits: hits } : {}) });
  }
  return ops;
}

/** Offline, from the log of the killed process: chain, invariants, every acknowledged request, hold and block fact. */
async function checkStepsAfterKill(setup: InitResult, model: StepModel, kills: { inflight: number }): Promise<void> {
  expect((await verifySetupAudit(setup)).ok).toBe(true);
  const ledger = await rebuildLedger(setup.configFile);
  const rid = await recordedIds(setup.configFile);
  for (const request of model.inflight.values()) {
    kills.inflight++;
    // Each op landed whole or not at all: its request holds what it held before, or that with the op applied.
    // (A step touches each request at most once, so "before" is the acknowledged state.)
    for (const op of request.ops) {
      if (op.op === 'scrubbed') continue;
      const before = model.requests.get(op.request_id)?.blocks ?? new Set<number>();
      const after = op.op === 'claim' ? new Set([...before, ...op.blocks, ...(op.prefix_hits ?? [])]) : new Set([...before].filter((id) => !op.blocks.includes(id)));
      expect([ascending(before), ascending(after)]).toContainEqual(ledger.requestBlocks(op.tenant, rid('request', op.tenant, op.request_id)));
    }
  }
  // Whatever was in flight has now either landed or not; the truth for what it touched is the rebuilt ledger.
  for (const request of model.inflight.values()) for (const op of request.ops) model.adopt(ledger, op, rid);
  model.inflight.clear();

  expect(ledger.checkInvariants()).toEqual({ ok: true, violations: [] }); // I1, I3, I5, hold counts and the ledger's own bookkeeping
  for (const tenant of STEP_TENANTS) {
    // No acknowledged request lost, none resurrected, and each holds exactly its blocks (shared ones included).
    expect(ledger.liveRequests(tenant).sort()).toEqual(model.requestIds(tenant).map((r) => rid('request', tenant, r)).sort());
    for (const requestId of model.requestIds(tenant)) expect(ledger.requestBlocks(tenant, rid('request', tenant, requestId))).toEqual(ascending(model.requests.get(requestId)!.blocks));
  }
  // Held blocks: owned by the right tenant, awaitingScrub exactly while unconfirmed (I2). Released ones: dirty
  // with their tenant, or contaminated when released before the scrub was confirmed. Untouched ones: clean.
  for (const id of POOL_IDS) expect(ledger.blockState(id)).toEqual(model.expected(id));
}

/**
 * Online, against the restarted process: each tenant's usage is what it holds, and a block one
 * tenant's request holds is refused to the other (I1), with nothing changed. Returns the probes made.
 */
async function checkStepsOnline(sidecar: SidecarProcess, engine: SidecarClient, tenants: Record<StepTenant, ReturnType<typeof mtlsClient>>, model: StepModel, nextStep: () => number): Promise<number> {
  let probes = 0;
  for (const tenant of STEP_TENANTS) {
    const held = model.heldBy(tenant);
    const usage = await tenants[tenant].call(sidecar.url, 'GET', '/v1/usage');
    expect(usage.status).toBe(200);
    expect((usage.body as { blocks: unknown }).blocks).toMatchObject({ owned: held.length, cached: 0, awaiting_scrub: held.filter((id) => model.awaitingScrub.has(id)).length });
    if (held.length === 0) continue;
    const id = pick(held);
    const step = nextStep();
    const other = STEP_TENANTS.find((t) => t !== tenant)!;
    const res = await engine.step({ step, ops: [{ op: 'claim', tenant: other, request_id: `probe-${step}`, blocks: [id] }] });
    expect(res).toEqual({ step, scrub: [], scrub_epochs: [], results: [{ index: 0, ok: false, code: 'TG_ERR_NOT_OWNER', reasons: [`not_owner:${id}`] }] });
    probes++;
  }
  return probes;
}

/** The shared pool patched small, plus the worker Unix socket (claim mode's fast local path). */
function patchStepsConfig(configFile: string): void {
  patchConfig(configFile);
  const yaml = readFileSync(configFile, 'utf8');
  const patched = yaml.replace(/port: 0\n/, 'port: 0\n  unix_socket: ./worker.sock\n');
  if (patched === yaml) throw new Error('listen port not found in the init config');
  writeFileSync(configFile, patched);
}

describe('crash recovery under mixed load', () => {
  test('after each SIGKILL under concurrent admission, block, offload and rotation traffic, every acknowledged operation survives, the invariants hold and the chain verifies', async () => {
    const setup = await initDirectory(mkdtempSync(join(tmpdir(), 'tg-crash-')), { port: 0 });
    patchConfig(setup.configFile);
    const model = new AckModel();
    const worker = mtlsClient(setup, setup.files.worker);
    const operator = mtlsClient(setup, setup.files.operator);
    let sequence = 0;
    const acked = { blocks: 0, scrubs: 0, admissions: 0, offloads: 0, rotations: 0 };

    for (let round = 0; round < ROUNDS; round++) {
      const sidecar = await spawnSidecar(setup.configFile);
      if (round > 0) await checkAfterRestart(sidecar, worker, model);
      if (round === 0) {
        // Leave the whole shared pool holding standard-demo's data, so free-demo's allocations
        // take it over and must be scrubbed (allocation prefers clean and own blocks, which would
        // otherwise make cross-tenant reuse rare).
        const all = await worker.call(sidecar.url, 'POST', '/v1/blocks/allocate', { tenant: 'standard-demo', request_id: 'fill', count: SHARED_POOL_LAST + 1 });
        expect(all.status).toBe(200);
        const ids = (all.body as { blocks: Array<{ id: number }> }).blocks.map((b) => b.id);
        expect((await worker.call(sidecar.url, 'POST', '/v1/blocks/free', { tenant: 'standard-demo', blocks: ids })).status).toBe(200);
        for (const id of ids) model.dirty.set(id, 'standard-demo');
      }
      let stop = false;
      /** Runs `step` until the kill; a failure after the kill is the dead connection, not a finding. */
      const loop = async (step: () => Promise<void>): Promise<void> => {
        while (!stop) {
          try {
            await step();
          } catch (error) {
            if (stop) return;
            throw error;
          }
        }
      };

      /** Each block worker carries on with its share of what its tenant owns (across restarts too). */
      const blockWorker = (tenant: Tenant, index: number): Promise<void> => {
        const mine = [...model.owned].filter(([id, owner]) => owner === tenant && id % 2 === index).map(([id]) => id);
        return loop(async () => {
          const unconfirmed = mine.filter((id) => model.awaitingScrub.has(id));
          if (unconfirmed.length > 0) {
            unconfirmed.forEach((id) => model.uncertain.add(id));
            const res = await worker.call(sidecar.url, 'POST', '/v1/blocks/scrubbed', { blocks: unconfirmed, epochs: unconfirmed.map((id) => model.awaitingScrub.get(id)!) });
            expect(res.status).toBe(200);
            unconfirmed.forEach((id) => {
              model.awaitingScrub.delete(id);
              model.uncertain.delete(id);
            });
            acked.scrubs++;
          } else if (mine.length > 0 && Math.random() < 0.45) {
            const batch = mine.splice(0, 1 + Math.floor(Math.random() * mine.length));
            batch.forEach((id) => model.uncertain.add(id));
            const read = await worker.call(sidecar.url, 'POST', '/v1/blocks/access', { tenant, blocks: batch, mode: 'read' });
            expect(read.status).toBe(200); // owned and scrubbed: readable
            const res = await worker.call(sidecar.url, 'POST', '/v1/blocks/free', { tenant, blocks: batch });
            expect(res.status).toBe(200);
            for (const id of batch) {
              model.owned.delete(id);
              model.dirty.set(id, tenant);
              model.uncertain.delete(id);
            }
            acked.blocks++;
          } else {
            const requestId = `crash-${sequence++}`;
            model.inflightAllocations.set(requestId, tenant);
            const res = await worker.call(sidecar.url, 'POST', '/v1/blocks/allocate', { tenant, request_id: requestId, count: 1 + Math.floor(Math.random() * 4) });
            model.inflightAllocations.delete(requestId);
            if (res.status === 429) return; // quota or pool exhausted: nothing changed
            expect(res.status).toBe(200);
            const blocks = (res.body as { blocks: Array<{ id: number; scrub: boolean; epoch: number }> }).blocks;
            model.allocated(tenant, blocks);
            mine.push(...blocks.map((b) => b.id));
            acked.blocks++;
          }
        });
      };

      const admissionWorker = (): Promise<void> =>
        loop(async () => {
          const requestId = `adm-${sequence++}`;
          const tenant = BLOCK_TENANTS[sequence % BLOCK_TENANTS.length]!;
          const admit = await worker.call(sidecar.url, 'POST', '/v1/admission', { tenant, request_id: requestId, max_tokens: 8 });
          if (admit.status === 429) return;
          expect(admit.status).toBe(200);
          model.admitted.set(requestId, tenant);
          const done = await worker.call(sidecar.url, 'POST', `/v1/admission/${requestId}/complete`, { input_tokens: 2, output_tokens: 3 });
          expect(done.status).toBe(200);
          model.completed.set(requestId, tenant);
          acked.admissions++;
        });

      const offloadWorker = (tenant: string): Promise<void> =>
        loop(async () => {
          const name = `${tenant}/k${sequence++ % 4}`;
          const bytes = randomBytes(4096);
          model.blobInFlight.set(name, digest(bytes));
          const res = await worker.raw(sidecar.url, 'PUT', `/v1/offload/${name}`, bytes, { 'x-tenantguard-acting-for': tenant });
          expect(res.status).toBe(201);
          model.blobs.set(name, digest(bytes));
          model.blobInFlight.delete(name);
          acked.offloads++;
        });

      const rotationWorker = (): Promise<void> =>
        loop(async () => {
          const res = await operator.call(sidecar.url, 'POST', `/v1/tenants/${ROTATED_TENANT}/keys/rotate`);
          expect(res.status).toBe(200);
          model.rotatedTo = Math.max(model.rotatedTo, (res.body as { version: number }).version);
          acked.rotations++;
          await new Promise((r) => setTimeout(r, 40));
        });

      const traffic = BLOCK_TENANTS.flatMap((tenant) => [blockWorker(tenant, 0), blockWorker(tenant, 1)]);
      traffic.push(admissionWorker(), ...OFFLOAD_TENANTS.map(offloadWorker), rotationWorker());
      await new Promise((r) => setTimeout(r, 500 + (round % 3) * 200));
      stop = true;
      await sidecar.kill('SIGKILL');
      await Promise.all(traffic);
      await checkAfterKill(setup, model);
    }

    // The restarted process agrees: blobs, keys and salts, and owned blocks readable exactly when scrubbed.
    const sidecar = await spawnSidecar(setup.configFile);
    await checkAfterRestart(sidecar, worker, model);
    for (const [id, tenant] of model.owned) {
      const res = await worker.call(sidecar.url, 'POST', '/v1/blocks/access', { tenant, blocks: [id], mode: 'read' });
      expect(res.status).toBe(model.awaitingScrub.has(id) ? 409 : 200);
    }
    // The run did exercise every kind of operation, across the kills.
    expect(acked.blocks).toBeGreaterThan(20);
    expect(acked.scrubs).toBeGreaterThan(0);
    expect(acked.admissions).toBeGreaterThan(5);
    expect(acked.offloads).toBeGreaterThan(5);
    expect(acked.rotations).toBeGreaterThan(2);
    await sidecar.kill('SIGTERM');
    worker.close();
    operator.close();
  }, 120_000);

  test('claim mode: after each SIGKILL with scheduler steps in flight, every acknowledged claim, shared prefix hit, release and scrub confirmation survives, offline and in the restarted process', async () => {
    const setup = await initDirectory(mkdtempSync(join(tmpdir(), 'tg-crash-steps-')), { port: 0 });
    patchStepsConfig(setup.configFile);
    const socketPath = loadConfig(setup.configFile, {}).listen.unixSocket!;
    const worker = { ca: readFileSync(setup.files.ca), cert: readFileSync(setup.files.worker.cert), key: readFileSync(setup.files.worker.key), servername: 'localhost' };
    const tenants = { 'free-demo': mtlsClient(setup, setup.files.tenants['free-demo']!), 'standard-demo': mtlsClient(setup, setup.files.tenants['standard-demo']!) };
    const connect = (sidecar: SidecarProcess): SidecarClient[] =>
      Array.from({ length: ENGINES }, (_, engine) => (engine === 0 ? new SidecarClient({ socketPath }) : new SidecarClient({ url: sidecar.url, ...worker })));
    const model = new StepModel();
    let stepNo = 0;
    let sequence = 0;
    const nextStep = (): number => stepNo++;
    const acked = { steps: 0, scrubLists: 0, sharedHits: 0, contaminated: 0, probes: 0 };
    const kills = { inflight: 0 };
    /** The process and clients of the moment, so that a failing check does not leave a sidecar running. */
    let running: SidecarProcess | undefined;
    const open = new Set<SidecarClient>();
    const start = async (): Promise<[SidecarProcess, SidecarClient[]]> => {
      running = await spawnSidecar(setup.configFile);
      const clients = connect(running);
      clients.forEach((c) => open.add(c));
      return [running, clients];
    };
    const stopProcess = async (sidecar: SidecarProcess, signal: NodeJS.Signals): Promise<void> => {
      await sidecar.kill(signal);
      running = undefined;
    };
    const closeClients = async (clients: SidecarClient[]): Promise<void> => {
      await Promise.all(clients.map((c) => c.close()));
      clients.forEach((c) => open.delete(c));
    };

    try {
      for (let round = 0; round < ROUNDS; round++) {
        const [sidecar, clients] = await start();
        if (round > 0) acked.probes += await checkStepsOnline(sidecar, clients[1]!, tenants, model, nextStep);
        let stop = false;
        /** One engine's scheduler: a step, its answer, a forward pass, the next step. */
        const engineLoop = async (engine: number): Promise<void> => {
          while (!stop) {
            const request: StepRequest = { step: nextStep(), ops: planStep(model, engine, () => `e${engine}-${sequence++}`) };
            model.inflight.set(engine, request);
            let res: StepResponse;
            try {
              res = await clients[engine]!.step(request);
            } catch (error) {
              if (stop) return; // the dead connection: the step stays in flight, resolved after the kill
              throw error;
            }
            model.inflight.delete(engine);
            expect(res.step).toBe(request.step);
            // Each engine claims only in its own slice and quotas are far above the pool: every op is allowed.
            expect(res.results).toEqual(request.ops.map((_, index) => ({ index, ok: true })));
            const scrub: number[] = [];
            for (const op of request.ops) {
              const effect = model.apply(op);
              scrub.push(...effect.scrub);
              acked.sharedHits += effect.shared;
              acked.contaminated += effect.contaminated;
            }
            // I2: exactly the claimed blocks holding the other tenant's or mixed data are to be zeroed.
            expect(res.scrub).toEqual(scrub);
            res.scrub.forEach((id, i) => model.awaitingScrub.set(id, res.scrub_epochs[i]!));
            acked.steps++;
            if (scrub.length > 0) acked.scrubLists++;
            // The forward pass. Engine 0 plans its next step as soon as an answer arrives, so every kill finds a step in flight.
            if (engine > 0) await new Promise((r) => setTimeout(r, Math.random() * 2));
          }
        };
        const traffic = Array.from({ length: ENGINES }, (_, engine) => engineLoop(engine));
        await new Promise((r) => setTimeout(r, 400 + (round % 3) * 200));
        stop = true;
        await stopProcess(sidecar, 'SIGKILL');
        await Promise.all(traffic);
        await closeClients(clients);
        await checkStepsAfterKill(setup, model, kills);
      }

      const [sidecar, [engine]] = await start();
      acked.probes += await checkStepsOnline(sidecar, engine!, tenants, model, nextStep);
      // Every acknowledged request still holds exactly its blocks: releasing them all succeeds (I4 refuses anything it does not hold).
      const releases: StepOp[] = [...model.requests].map(([requestId, r]) => ({ op: 'release', tenant: r.tenant, request_id: requestId, blocks: ascending(r.blocks) }));
      expect(releases.length).toBeGreaterThan(0);
      const released = await engine!.step({ step: nextStep(), ops: releases });
      expect(released.results).toEqual(releases.map((_, index) => ({ index, ok: true })));
      releases.forEach((op) => model.apply(op));
      for (const tenant of STEP_TENANTS) expect(((await tenants[tenant].call(sidecar.url, 'GET', '/v1/usage')).body as { blocks: unknown }).blocks).toMatchObject({ owned: 0 });
      // And every block's data owner survived: a claim of the whole pool is told to scrub exactly the blocks holding another tenant's or mixed data.
      const sweep = nextStep();
      const foreign = POOL_IDS.filter((id) => model.data.has(id) && model.data.get(id) !== 'free-demo');
      expect(await engine!.step({ step: sweep, ops: [{ op: 'claim', tenant: 'free-demo', request_id: 'sweep', blocks: POOL_IDS }] })).toMatchObject({ step: sweep, scrub: foreign, results: [{ index: 0, ok: true }] });

      // The run did exercise claim mode: many steps, scrub lists, shared holds, contamination, steps in flight at the kills.
      expect(acked.steps).toBeGreaterThan(50);
      expect(acked.scrubLists).toBeGreaterThan(0);
      expect(acked.sharedHits).toBeGreaterThan(0);
      expect(acked.contaminated).toBeGreaterThan(0);
      expect(acked.probes).toBeGreaterThan(0);
      expect(kills.inflight).toBeGreaterThan(0);
      await closeClients([...open]);
      await stopProcess(sidecar, 'SIGTERM');
    } finally {
      await Promise.allSettled([...open].map((c) => c.close()));
      if (running !== undefined) await running.kill('SIGKILL');
      Object.values(tenants).forEach((t) => t.close());
    }
  }, 120_000);
});
