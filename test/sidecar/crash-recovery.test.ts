/**
 * SIGKILL under load. A real sidecar process serves mixed concurrent traffic — admission and
 * completion, allocate / scrub / access / free, encrypted offload puts, key rotations — and is
 * killed mid-flight, then restarted, `TG_CRASH_ROUNDS` times (default 3). After every kill the log
 * the dead process left must verify and rebuild a ledger with every DESIGN.md invariant intact;
 * after every restart the running sidecar must still have every acknowledged operation.
 *
 * What the client knows for certain is only what was acknowledged: an operation in flight at the
 * kill may or may not have landed. Allocations in flight are resolved from the log by request id
 * (Jepsen-style); other in-flight operations make their blocks or blobs "either outcome".
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, test } from 'vitest';
import { AuditLog, verifyAuditLog } from '../../src/audit/index.js';
import { loadConfig } from '../../src/config/index.js';
import type { BlockLedger } from '../../src/ledger/index.js';
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
  /** Owned blocks that came with `scrub: true` and whose scrub was not yet confirmed (I2). */
  readonly awaitingScrub = new Set<number>();
  /** Blocks touched by an operation in flight at the kill (a free or a scrub confirmation). */
  readonly uncertain = new Set<number>();
  /** Allocations in flight at the kill, resolved afterwards from the audit log by request id. */
  readonly inflightAllocations = new Map<string, Tenant>();
  readonly admitted = new Set<string>();
  readonly completed = new Set<string>();
  /** Offloaded blob name → digest of its last acknowledged content; and a put in flight at the kill. */
  readonly blobs = new Map<string, string>();
  readonly blobInFlight = new Map<string, string>();
  rotatedTo = 0;

  allocated(tenant: Tenant, blocks: ReadonlyArray<{ readonly id: number; readonly scrub: boolean }>): void {
    for (const { id, scrub } of blocks) {
      this.owned.set(id, tenant);
      this.dirty.delete(id);
      if (scrub) this.awaitingScrub.add(id);
    }
  }
}

/** The history the dead process left: what the sidecar will replay at its next start. */
async function readHistory(configFile: string): Promise<{ allocations: Map<string, number[]>; admitted: Set<string>; completed: Set<string>; rotatedTo: number }> {
  const audit = await AuditLog.open({ dir: loadConfig(configFile, {}).paths.audit });
  const history = { allocations: new Map<string, number[]>(), admitted: new Set<string>(), completed: new Set<string>(), rotatedTo: 0 };
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

async function rebuildLedger(configFile: string): Promise<BlockLedger> {
  const config = loadConfig(configFile, {});
  const audit = await AuditLog.open({ dir: config.paths.audit });
  const { ledger } = await restoreStateFromAudit(config, audit, pino({ level: 'silent' }));
  await audit.close();
  return ledger;
}

/** Offline, from the log of the killed process: chain, invariants and every acknowledged operation. */
async function checkAfterKill(setup: InitResult, model: AckModel): Promise<void> {
  expect((await verifyAuditLog(join(setup.dir, 'audit'))).ok).toBe(true);
  const history = await readHistory(setup.configFile);
  const ledger = await rebuildLedger(setup.configFile);
  // An allocation whose answer was lost is looked up in the history: if it landed, its blocks are the tenant's.
  for (const [requestId, tenant] of model.inflightAllocations) {
    for (const id of history.allocations.get(requestId) ?? []) {
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
  for (const id of model.admitted) expect(history.admitted.has(id)).toBe(true);
  for (const id of model.completed) expect(history.completed.has(id)).toBe(true);
  expect(history.rotatedTo).toBeGreaterThanOrEqual(model.rotatedTo);
  // Whatever was in flight has now either landed or not; the truth is the rebuilt ledger.
  for (const id of model.uncertain) {
    const state = ledger.blockState(id)!;
    model.owned.delete(id);
    model.dirty.delete(id);
    model.awaitingScrub.delete(id);
    if (state.state === 'owned') {
      model.owned.set(id, state.tenant as Tenant);
      if (state.awaitingScrub) model.awaitingScrub.add(id);
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
            const res = await worker.call(sidecar.url, 'POST', '/v1/blocks/scrubbed', { blocks: unconfirmed });
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
            const blocks = (res.body as { blocks: Array<{ id: number; scrub: boolean }> }).blocks;
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
          model.admitted.add(requestId);
          const done = await worker.call(sidecar.url, 'POST', `/v1/admission/${requestId}/complete`, { input_tokens: 2, output_tokens: 3 });
          expect(done.status).toBe(200);
          model.completed.add(requestId);
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
});
