import type { AuditLog, AuditRecord } from '../audit/index.js';
import type { AdapterRegistry } from '../adapters/index.js';
import type { BlobVersions } from '../keys/index.js';
import type { BlockLedger, OpId } from '../ledger/index.js';
import type { AllocationMemo } from './allocation-memo.js';

export interface ReplayReport {
  readonly records: number;
  readonly applied: number;
  /** Tenants whose erasure is in the log: the caller makes sure their keys and blobs are gone. */
  readonly erasedTenants: readonly string[];
  /** Per tenant, adapter registrations not restored because the tenant's cap was reached (issue 20.5). */
  readonly adaptersOverCap: ReadonlyMap<string, number>;
}

export class ReplayError extends Error {
  override readonly name = 'ReplayError';
}

/**
 * Rebuilds the ledger from the audit log after a restart or crash: every acknowledged state change
 * has a durable record (its ack waited for the fsync), so replaying the allowed block records in log
 * order restores every allocation and every dirty block. A record that cannot be replayed means
 * the log and the configured pools disagree; starting anyway could hand out a block twice (I1), so
 * the sidecar refuses to start.
 */
export interface ReplayTargets {
  readonly ledger: BlockLedger;
  readonly adapters: AdapterRegistry;
  /**
   * The adapter cap of a tenant as configured now (0 for a tenant no longer configured). Replay
   * holds registrations to it, so a log written under a bigger cap (or before there was one, issue
   * 20.5) restores only the first registrations, in log order, up to the cap.
   */
  readonly maxAdapters: (tenant: string) => number;
  /** Latest generation of every offloaded blob (issue 20.9), from the offload put/delete records. */
  readonly blobs?: BlobVersions;
  /** Allocations by recorded request id, so a retry after a restart gets its first answer (issue 17.5). */
  readonly allocations?: AllocationMemo;
}

/** How many offload records an abort record may reach back to; it follows its record closely. */
const MAX_UNDOABLE_OFFLOAD_RECORDS = 16_384;

export async function replayAuditLog(audit: AuditLog, targets: ReplayTargets): Promise<ReplayReport> {
  const { ledger } = targets;
  let records = 0;
  let applied = 0;
  const erasedTenants: string[] = [];
  const adaptersOverCap = new Map<string, number>();
  // Claims of one engine step may hit blocks an earlier claim of the step listed for scrub (the
  // worker zeroes them before the step's forward pass): replay grants them as the step did.
  const step = { id: undefined as unknown, scrub: new Set<number>() };
  const offload = new OffloadReplay(targets.blobs);
  for await (const record of audit.records()) {
    records++;
    if (record.action === 'offload.put' || record.action === 'offload.delete') {
      if (offload.apply(record)) applied++;
      continue;
    }
    if (record.decision !== 'allow') continue;
    if (record.action === 'tenants.erase' && record.tenant) {
      ledger.commit(ledger.removeTenant(record.tenant).opId);
      targets.adapters.removeOwner(record.tenant);
      targets.blobs?.forgetTenant(record.tenant);
      erasedTenants.push(record.tenant);
      applied++;
      continue;
    }
    if (record.action === 'adapters.register') {
      const tenant = replayAdapterRegistration(record, targets);
      if (tenant === null) applied++;
      else adaptersOverCap.set(tenant, (adaptersOverCap.get(tenant) ?? 0) + 1);
      continue;
    }
    if (record.action === 'blocks.claim' && record.effects?.['step'] !== step.id) {
      step.id = record.effects?.['step'];
      step.scrub = new Set();
    }
    const opId = applyRecord(record, ledger, step.scrub, targets.allocations);
    if (opId !== null) {
      ledger.commit(opId);
      applied++;
    }
  }
  return { records, applied, erasedTenants, adaptersOverCap };
}

