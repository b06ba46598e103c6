import type { AdapterRegistry } from '../adapters/index.js';
import type { AdmissionController } from '../admission/index.js';
import type { AuditLog } from '../audit/index.js';
import type { TenantRegistry } from '../config/index.js';
import { Errors, isFileSystemError, TgError } from '../errors.js';
import type { ApiKeyRegistry, Principal } from '../identity/index.js';
import type { OffloadStore } from '../keys/index.js';
import type { BlockLedger } from '../ledger/index.js';
import { Entrypoints, type PolicyEngine } from '../policy/index.js';
import type { AuditTrail } from './audit-trail.js';
import { askPolicy, refusalOf } from './policy-decision.js';

export interface ErasureTargets {
  readonly tenants: TenantRegistry;
  readonly ledger: BlockLedger;
  readonly adapters: AdapterRegistry;
  readonly admission: AdmissionController;
  readonly apiKeys: ApiKeyRegistry;
  readonly offload: OffloadStore;
  /** Pushes the registry into policy data, so policy sees the tenant gone. */
  readonly refreshPolicyData: () => void;
}

/**
 * Crypto-shred of a tenant (K1). In one tick, with nothing in between, the tenant disappears from
 * every in-memory component and the erasure record is appended, so no later record of that tenant
 * can precede it in the log (replay stays possible). Only once the record is durable are the keys
 * destroyed and the offloaded blobs deleted; if the record fails, the in-memory removal is undone.
 * A crash after the record but before the shred is finished by the next start (`completeErasures`).
 */
export class TenantErasure {
  constructor(
    private readonly targets: ErasureTargets,
    private readonly policy: PolicyEngine,
    private readonly trail: AuditTrail,
    private readonly audit: AuditLog,
  ) {}

  async erase(principal: Principal, id: string): Promise<{ tenant: string; erased: true; contaminated_blocks: number }> {
    const { tenants, ledger, adapters, admission, apiKeys, offload } = this.targets;
    const tenant = tenants.require(id);
    const decision = askPolicy(this.policy, Entrypoints.keys, principal, { action: 'tenants.erase', tenant: id, facts: { erased: false } });
    if (!decision.allow) {
      await this.trail.recordDenial({ principal, action: 'tenants.erase', tenant: id }, decision.reasons);
      throw refusalOf(decision); // 503 without a policy, as every guarded component answers
    }
    if (!this.audit.healthy) throw new TgError(Errors.AUDIT_DOWN);

    // ---- one synchronous step: remove everywhere, then append ----
    tenants.erase(id);
    const removed = ledger.removeTenant(id);
    const savedAdapters = adapters.ownedBy(id);
    adapters.removeOwner(id);
    const savedAdmission = admission.tenant(id);
    admission.removeTenant(id);
    const savedKeys = apiKeys.removeTenant(id);
    this.targets.refreshPolicyData();
    const undo = (): void => {
      ledger.rollbackFrom(removed.opId);
      tenants.restore(id);
      adapters.restoreOwner(id, savedAdapters);
      if (savedAdmission) admission.registerTenant(savedAdmission);
      apiKeys.add(savedKeys);
      this.targets.refreshPolicyData();
    };
    await this.trail.recordChange({ principal, action: 'tenants.erase', tenant: id, counts: { contaminated_blocks: removed.contaminated } }, undo);
    ledger.commit(removed.opId);

    try {
      await offload.eraseTenant(tenant.id); // destroys every key version, then the blob directory
    } catch (error) {
      if (!isFileSystemError(error)) throw error;
      // The erasure is recorded and in force (the tenant is refused from now on); only the shred
      // is unfinished, and the next start finishes it from the record (`completeErasures`).
      throw new TgError(Errors.STORAGE_DOWN, { message: 'tenant erased and refused from now on, but destroying its keys and blobs failed on disk; it is finished at the next start once the disk is healthy' });
    }
    return { tenant: id, erased: true, contaminated_blocks: removed.contaminated };
  }
}
