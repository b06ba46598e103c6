import type { AuditLog, AuditRecord } from '../audit/index.js';
import type { AdapterRegistry } from '../adapters/index.js';
import type { BlockLedger, OpId } from '../ledger/index.js';

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
}

export async function replayAuditLog(audit: AuditLog, targets: ReplayTargets): Promise<ReplayReport> {
  const { ledger } = targets;
  let records = 0;
  let applied = 0;
  const erasedTenants: string[] = [];
  const adaptersOverCap = new Map<string, number>();
  // Claims of one engine step may hit blocks an earlier claim of the step listed for scrub (the
  // worker zeroes them before the step's forward pass): replay grants them as the step did.
  const step = { id: undefined as unknown, scrub: new Set<number>() };
  for await (const record of audit.records()) {
    records++;
    if (record.decision !== 'allow') continue;
    if (record.action === 'tenants.erase' && record.tenant) {
      ledger.commit(ledger.removeTenant(record.tenant).opId);
      targets.adapters.removeOwner(record.tenant);
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
    const opId = applyRecord(record, ledger, step.scrub);
    if (opId !== null) {
      ledger.commit(opId);
      applied++;
    }
  }
  return { records, applied, erasedTenants, adaptersOverCap };
}

function applyRecord(record: AuditRecord, ledger: BlockLedger, stepScrub: Set<number>): OpId | null {
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
      return result.ok ? result.opId : fail(result.reason);
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
