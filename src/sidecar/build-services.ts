import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { AdapterRegistry } from '../adapters/index.js';
import { AdmissionController, type AdmissionClock } from '../admission/index.js';
import { AuditLog, openAuditKey, REASON_PATTERN } from '../audit/index.js';
import { TenantRegistry, type SidecarConfig } from '../config/index.js';
import { AuditTrail, GuardedAdapters, GuardedAdmission, GuardedBlocks, GuardedKeys, GuardedMetrics, PolicyReloads, RefusalRecorder, TenantErasure, type RefusalLimits } from '../enforcement/index.js';
import { Errors, TgError } from '../errors.js';
import type { SidecarServices } from '../http/index.js';
import { ApiKeyRegistry } from '../identity/index.js';
import { KeyStore, OffloadStore } from '../keys/index.js';
import type { BlockLedger } from '../ledger/index.js';
import { TenantMetrics } from '../metrics/index.js';
import { loadRevocationList, type RevocationList } from '../pki/index.js';
import { loadVerificationKey, PolicyEngine, REQUIRED_ENTRYPOINTS, type BundleVerification } from '../policy/index.js';
import { registryData } from './registry-data.js';
import { restoreStateFromAudit } from './restore-state.js';

/**
 * Replacements for components, applied as the sidecar is assembled. Production passes none; the
 * conformance harness's own tests use them to build deliberately broken sidecars and prove that
 * each hunt catches its fault.
 */
export interface ComponentOverrides {
  readonly ledger?: (real: BlockLedger) => BlockLedger;
  readonly adapters?: (real: AdapterRegistry) => AdapterRegistry;
  readonly metrics?: (real: TenantMetrics) => TenantMetrics;
  readonly audit?: (real: AuditLog) => AuditLog;
  readonly offload?: (real: OffloadStore) => OffloadStore;
  /** The admission controller's clock (tests move it by hand to check exact Retry-After, issue 17.4). */
  readonly admissionClock?: AdmissionClock;
}

