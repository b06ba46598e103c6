import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { AdapterRegistry } from '../../src/adapters/index.js';
import { AuditLog, type AuditEvent } from '../../src/audit/index.js';
import { replayAuditLog } from '../../src/enforcement/index.js';
import { BlobVersions } from '../../src/keys/index.js';
import { BlockLedger } from '../../src/ledger/index.js';
import { TEST_KEY } from '../audit/fixtures.js';

const dirs: string[] = [];
afterEach(async () => Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true }))));

const worker = { role: 'worker' as const, id: 'spiffe://tg.test/worker/w1' };
const put = (tenant: string, blockKey: string, generation: number): AuditEvent => ({
  type: 'decision', severity: 'info', principal: worker, action: 'offload.put', tenant, decision: 'allow', reasons: [],
  counts: { bytes: 10, version: 1, generation }, effects: { block_key: blockKey },
});
const del = (tenant: string, blockKey: string): AuditEvent => ({
  type: 'decision', severity: 'info', principal: worker, action: 'offload.delete', tenant, decision: 'allow', reasons: [],
  counts: { deleted: 1 }, effects: { block_key: blockKey },
});
const abort = (action: string, tenant: string, seq: number): AuditEvent => ({
  type: 'decision', severity: 'info', principal: worker, action, tenant, decision: 'deny', reasons: ['storage_failed'], counts: {}, effects: { aborts: seq },
});

async function replayed(events: readonly AuditEvent[]): Promise<BlobVersions> {
  const dir = await mkdtemp(join(tmpdir(), 'tg-replay-offload-'));
  dirs.push(dir);
  const log = await AuditLog.open({ key: TEST_KEY, dir });
  for (const event of events) await log.append(event);
  const blobs = new BlobVersions();
  const ledger = new BlockLedger({ pools: [{ name: 'shared', first: 0, last: 3 }] });
  for (const id of ['acme', 'globex', 'gone']) ledger.commit(ledger.registerTenant({ id, priority: 3, quotaBlocks: 4, pool: 'shared' }).opId);
  await replayAuditLog(log, { ledger, adapters: new AdapterRegistry((_owner, name) => name), blobs, maxAdapters: () => 0 });
  await log.close();
  return blobs;
}

describe('replay restores the latest generation of every offloaded blob (issue 20.9)', () => {
  test('puts, deletes and erasures in log order; an aborted put or delete is undone; new generations continue above the highest recorded', async () => {
    const blobs = await replayed([
      put('acme', 'a', 1), // seq 1
      put('acme', 'a', 2), // seq 2
      put('acme', 'b', 3), // seq 3
      put('acme', 'a', 4), // seq 4: its rename failed ...
      abort('offload.put', 'acme', 4), // ... seq 5 says so: a stays at 2
      del('acme', 'b'), // seq 6: its removal failed ...
      abort('offload.delete', 'acme', 6), // ... seq 7: b stays at 3
      put('globex', 'c', 5),
      del('globex', 'c'),
      put('gone', 'd', 6),
      { type: 'admin', severity: 'warning', principal: { role: 'operator', id: 'spiffe://tg.test/operator/o1' }, action: 'tenants.erase', tenant: 'gone', decision: 'allow', reasons: [], counts: { contaminated_blocks: 0 } },
      // A put record from before issue 20.9 (no block key) changes nothing.
      { type: 'decision', severity: 'info', principal: worker, action: 'offload.put', tenant: 'acme', decision: 'allow', reasons: [], counts: { bytes: 1, version: 1 } },
    ]);
    expect(blobs.latest('acme', 'a')).toBe(2);
    expect(blobs.latest('acme', 'b')).toBe(3);
    expect(blobs.latest('globex', 'c')).toBeUndefined();
    expect(blobs.latest('gone', 'd')).toBeUndefined();
    expect(blobs.next()).toBe(7);
  });

  test('records of two concurrent puts in either order: the higher generation is the latest', async () => {
    const blobs = await replayed([put('acme', 'a', 9), put('acme', 'a', 8)]);
    expect(blobs.latest('acme', 'a')).toBe(9);
  });
});
