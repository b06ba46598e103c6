import type { TenantRegistry } from '../config/index.js';
import { groupByAdapter, qualifiedAdapterId, type AdapterRegistry, type ApplyRefusal } from '../adapters/index.js';
import { Errors, TgError } from '../errors.js';
import type { Principal } from '../identity/index.js';
import { Entrypoints, type PolicyEngine } from '../policy/index.js';
import type { AuditTrail } from './audit-trail.js';
import { askPolicy, refusalOf } from './policy-decision.js';

export interface AdapterRegistration {
  readonly adapterId: string;
  readonly sha256: string;
  readonly rank: number;
  readonly public: boolean;
}

export interface ApplyItem {
  readonly requestId: string;
  readonly tenant: string;
  /** A bare id (the tenant's own namespace) or `<owner>/<id>` (another tenant's public adapter). */
  readonly adapterId: string;
  readonly sha256: string;
}

export interface ApplyResponse {
  readonly results: ReadonlyArray<{ request_id: string; allow: boolean; reasons: readonly string[] }>;
  /** Allowed items grouped by adapter (owner-qualified ids), so the worker batches per adapter. */
  readonly groups: ReadonlyArray<{ adapter_id: string; request_ids: string[] }>;
}

/**
 * A1: adapter registration by tenants and per-request application checks by the worker. A batch
 * costs one policy evaluation; A1 is also checked in code, so an item is allowed only if both
 * agree. Each tenant has its own namespace of adapter ids; another tenant's public adapter is
 * named `<owner>/<id>` (issue 20.5).
 */
export class GuardedAdapters {
  constructor(
    private readonly registry: AdapterRegistry,
    private readonly policy: PolicyEngine,
    private readonly trail: AuditTrail,
    private readonly tenants: TenantRegistry,
  ) {}

  async register(principal: Principal, adapter: AdapterRegistration): Promise<{ adapter_id: string; qualified_id: string }> {
    const owner = principal.id;
    const { maxAdapters } = this.tenants.require(owner).limits;
    const decision = askPolicy(this.policy, Entrypoints.adapters, principal, { action: 'adapters.register', tenant: owner, resource: { rank: adapter.rank, public: adapter.public } });
    // Kept and recorded under the name's keyed digest: a name may carry content (L1, issue 20.6).
    const adapterId = this.trail.recordedId('adapter', owner, adapter.adapterId);
    const event = { principal, action: 'adapters.register', tenant: owner, effects: { adapter_id: adapterId, sha256: adapter.sha256, rank: adapter.rank, public: adapter.public } };
    if (!decision.allow) {
      await this.trail.recordDenial(event, decision.reasons);
      throw refusalOf(decision);
    }
    // The id is looked up in the caller's own namespace only, so the answer never depends on what
    // another tenant registered (issue 20.5: the 409 "registered by another tenant" was an oracle).
    const result = this.registry.register({ ...adapter, adapterId, owner }, maxAdapters);
    if (!result.ok) {
      await this.trail.recordDenial(event, [result.reason]);
      throw new TgError(Errors.ADAPTER_LIMIT, { reasons: [result.reason] });
    }
    await this.trail.recordChange(event, () => this.registry.restore(owner, adapterId, result.previous));
    return { adapter_id: adapter.adapterId, qualified_id: qualifiedAdapterId(owner, adapter.adapterId) };
  }

  async apply(principal: Principal, items: readonly ApplyItem[]): Promise<ApplyResponse> {
    for (const item of items) this.tenants.require(item.tenant);
    const decision = askPolicy(this.policy, Entrypoints.adapters, principal, {
      action: 'adapters.apply',
      resource: {
        items: items.map((item, index) => ({ index, tenant: item.tenant, adapter_id: item.adapterId, facts: this.registry.factsFor(item.tenant, item.adapterId, item.sha256) })),
      },
    });
    if (decision.reasons.includes('policy_unavailable')) throw refusalOf(decision);
    const verdicts = policyItems(decision.details?.['items'], items.length);

    const results = items.map((item, index) => {
      const reasons = new Set<string>(verdicts[index]?.reasons ?? ['policy_result_invalid']);
      const codeRefusal: ApplyRefusal | null = this.registry.refusalFor(item.tenant, item.adapterId, item.sha256);
      if (codeRefusal) reasons.add(codeRefusal);
      const allow = verdicts[index]?.allow === true && codeRefusal === null;
      return { request_id: item.requestId, allow, reasons: [...reasons].sort() };
    });
    const denied = results.flatMap((r, index) => r.reasons.map((reason) => `${reason}:${index}`));
    const violation = results.some((r) => r.reasons.includes('adapter_not_permitted'));
    const allowed = items.filter((_, index) => results[index]!.allow).map((item) => ({ requestId: item.requestId, qualifiedId: this.registry.qualifiedIdFor(item.tenant, item.adapterId) }));
    const event = {
      principal,
      action: 'adapters.apply',
      counts: { items: items.length, allowed: allowed.length, denied: items.length - allowed.length },
    };
    // One record per batch; refused items (a cross-tenant apply is a critical violation) are listed.
    if (denied.length > 0) await this.trail.recordDenial(event, denied, violation);
    else await this.trail.recordChange(event, () => undefined);
    return { results, groups: groupByAdapter(allowed) };
  }
}

function policyItems(raw: unknown, expected: number): Array<{ allow: boolean; reasons: string[] } | undefined> {
  const out: Array<{ allow: boolean; reasons: string[] } | undefined> = new Array(expected).fill(undefined);
  if (!Array.isArray(raw)) return out;
  for (const entry of raw as unknown[]) {
    if (typeof entry !== 'object' || entry === null) continue;
    const { index, allow, reasons } = entry as { index?: unknown; allow?: unknown; reasons?: unknown };
    if (typeof index !== 'number' || index < 0 || index >= expected || typeof allow !== 'boolean' || !Array.isArray(reasons)) continue;
    out[index] = { allow, reasons: reasons.filter((r): r is string => typeof r === 'string') };
  }
  return out;
}