function applyRecord(record: AuditRecord, ledger: BlockLedger, stepScrub: Set<number>, allocations: AllocationMemo | undefined): OpId | null {
  const blocks = record.blocks ?? [];
  const fail = (why: string): never => {
    throw new ReplayError(`audit record seq ${record.seq} (${record.action}) cannot be replayed: ${why}`);
  };
  const tenantOf = (): string => record.tenant ?? fail('no tenant');
  const requestIdOf = (): string => {
    const id = record.effects?.['request_id'];
    return typeof id === 'string' ? id : fail('no request_id');
  };
  switch (record.action) {
    case 'blocks.allocate': {
      const result = ledger.replayAllocate(tenantOf(), blocks);
      if (!result.ok) return fail(result.reason);
      // The record names the request by its keyed digest, the same key the live memo uses; the
      // replayed blocks carry the epochs they were handed out with (replay is exact).
      const requestId = record.effects?.['request_id'];
      if (allocations !== undefined && typeof requestId === 'string') {
        const reclaimed = record.effects?.['reclaimed'];
        allocations.remember(requestId, {
          tenant: tenantOf(),
          count: record.counts?.['requested'] ?? blocks.length,
          blocks: result.blocks,
          reclaimed: Array.isArray(reclaimed) ? reclaimed.filter((id): id is number => typeof id === 'number') : [],
        });
      }
      return result.opId;
    }
    case 'blocks.free': {
      const result = ledger.free(tenantOf(), blocks, { cache: record.effects?.['cache'] === true });
      return result.ok ? result.opId : fail(result.reason);
    }
    case 'blocks.claim': {
      const prefixHits = record.effects?.['prefix_hits'];
      const result = ledger.claim(tenantOf(), requestIdOf(), blocks, Array.isArray(prefixHits) ? prefixHits : [], stepScrub);
      if (!result.ok) return fail(result.reason);
      for (const { id, scrub } of result.blocks) if (scrub) stepScrub.add(id);
      return result.opId;
    }
    case 'blocks.release': {
      const result = ledger.release(tenantOf(), requestIdOf(), blocks, { cache: record.effects?.['cache'] === true });
      return result.ok ? result.opId : fail(result.reason);
    }
    case 'blocks.scrubbed': {
      const epochs = record.effects?.['epochs'];
      if (!Array.isArray(epochs) || epochs.length !== blocks.length) return fail('scrub_without_epochs');
      const result = ledger.confirmScrub(blocks.map((id, i) => ({ id, epoch: Number(epochs[i]) })));
      return result.ok ? result.opId : fail(result.reason);
    }
    case 'blocks.access': {
      // Reads change nothing; prefix hits turn cached blocks back into owned ones.
      if (record.effects?.['mode'] !== 'prefix_hit') return null;
      const result = ledger.access(tenantOf(), blocks, 'prefix_hit');
      return result.ok ? result.opId : fail(result.reason);
    }
    default:
      return null;
  }
}

/** Restores one registration; returns the tenant when its cap left no room (the record is skipped), else null. */
function replayAdapterRegistration(record: AuditRecord, targets: ReplayTargets): string | null {
  const e = record.effects ?? {};
  const adapterId = e['adapter_id'];
  const sha256 = e['sha256'];
  const rank = e['rank'];
  const owner = record.tenant;
  if (typeof adapterId !== 'string' || typeof sha256 !== 'string' || typeof rank !== 'number' || !owner) {
    throw new ReplayError(`audit record seq ${record.seq} (adapters.register) lacks its adapter facts`);
  }
  // Logs from before issue 20.5 had one global namespace; the owner is the record's tenant, so
  // the same records land in per-tenant namespaces unchanged.
  const result = targets.adapters.register({ adapterId, sha256, rank, public: e['public'] === true, owner }, targets.maxAdapters(owner));
  return result.ok ? null : owner;
}

/**
 * Offload records → the latest generation of every blob (issue 20.9). A put record (write-ahead:
 * durable before the rename) carries `effects.block_key` and `counts.generation`; a delete that
 * removed a blob carries `effects.block_key` and `counts.deleted = 1`. A later `storage_failed`
 * record with `effects.aborts = <seq>` says that change did not happen: it is undone. Records
 * from before 20.9 carry no block key and change nothing (their blobs are refused as stale).
 */
class OffloadReplay {
  /** seq → what the record replaced, for an abort record that may follow. */
  private readonly undo = new Map<number, { tenant: string; blockKey: string; before: number | undefined; after: number | undefined }>();

  constructor(private readonly blobs: BlobVersions | undefined) {}

  apply(record: AuditRecord): boolean {
    const blobs = this.blobs;
    if (blobs === undefined || !record.tenant) return false;
    if (record.decision === 'deny') {
      const aborts = record.effects?.['aborts'];
      const undone = typeof aborts === 'number' ? this.undo.get(aborts) : undefined;
      if (undone === undefined) return false;
      this.undo.delete(aborts as number);
      if (blobs.latest(undone.tenant, undone.blockKey) === undone.after) blobs.set(undone.tenant, undone.blockKey, undone.before);
      return true;
    }
    const blockKey = record.effects?.['block_key'];
    if (typeof blockKey !== 'string') return false;
    const before = blobs.latest(record.tenant, blockKey);
    if (record.action === 'offload.put') {
      const generation = record.counts?.['generation'];
      if (typeof generation !== 'number' || !Number.isSafeInteger(generation) || generation < 1) {
        throw new ReplayError(`audit record seq ${record.seq} (offload.put) has no valid generation`);
      }
      blobs.put(record.tenant, blockKey, generation);
    } else if (record.counts?.['deleted'] === 1) {
      blobs.set(record.tenant, blockKey, undefined);
    } else {
      return false;
    }
    this.undo.set(record.seq, { tenant: record.tenant, blockKey, before, after: blobs.latest(record.tenant, blockKey) });
    if (this.undo.size > MAX_UNDOABLE_OFFLOAD_RECORDS) {
      const oldest = this.undo.keys().next().value;
      if (oldest !== undefined) this.undo.delete(oldest);
    }
    return true;
  }
}
