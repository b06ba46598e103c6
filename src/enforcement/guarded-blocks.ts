import type { PoolConfig, TenantConfig, TenantRegistry } from '../config/index.js';
import { Errors, TgError } from '../errors.js';
import type { Principal } from '../identity/index.js';
import type { TenantMetrics } from '../metrics/index.js';
import type { AccessMode, BatchDenied, BlockId, BlockLedger, OpId, TenantUsage } from '../ledger/index.js';
import { Entrypoints, type Decision, type PolicyEngine } from '../policy/index.js';
import type { AuditTrail, EventParts } from './audit-trail.js';

export interface AllocateRequest {
  readonly tenant: string;
  readonly requestId: string;
  readonly count: number;
}

export interface AllocateResponse {
  readonly request_id: string;
  readonly blocks: ReadonlyArray<{ id: BlockId; scrub: boolean }>;
  /** Own cached blocks reused: the worker drops its prefix-cache entries for them. */
  readonly reclaimed: readonly BlockId[];
}

type Action = 'blocks.allocate' | 'blocks.free' | 'blocks.scrubbed' | 'blocks.access';

/**
 * Every block operation in one place, in one order: facts → one policy evaluation for the batch →
 * the ledger (which enforces I1, I2, I4 in code whatever the policy said) → a durable audit record
 * → acknowledge. The ledger change and the audit append happen in the same tick, so the log order
 * is the order of state changes; if the record cannot be made durable, the change is rolled back
 * and the caller gets 503 (fail closed, nothing half-applied).
 */
export class GuardedBlocks {
  private readonly pools: ReadonlyMap<string, { name: string; dedicated_to?: string }>;

  constructor(
    private readonly ledger: BlockLedger,
    private readonly policy: PolicyEngine,
    private readonly trail: AuditTrail,
    private readonly tenants: TenantRegistry,
    pools: readonly PoolConfig[],
    private readonly metrics: TenantMetrics,
  ) {
    this.pools = new Map(pools.map((p) => [p.name, { name: p.name, ...(p.dedicatedTo ? { dedicated_to: p.dedicatedTo } : {}) }]));
  }

  async allocate(principal: Principal, request: AllocateRequest): Promise<AllocateResponse> {
    const started = performance.now();
    const tenant = this.requireTenant(request.tenant);
    const usage = this.ledger.usage(tenant.id);
    const decision = this.decide(principal, 'blocks.allocate', tenant.id, { count: request.count }, {
      owned: usage.owned,
      cached: usage.cached,
      // The configured quota, not the ledger's: after a restart the ledger may carry a temporary
      // higher one (see sidecar/build-ledger.ts); policy must still hold the tenant to its tier.
      quota_blocks: tenant.quotaBlocks,
      pool: this.pools.get(tenant.pool),
    });
    const base = { principal, action: 'blocks.allocate' as const, tenant: tenant.id, counts: { requested: request.count } };
    if (!decision.allow) {
      await this.recordDenial({ ...base, reasons: decision.reasons });
      if (decision.reasons.includes('quota_exceeded')) throw this.quotaError(tenant, usage, request.count, decision.reasons);
      throw new TgError(Errors.POLICY_DENIED, { reasons: decision.reasons });
    }

    const result = this.ledger.allocate(tenant.id, request.count);
    this.metrics.decided(tenant.id, (performance.now() - started) / 1000);
    if (!result.ok) {
      await this.recordDenial({ ...base, reasons: [result.reason] });
      if (result.reason === 'quota_exceeded') throw this.quotaError(tenant, usage, request.count, [result.reason]);
      throw new TgError(Errors.POOL_EXHAUSTED, { reasons: [result.reason], details: { available: result.available, retry_after_seconds: 1 } });
    }
    const ids = result.blocks.map((b) => b.id);
    await this.recordChange(result.opId, {
      ...base,
      counts: { requested: request.count, granted: ids.length },
      blocks: ids,
      effects: {
        request_id: request.requestId,
        scrub: result.blocks.filter((b) => b.scrub).map((b) => b.id),
        evicted: result.evicted,
        reclaimed: result.reclaimed,
      },
    });
    return { request_id: request.requestId, blocks: result.blocks, reclaimed: result.reclaimed };
  }

  async free(principal: Principal, tenantId: string, blocks: readonly BlockId[], cache: boolean): Promise<{ freed: number; cached: number }> {
    const started = performance.now();
    const tenant = this.requireTenant(tenantId);
    await this.checkBatch(principal, 'blocks.free', tenant.id, blocks, { cache });
    const result = this.ledger.free(tenant.id, blocks, { cache });
    this.metrics.decided(tenant.id, (performance.now() - started) / 1000);
    if (!result.ok) return this.refuseBatch(principal, 'blocks.free', tenant.id, blocks, result);
    await this.recordChange(result.opId, { principal, action: 'blocks.free', tenant: tenant.id, blocks: [...blocks], counts: { cached: result.cached, dirty: result.dirty }, effects: { cache } });
    return { freed: blocks.length, cached: result.cached };
  }

