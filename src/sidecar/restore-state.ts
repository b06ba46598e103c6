import type { Logger } from 'pino';
import { AdapterRegistry } from '../adapters/index.js';
import type { AuditLog } from '../audit/index.js';
import type { SidecarConfig } from '../config/index.js';
import { AllocationMemo, replayAuditLog } from '../enforcement/index.js';
import { BlobVersions } from '../keys/index.js';
import { BlockLedger } from '../ledger/index.js';

export interface RestoredState {
  readonly ledger: BlockLedger;
  readonly adapters: AdapterRegistry;
  /** Tenants erased according to the log. */
  readonly erasedTenants: readonly string[];
  /** Latest generation of every offloaded blob according to the log (issue 20.9). */
  readonly blobVersions: BlobVersions;
  /** Live allocations by recorded request id, for idempotent retries across a restart (issue 17.5). */
  readonly allocations: AllocationMemo;
}

/**
 * The sidecar's state as the audit log left it. Tenants are replayed with an unbounded quota: a
 * quota lowered in the config since those records were written must not make history
 * unreplayable. Afterwards each tenant gets its configured quota, or, if it already holds more,
 * exactly what it holds (policy still holds it to the configured quota for new allocations).
 */
export async function restoreStateFromAudit(config: SidecarConfig, audit: AuditLog, logger: Logger): Promise<RestoredState> {
  const ledger = new BlockLedger({ pools: config.pools });
  const adapters = new AdapterRegistry((owner, name) => audit.recordedId('adapter', owner, name));
  for (const tenant of config.tenants) {
    ledger.commit(ledger.registerTenant({ id: tenant.id, priority: tenant.limits.priority, quotaBlocks: ledger.size, pool: tenant.pool }).opId);
  }
  const caps = new Map(config.tenants.map((t) => [t.id, t.limits.maxAdapters]));
  const blobVersions = new BlobVersions();
  const allocations = new AllocationMemo();
  const replay = await replayAuditLog(audit, { ledger, adapters, blobs: blobVersions, allocations, maxAdapters: (tenant) => caps.get(tenant) ?? 0 });
  for (const [tenant, skipped] of replay.adaptersOverCap) {
    logger.warn({ tenant, skipped, cap: caps.get(tenant) ?? 0 }, 'adapter registrations beyond the tenant\'s adapter cap were not restored (issue 20.5)');
  }
  for (const tenant of config.tenants) {
    if (!ledger.tenant(tenant.id)) continue; // erased
    const owned = ledger.usage(tenant.id).owned;
    const quotaBlocks = Math.max(tenant.quotaBlocks, owned);
    if (quotaBlocks > tenant.quotaBlocks) logger.warn({ tenant: tenant.id, owned, quota: tenant.quotaBlocks }, 'tenant holds more blocks than its configured quota');
    ledger.commit(ledger.updateTenant(tenant.id, { quotaBlocks }).opId);
  }
  logger.info({ records: replay.records, applied: replay.applied }, 'state rebuilt from the audit log');
  return { ledger, adapters, erasedTenants: replay.erasedTenants, blobVersions, allocations };
}
