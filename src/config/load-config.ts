import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { Errors, TgError } from '../errors.js';
import type { SigningAlgorithm } from '../policy/bundle-signature.js';
import { PROJECT_ROOT } from '../project-root.js';
import { bytesPerBlock, quotaBlocks, type KvDtype, type ModelGeometry } from './geometry.js';
import { configSchema, type RawConfig } from './schema.js';
import { TIERS, type TierLimits, type TierName } from './tiers.js';
import { describeIssue } from '../zod-issues.js';

export interface TenantConfig {
  readonly id: string;
  readonly tier: TierName;
  readonly limits: TierLimits;
  readonly quotaBlocks: number;
  readonly pool: string;
  readonly apiKeySha256: readonly string[];
}

export interface PoolConfig {
  readonly name: string;
  readonly first: number;
  readonly last: number;
  readonly dedicatedTo?: string;
}

export interface SidecarConfig {
  readonly file: string;
  readonly trustDomain: string;
  /** `maxConnections`: open connections per listener (TLS, and the Unix socket), default 1024; loadConfig always sets it. */
  readonly listen: { readonly host: string; readonly port: number; readonly unixSocket?: string; readonly maxConnections?: number };
  readonly paths: {
    readonly pki: string;
    readonly masterKey: string;
    readonly auditKey: string;
    readonly keystore: string;
    readonly audit: string;
    readonly offload: string;
    readonly policyBundle: string;
  };
  readonly geometry: ModelGeometry;
  readonly bytesPerBlock: number;
  readonly pools: readonly PoolConfig[];
  readonly tenants: readonly TenantConfig[];
  readonly limits: { readonly maxBodyBytes: number; readonly maxBlocksPerCall: number; readonly maxOffloadBytes: number };
  /** When set, only policy bundles signed by this key load (the key is read by the sidecar). */
  readonly policyVerification?: { readonly publicKeyFile: string; readonly algorithm: SigningAlgorithm; readonly keyId?: string };
  /** When set, bundles are pulled from this server into paths.policyBundle. */
  readonly bundleService?: { readonly url: string; readonly caFile?: string; readonly pollIntervalMs: number };
  /** Worker capacity and queueing (admission control). */
  readonly admission: { readonly capacitySlots: number; readonly maxQueueWaitMs: number; readonly requestTimeoutMs: number };
}

/** Where the policy bundle lives when the config names none: the one `npm run policy:build` makes. */
export const DEFAULT_POLICY_BUNDLE = resolve(PROJECT_ROOT, 'build/policy/bundle.tar.gz');

/**
 * Reads and validates a YAML config. Every problem is reported as `file: path.in.config: what is
 * wrong`, all at once, so an operator fixes the file in one pass.
 */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): SidecarConfig {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw configError(path, ['cannot read the file (does it exist? run `tenantguard init DIR` to create one)']);
  }
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw configError(path, document.errors.map((e) => `YAML syntax at line ${e.linePos?.[0]?.line ?? '?'}: ${e.code}`));
  }
  const parsed = configSchema.safeParse(document.toJS());
  if (!parsed.success) throw configError(path, parsed.error.issues.map((issue) => describeIssue(issue)));
  return resolveConfig(path, parsed.data, env);
}