  async access(principal: Principal, tenantId: string, blocks: readonly BlockId[], mode: AccessMode): Promise<{ granted: number; hits: number }> {
    const started = performance.now();
    const tenant = this.requireTenant(tenantId);
    await this.checkBatch(principal, 'blocks.access', tenant.id, blocks, { mode });
    const result = this.ledger.access(tenant.id, blocks, mode);
    this.metrics.decided(tenant.id, (performance.now() - started) / 1000);
    if (!result.ok) return this.refuseBatch(principal, 'blocks.access', tenant.id, blocks, result);
    // Reads change nothing but are still recorded: the audit trail is the evidence for I2/I4.
    await this.recordChange(result.opId, { principal, action: 'blocks.access', tenant: tenant.id, blocks: [...blocks], counts: { hits: result.hits }, effects: { mode } });
    return { granted: blocks.length, hits: result.hits };
  }

  async scrubbed(principal: Principal, blocks: readonly BlockId[]): Promise<{ cleaned: number; cleared: number }> {
    await this.checkBatch(principal, 'blocks.scrubbed', undefined, blocks, {});
    const result = this.ledger.confirmScrub(blocks);
    if (!result.ok) return this.refuseBatch(principal, 'blocks.scrubbed', undefined, blocks, result);
    await this.recordChange(result.opId, { principal, action: 'blocks.scrubbed', blocks: [...blocks], counts: { cleaned: result.cleaned, cleared: result.cleared } });
    return { cleaned: result.cleaned, cleared: result.cleared };
  }

  usage(tenantId: string): TenantUsage & { tenant: string; pool: string } {
    const tenant = this.requireTenant(tenantId);
    return { tenant: tenant.id, pool: tenant.pool, ...this.ledger.usage(tenant.id), quotaBlocks: tenant.quotaBlocks };
  }

  private requireTenant(id: string): TenantConfig {
    return this.tenants.require(id);
  }

  private decide(principal: Principal, action: Action, tenant: string | undefined, resource: Record<string, unknown>, facts: Record<string, unknown>): Decision {
    const decision = this.policy.decide(Entrypoints.blocks, {
      principal: { role: principal.role, id: principal.id, authn: principal.authn },
      action,
      ...(tenant ? { tenant } : {}),
      resource,
      facts,
    });
    if (decision.reasons.includes('policy_unavailable')) throw new TgError(Errors.POLICY_UNAVAILABLE);
    return decision;
  }

  /** Facts for a batch naming blocks: which belong to someone else (I4) or await a scrub (I2). */
  private async checkBatch(principal: Principal, action: Action, tenant: string | undefined, blocks: readonly BlockId[], extra: Record<string, unknown>): Promise<void> {
    const foreign: BlockId[] = [];
    const scrubPending: BlockId[] = [];
    if (tenant) {
      for (const id of blocks) {
        const state = this.ledger.blockState(id);
        if (!state || state.state === 'clean') continue;
        if (state.tenant !== null && state.tenant !== tenant && state.state !== 'dirty') foreign.push(id);
        if (state.state === 'owned' && state.tenant === tenant && state.awaitingScrub) scrubPending.push(id);
      }
    }
    const decision = this.decide(principal, action, tenant, { blocks, ...extra }, { foreign_blocks: foreign, scrub_pending: scrubPending });
    if (decision.allow) return;
    const violation = foreign.length > 0;
    await this.recordDenial({ principal, action, ...(tenant ? { tenant } : {}), blocks: [...blocks], reasons: decision.reasons, violation });
    if (violation) throw new TgError(Errors.NOT_OWNER, { reasons: decision.reasons });
    if (scrubPending.length > 0) throw new TgError(Errors.SCRUB_PENDING, { reasons: decision.reasons });
    throw new TgError(Errors.POLICY_DENIED, { reasons: decision.reasons });
  }

  /** The ledger refused what policy allowed: the code-enforced invariants (I1, I2, I4) win. */
  private async refuseBatch(principal: Principal, action: Action, tenant: string | undefined, blocks: readonly BlockId[], denied: BatchDenied): Promise<never> {
    const reasons = denied.blocks.map((b) => `${b.reason}:${b.id}`);
    await this.recordDenial({ principal, action, ...(tenant ? { tenant } : {}), blocks: [...blocks], reasons, violation: denied.violation });
    if (denied.violation) throw new TgError(Errors.NOT_OWNER, { reasons });
    if (denied.blocks.every((b) => b.reason === 'scrub_pending')) throw new TgError(Errors.SCRUB_PENDING, { reasons });
    if (denied.blocks.some((b) => b.reason === 'unknown_block' || b.reason === 'duplicate')) {
      throw new TgError(Errors.BAD_REQUEST, { message: 'batch names unknown or duplicate block ids', reasons });
    }
    throw new TgError(Errors.BLOCK_STATE, { reasons });
  }

  private quotaError(tenant: TenantConfig, usage: TenantUsage, requested: number, reasons: readonly string[]): TgError {
    return new TgError(Errors.QUOTA, {
      reasons,
      details: { quota_blocks: tenant.quotaBlocks, owned: usage.owned, cached: usage.cached, requested, retry_after_seconds: 1 },
    });
  }

  private recordChange(opId: OpId, event: EventParts): Promise<void> {
    const done = this.trail.recordChange(event, () => this.ledger.rollbackFrom(opId));
    return done.then(() => this.ledger.commit(opId));
  }

  private recordDenial(event: EventParts & { reasons: readonly string[]; violation?: boolean }): Promise<void> {
    if (event.tenant) this.metrics.rejected(event.tenant, event.reasons[0]?.replace(/:\d+$/, '') ?? 'denied', event.reasons.includes('quota_exceeded'));
    return this.trail.recordDenial(event, event.reasons, event.violation);
  }
}