export interface AssembledSidecar {
  readonly services: SidecarServices;
  /** Re-reads revoked.json (called when it changes). */
  reloadRevocations(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Builds every component from the config, restores state from the audit log (ledger, adapters,
 * erasures) and wires the guarded operations. Nothing listens yet.
 */
export async function buildServices(config: SidecarConfig, logger: Logger, overrides: ComponentOverrides = {}, refusalLimits: RefusalLimits = {}): Promise<AssembledSidecar> {
  const tenants = new TenantRegistry(config.tenants);
  const verification = config.policyVerification ? bundleVerification(config.file, config.policyVerification) : undefined;
  const policy = new PolicyEngine({
    bundlePath: config.paths.policyBundle,
    requiredEntrypoints: REQUIRED_ENTRYPOINTS,
    externalData: registryData(config, tenants),
    ...(verification ? { verification } : {}),
  });
  const loaded = await policy.reload();
  if (loaded.ok) logger.info({ revision: loaded.info.revision }, 'policy bundle loaded');
  else logger.error({ problem: loaded.error }, 'no policy bundle loaded: denying everything until one loads');

  // From the file, so that an erasure can retire the master key (issue 20.4).
  const keys = await KeyStore.openWithMasterKeyFile(config.paths.keystore, config.paths.masterKey);
  const realAudit = await AuditLog.open({ dir: config.paths.audit, key: await openAuditKey(config.paths.auditKey, config.paths.audit) });
  const audit = overrides.audit?.(realAudit) ?? realAudit;
  const closeOnFailure = async <T>(step: Promise<T>): Promise<T> =>
    step.catch(async (error: unknown) => {
      await realAudit.close();
      keys.close();
      throw error;
    });
  const restored = await closeOnFailure(restoreStateFromAudit(config, realAudit, logger));
  // Blob generations from the log: an older blob file put back is refused (issue 20.9).
  const realOffload = await closeOnFailure(OffloadStore.open({ dir: config.paths.offload, keys, versions: restored.blobVersions, recordedKey: (tenant, blockKey) => realAudit.recordedId('blob', tenant, blockKey) }));
  const offload = overrides.offload?.(realOffload) ?? realOffload;
  await closeOnFailure(realOffload.sweep());

  // Erasures in the log (or in the keystore) are final: finish any that a crash interrupted.
  const erased = new Set([...restored.erasedTenants, ...config.tenants.filter((t) => keys.isErased(t.id)).map((t) => t.id)]);
  for (const id of erased) {
    tenants.erase(id);
    await closeOnFailure(realOffload.eraseTenant(id));
  }
  for (const tenant of tenants.all()) await closeOnFailure(keys.ensureTenant(tenant.id));
  const refreshPolicyData = (): void => policy.setExternalData(registryData(config, tenants));
  refreshPolicyData();

  const ledger = overrides.ledger?.(restored.ledger) ?? restored.ledger;
  const adapterRegistry = overrides.adapters?.(restored.adapters) ?? restored.adapters;
  const realMetrics = new TenantMetrics({ tenants: () => tenants.ids(), usage: (tenant) => ledger.usage(tenant) });
  const metrics = overrides.metrics?.(realMetrics) ?? realMetrics;
  const trail = new AuditTrail(audit, () => policy.info?.revision);

  const admission = new AdmissionController({
    capacitySlots: config.admission.capacitySlots,
    maxQueueWaitMs: config.admission.maxQueueWaitMs,
    requestTimeoutMs: config.admission.requestTimeoutMs,
    ...(overrides.admissionClock ? { clock: overrides.admissionClock } : {}),
    // A worker that never reported completion: the slot is reclaimed and the fact recorded.
    onReclaim: (reclaimed) => {
      void audit
        .append({ type: 'lifecycle', severity: 'warning', principal: { role: 'system', id: 'admission' }, action: 'admission.reclaim', tenant: reclaimed.tenant, decision: 'allow', reasons: ['request_timeout'], effects: { request_id: audit.recordedId('admission', reclaimed.tenant, reclaimed.requestId) } })
        .catch(() => logger.error('could not record an admission reclaim: audit log unwritable'));
    },
  });
  for (const t of tenants.all()) admission.registerTenant({ id: t.id, priority: t.limits.priority, concurrent: t.limits.concurrent, tokensPerMinute: t.limits.tokensPerMinute });

  const apiKeys = new ApiKeyRegistry(tenants.all().flatMap((t) => t.apiKeySha256.map((sha256) => ({ tenant: t.id, sha256 }))));
  let revoked: RevocationList = await loadRevocationList(config.paths.pki);
  const refusals = new RefusalRecorder(audit, logger, refusalLimits);

  const services: SidecarServices = {
    config,
    tenants,
    policy,
    apiKeys,
    revocations: { has: (serial) => revoked.has(serial) },
    logger,
    audit,
    metrics,
    blocks: new GuardedBlocks(ledger, policy, trail, tenants, config.pools, metrics, restored.allocations),
    adapters: new GuardedAdapters(adapterRegistry, policy, trail, tenants),
    admission: new GuardedAdmission(admission, policy, trail, audit, tenants, metrics),
    keys: new GuardedKeys(keys, offload, policy, trail, tenants),
    metricViews: new GuardedMetrics(metrics, policy, tenants),
    erasure: new TenantErasure({ tenants, ledger, adapters: adapterRegistry, admission, apiKeys, offload, refreshPolicyData }, policy, trail, audit),
    refusals,
    policyReloads: new PolicyReloads(policy, audit, logger),
  };

  return {
    services,
    reloadRevocations: async () => {
      let next: RevocationList;
      try {
        next = await loadRevocationList(config.paths.pki);
      } catch (error) {
        // A corrupt list throws and the previous one stays: dropping it would un-revoke everything.
        await recordRevocationReload(audit, logger, { severity: 'critical', decision: 'deny', reasons: ['revocation_list_unreadable'], counts: { revoked: revoked.serials.length } });
        throw error;
      }
      const before = new Set(revoked.serials);
      const after = new Set(next.serials);
      const added = next.serials.filter((s) => !before.has(s));
      const removed = revoked.serials.filter((s) => !after.has(s));
      // Applied before it is recorded: a revocation must take effect even if the log is down.
      revoked = next;
      if (added.length === 0 && removed.length === 0) return; // the file was touched, not changed
      await recordRevocationReload(audit, logger, {
        // Un-revoking is not something `tenantguard pki` does: someone edited the file by hand.
        severity: removed.length > 0 ? 'warning' : 'info',
        decision: 'allow',
        reasons: serialReasons(added, removed),
        counts: { revoked: next.serials.length, added: added.length, removed: removed.length },
      });
    },
    close: async () => {
      policy.close();
      admission.close();
      await refusals.close(); // its last summary goes into the log before the log closes
      await realAudit.close();
      keys.close();
    },
  };
}

/**
 * Issue 17.6: which certificates the running sidecar refuses changes when revoked.json does, and
 * that belongs in the audit chain (SOC 2 CC6.2/CC6.3: access removal is evidenced). Content-free:
 * counts, and the serial numbers as reason codes (`revoked:<hex>`, `unrevoked:<hex>`). A serial is
 * not a secret: it is in the certificate every handshake presents, in `pki list` and in revoked.json
 * itself. At most 63 serials (MAX_REASONS is 64); beyond that `serials_truncated`, and the counts stay exact.
 */
const MAX_SERIAL_REASONS = 63;

function serialReasons(added: readonly string[], removed: readonly string[]): string[] {
  const all = [...added.map((s) => `revoked:${s}`), ...removed.map((s) => `unrevoked:${s}`)].filter((r) => REASON_PATTERN.test(r));
  return all.length > MAX_SERIAL_REASONS || all.length < added.length + removed.length ? [...all.slice(0, MAX_SERIAL_REASONS), 'serials_truncated'] : all;
}

async function recordRevocationReload(
  audit: AuditLog,
  logger: Logger,
  fields: { severity: 'info' | 'warning' | 'critical'; decision: 'allow' | 'deny'; reasons: string[]; counts: Record<string, number> },
): Promise<void> {
  await audit
    .append({ type: 'admin', principal: { role: 'system', id: 'pki' }, action: 'pki.revocations.reload', ...fields })
    .catch(() => logger.error('could not record a revocation list change: audit log unwritable'));
}

/** The configured bundle-signing key, read once at start; an unreadable key stops the start (fail closed). */
function bundleVerification(configFile: string, v: NonNullable<SidecarConfig['policyVerification']>): BundleVerification {
  let publicKey: KeyObject;
  try {
    publicKey = loadVerificationKey(readFileSync(v.publicKeyFile));
  } catch {
    throw new TgError(Errors.CONFIG_INVALID, { message: `${configFile}: policy.verification.public_key: ${v.publicKeyFile} is not a readable PEM public key` });
  }
  return { publicKey, algorithm: v.algorithm, ...(v.keyId ? { keyId: v.keyId } : {}) };
}
