import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { AuditLog, verifyAuditLog } from '../../src/audit/index.js';
import { loadConfig } from '../../src/config/index.js';
import type { BlockLedger } from '../../src/ledger/index.js';
import { restoreStateFromAudit } from '../../src/sidecar/index.js';
import { pino } from 'pino';
import { initDirectory } from '../../src/setup/index.js';
import { mtlsClient, spawnSidecar } from '../support/process-sidecar.js';

const TENANTS = ['free-demo', 'standard-demo'] as const;
type Tenant = (typeof TENANTS)[number];

/**
 * What the client knows for certain: allocations and frees that were acknowledged. Operations in
 * flight when the process died may or may not have landed; their blocks are "uncertain".
 */
class AckModel {
  readonly owned = new Map<number, Tenant>();
  readonly dirty = new Map<number, Tenant>();
  /** Blocks of frees in flight at the kill: no request id to look them up by. */
  readonly uncertain = new Set<number>();
  /** Allocations in flight at the kill, resolved afterwards from the audit log by request id. */
  readonly inflightAllocations = new Map<string, Tenant>();

  allocated(tenant: Tenant, ids: readonly number[]): void {
    for (const id of ids) {
      this.owned.set(id, tenant);
      this.dirty.delete(id);
    }
  }
}

async function rebuildLedger(configFile: string): Promise<BlockLedger> {
  const config = loadConfig(configFile, {});
  const audit = await AuditLog.open({ dir: config.paths.audit });
  const { ledger } = await restoreStateFromAudit(config, audit, pino({ level: 'silent' }));
  await audit.close();
  return ledger;
}

/** Jepsen-style: an operation whose answer was lost is looked up in the history (the audit log). */
async function resolveInflightAllocations(configFile: string, model: AckModel): Promise<void> {
  const audit = await AuditLog.open({ dir: loadConfig(configFile, {}).paths.audit });
  for await (const record of audit.records()) {
    const requestId = record.effects?.['request_id'];
    if (record.action !== 'blocks.allocate' || record.decision !== 'allow' || typeof requestId !== 'string') continue;
    const tenant = model.inflightAllocations.get(requestId);
    if (tenant) model.allocated(tenant, record.blocks ?? []);
  }
  await audit.close();
  model.inflightAllocations.clear();
}

describe('crash recovery', () => {
  test('after SIGKILL under concurrent allocate/free traffic every acknowledged operation survives', async () => {
    const setup = await initDirectory(mkdtempSync(join(tmpdir(), 'tg-crash-')), { port: 0 });
    const model = new AckModel();
    const client = mtlsClient(setup, setup.files.worker);
    let request = 0;

    for (let round = 0; round < 3; round++) {
      const sidecar = await spawnSidecar(setup.configFile);
      let stop = false;
      const worker = async (tenant: Tenant): Promise<void> => {
        const mine: number[] = [];
        while (!stop) {
          try {
            if (mine.length > 0 && Math.random() < 0.45) {
              const batch = mine.splice(0, 1 + Math.floor(Math.random() * mine.length));
              batch.forEach((id) => model.uncertain.add(id));
              const res = await client.call(sidecar.url, 'POST', '/v1/blocks/free', { tenant, blocks: batch });
              if (res.status !== 200) throw new Error(`free refused: ${JSON.stringify(res.body)}`);
              for (const id of batch) {
                model.owned.delete(id);
                model.dirty.set(id, tenant);
                model.uncertain.delete(id);
              }
            } else {
              const requestId = `crash-${request++}`;
              model.inflightAllocations.set(requestId, tenant);
              const res = await client.call(sidecar.url, 'POST', '/v1/blocks/allocate', { tenant, request_id: requestId, count: 1 + Math.floor(Math.random() * 4) });
              model.inflightAllocations.delete(requestId);
              if (res.status !== 200) continue;
              const ids = (res.body as { blocks: { id: number }[] }).blocks.map((b) => b.id);
              model.allocated(tenant, ids);
              mine.push(...ids);
            }
          } catch (error) {
            if (stop) return; // the connection died with the process: outcome unknown
            throw error;
          }
        }
      };
      const workers = [...TENANTS, ...TENANTS, ...TENANTS].map((t) => worker(t));
      await new Promise((r) => setTimeout(r, 400 + round * 150));
      stop = true;
      await sidecar.kill('SIGKILL');
      await Promise.all(workers);

      // Offline: the same replay the sidecar runs at start, from the log the dead process left.
      expect((await verifyAuditLog(join(setup.dir, 'audit'))).ok).toBe(true);
      await resolveInflightAllocations(setup.configFile, model);
      const ledger = await rebuildLedger(setup.configFile);
      expect(ledger.checkInvariants()).toEqual({ ok: true, violations: [] });
      for (const [id, tenant] of model.owned) {
        if (model.uncertain.has(id)) continue;
        expect(ledger.blockState(id)).toMatchObject({ state: 'owned', tenant });
      }
      for (const [id, tenant] of model.dirty) {
        if (model.uncertain.has(id)) continue;
        // Never forgotten as dirty: still holding this tenant's data (I2).
        expect(ledger.blockState(id)).toMatchObject({ state: 'dirty', tenant });
      }
      model.uncertain.clear();
    }

    // The restarted process agrees: acknowledged blocks are readable by their owners.
    const sidecar = await spawnSidecar(setup.configFile);
    const ledger = await rebuildLedger(setup.configFile);
    for (const [id, tenant] of model.owned) {
      const state = ledger.blockState(id)!;
      if (state.state !== 'owned' || state.tenant !== tenant) continue;
      const res = await client.call(sidecar.url, 'POST', '/v1/blocks/access', { tenant, blocks: [id], mode: 'read' });
      expect(res.status).toBe(state.awaitingScrub ? 409 : 200);
    }
    expect(model.owned.size + model.dirty.size).toBeGreaterThan(10);
    await sidecar.kill('SIGTERM');
    client.close();
  }, 90_000);
});
