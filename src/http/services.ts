import type { Logger } from 'pino';
import type { AuditLog } from '../audit/index.js';
import type { SidecarConfig, TenantRegistry } from '../config/index.js';
import type { GuardedAdapters, GuardedAdmission, GuardedBlocks, GuardedKeys, GuardedMetrics, PolicyReloads, RefusalRecorder, TenantErasure } from '../enforcement/index.js';
import type { TenantMetrics } from '../metrics/index.js';
import type { ApiKeyRegistry } from '../identity/index.js';
import type { PolicyEngine } from '../policy/index.js';

/** Everything the HTTP adapter calls into. Built once by the sidecar, passed to every route. */
export interface SidecarServices {
  readonly config: SidecarConfig;
  readonly tenants: TenantRegistry;
  readonly policy: PolicyEngine;
  readonly apiKeys: ApiKeyRegistry;
  readonly revocations: { has(serial: string): boolean };
  readonly logger: Logger;
  readonly audit: AuditLog;
  readonly blocks: GuardedBlocks;
  readonly adapters: GuardedAdapters;
  readonly admission: GuardedAdmission;
  readonly keys: GuardedKeys;
  readonly erasure: TenantErasure;
  readonly metrics: TenantMetrics;
  /** The metrics views, scoped by policy (M1). */
  readonly metricViews: GuardedMetrics;
  /** Audit record + log line per refused request, rate-limited (issue 20.7). */
  readonly refusals: RefusalRecorder;
  /** Policy reloads, logged and audited whoever triggers them (issue 17.6a). */
  readonly policyReloads: PolicyReloads;
}