function resolveConfig(file: string, raw: RawConfig, env: NodeJS.ProcessEnv): SidecarConfig {
  const problems: string[] = [];
  const base = dirname(file);
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const geometry: ModelGeometry = {
    layers: raw.model.layers,
    kvHeads: raw.model.kv_heads,
    headDim: raw.model.head_dim,
    dtype: raw.model.dtype as KvDtype,
    blockTokens: raw.model.block_tokens,
  };

  const tenantIds = new Set<string>();
  raw.tenants.forEach((t, i) => {
    if (tenantIds.has(t.id)) problems.push(`tenants[${i}].id: duplicate tenant id`);
    tenantIds.add(t.id);
  });

  const sorted = [...raw.pools].sort((a, b) => a.first - b.first);
  raw.pools.forEach((p, i) => {
    if (p.last < p.first) problems.push(`pools[${i}]: last (${p.last}) is below first (${p.first})`);
    if (p.dedicated_to && !tenantIds.has(p.dedicated_to)) problems.push(`pools[${i}].dedicated_to: no tenant with that id`);
  });
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.first <= prev.last) problems.push(`pools: "${prev.name}" and "${cur.name}" overlap (I1 needs disjoint block ranges)`);
  }
  const shared = raw.pools.filter((p) => !p.dedicated_to);

  const tenants = raw.tenants.map((t, i): TenantConfig => {
    const tier = t.tier as TierName;
    const base = TIERS[tier];
    const limits: TierLimits = {
      ...base,
      concurrent: t.overrides.concurrent ?? base.concurrent,
      tokensPerMinute: t.overrides.tokens_per_minute ?? base.tokensPerMinute,
      kvQuotaBytes: t.overrides.kv_quota_bytes ?? base.kvQuotaBytes,
      priority: t.overrides.priority ?? base.priority,
    };
    const dedicated = raw.pools.filter((p) => p.dedicated_to === t.id);
    if (dedicated.length > 1) problems.push(`tenants[${i}]: more than one pool is dedicated to this tenant`);
    if (limits.dedicatedPool && dedicated.length === 0) {
      problems.push(`tenants[${i}]: tier ${tier} requires a pool with dedicated_to: ${t.id} (I5)`);
    }
    if (!limits.dedicatedPool && shared.length === 0) problems.push(`tenants[${i}]: no shared pool to allocate from`);
    const pool = dedicated[0]?.name ?? shared[0]?.name ?? '';
    return { id: t.id, tier, limits, quotaBlocks: quotaBlocks(limits.kvQuotaBytes, geometry), pool, apiKeySha256: t.api_key_sha256 };
  });
  if (problems.length > 0) throw configError(file, problems);

  // The MAC key must not be where the log is: whoever can edit the log could then recompute it (L2).
  const auditKey = raw.paths.audit_key ? at(raw.paths.audit_key) : join(dirname(at(raw.paths.master_key)), 'audit.key');
  if (!relative(at(raw.paths.audit), auditKey).startsWith('..')) throw configError(file, ['paths.audit_key: must not be inside paths.audit (L2)']);

  const listenOverride = env['TENANTGUARD_LISTEN'];
  let listen = { host: raw.listen.host, port: raw.listen.port, maxConnections: raw.listen.max_connections, ...(raw.listen.unix_socket ? { unixSocket: at(raw.listen.unix_socket) } : {}) };
  if (listenOverride) {
    const match = /^(.+):(\d{1,5})$/.exec(listenOverride);
    if (!match || Number(match[2]) > 65535) throw configError(file, [`TENANTGUARD_LISTEN: expected HOST:PORT, got "${listenOverride.slice(0, 64)}"`]);
    listen = { ...listen, host: match[1]!.replace(/^\[|\]$/g, ''), port: Number(match[2]) };
  }

  return {
    file,
    trustDomain: raw.trust_domain,
    listen,
    paths: {
      pki: at(raw.paths.pki),
      masterKey: at(raw.paths.master_key),
      auditKey,
      keystore: at(raw.paths.keystore),
      audit: at(raw.paths.audit),
      offload: at(raw.paths.offload),
      policyBundle: raw.paths.policy_bundle ? at(raw.paths.policy_bundle) : DEFAULT_POLICY_BUNDLE,
    },
    geometry,
    bytesPerBlock: bytesPerBlock(geometry),
    pools: raw.pools.map((p) => ({ name: p.name, first: p.first, last: p.last, ...(p.dedicated_to ? { dedicatedTo: p.dedicated_to } : {}) })),
    tenants,
    ...(raw.policy.verification
      ? {
          policyVerification: {
            publicKeyFile: at(raw.policy.verification.public_key),
            algorithm: raw.policy.verification.algorithm,
            ...(raw.policy.verification.key_id ? { keyId: raw.policy.verification.key_id } : {}),
          },
        }
      : {}),
    ...(raw.policy.bundle_service
      ? {
          bundleService: {
            url: raw.policy.bundle_service.url,
            ...(raw.policy.bundle_service.ca ? { caFile: at(raw.policy.bundle_service.ca) } : {}),
            pollIntervalMs: Math.round(raw.policy.bundle_service.poll_seconds * 1000),
          },
        }
      : {}),
    limits: { maxBodyBytes: raw.limits.max_body_bytes, maxBlocksPerCall: raw.limits.max_blocks_per_call, maxOffloadBytes: raw.limits.max_offload_bytes },
    admission: {
      capacitySlots: raw.admission.capacity_slots,
      maxQueueWaitMs: raw.admission.max_queue_wait_ms,
      requestTimeoutMs: raw.admission.request_timeout_ms,
    },
  };
}

function configError(file: string, problems: readonly string[]): TgError {
  return new TgError(Errors.CONFIG_INVALID, {
    message: `invalid config ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    reasons: problems,
  });
}
