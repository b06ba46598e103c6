import type { Logger } from 'pino';
import type { AuditLog } from '../audit/index.js';
import type { SidecarConfig } from '../config/index.js';
import { replayAuditIntoLedger } from '../enforcement/index.js';
import { BlockLedger } from '../ledger/index.js';

/**
 * The ledger as the audit log left it. Tenants are replayed with an unbounded quota: a quota
 * lowered in the config since those records were written must not make history unreplayable.
 * Afterwards each tenant gets its configured quota, or, if it already holds more, exactly what it
 * holds (it can allocate again once it frees below the configured quota, which policy enforces).
 */
export async function buildLedgerFromAudit(config: SidecarConfig, audit: AuditLog, logger: Logger): Promise<BlockLedger> {
  const ledger = new BlockLedger({ pools: config.pools });
  for (const tenant of config.tenants) {
    ledger.commit(ledger.registerTenant({ id: tenant.id, priority: tenant.limits.priority, quotaBlocks: ledger.size, pool: tenant.pool }).opId);
  }
  const replay = await replayAuditIntoLedger(audit, ledger);
  for (const tenant of config.tenants) {
    const owned = ledger.usage(tenant.id).owned;
    const quotaBlocks = Math.max(tenant.quotaBlocks, owned);
    if (quotaBlocks > tenant.quotaBlocks) logger.warn({ tenant: tenant.id, owned, quota: tenant.quotaBlocks }, 'tenant holds more blocks than its configured quota');
    ledger.commit(ledger.updateTenant(tenant.id, { quotaBlocks }).opId);
  }
  logger.info({ records: replay.records, applied: replay.applied }, 'ledger rebuilt from the audit log');
  return ledger;
}
