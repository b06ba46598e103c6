import type { PoolConfig, TenantConfig, TenantRegistry } from '../config/index.js';
import { Errors, TgError, isTgError } from '../errors.js';
import type { Principal } from '../identity/index.js';
import type { TenantMetrics } from '../metrics/index.js';
import type { AccessMode, BatchDenied, BlockId, BlockLedger, OpId, ScrubConfirmation, TenantUsage } from '../ledger/index.js';
import { Entrypoints, type Decision, type PolicyEngine } from '../policy/index.js';
import { AllocationMemo, type RememberedAllocation } from './allocation-memo.js';
import type { AuditTrail, EventParts } from './audit-trail.js';
import { askPolicy, refusalOf } from './policy-decision.js';

export interface AllocateRequest {
  readonly tenant: string;
  readonly requestId: string;
  readonly count: number;
}

export interface AllocateResponse {
  readonly request_id: string;
  /** `epoch` is what the scrub confirmation of the block names (I2). */
  readonly blocks: ReadonlyArray<{ id: BlockId; scrub: boolean; epoch: number }>;
  /** Own cached blocks reused: the worker drops its prefix-cache entries for them. */
  readonly reclaimed: readonly BlockId[];
}

/** One operation of a scheduler step (claim mode, `POST /v1/steps`). */
export type StepOp =
  | { readonly op: 'claim'; readonly tenant: string; readonly request_id: string; readonly blocks: readonly BlockId[]; readonly prefix_hits?: readonly BlockId[] | undefined }
  | { readonly op: 'release'; readonly tenant: string; readonly request_id: string; readonly blocks: readonly BlockId[]; readonly cache?: boolean | undefined }
  | { readonly op: 'scrubbed'; readonly blocks: readonly BlockId[]; readonly epochs: readonly number[] };

export interface StepRequest {
  readonly step: number;
  readonly ops: readonly StepOp[];
}

export interface StepOpResult {
  readonly index: number;
  readonly ok: boolean;
  readonly code?: string;
  readonly reasons?: readonly string[];
}

export interface PoolView {
  readonly pool: string;
  readonly blocks: ReadonlyArray<{ id: BlockId; state: 'owned' | 'cached' | 'dirty'; tenant: string | null; epoch: number; awaiting_scrub?: boolean }>;
  readonly requests: ReadonlyArray<{ tenant: string; request_id: string; blocks: readonly BlockId[] }>;
}

export interface StepResponse {
  readonly step: number;
  /** Claimed blocks holding another tenant's (or contaminated) data: zero them before the forward pass, then confirm (I2). */
  readonly scrub: readonly BlockId[];
  /** The use epoch of each `scrub` block, in the same order: the confirmation names it. */
  readonly scrub_epochs: readonly number[];
  readonly results: readonly StepOpResult[];
}

type Action = 'blocks.allocate' | 'blocks.claim' | 'blocks.free' | 'blocks.scrubbed' | 'blocks.access';

/**
 * Every block operation in one place, in one order: facts → one policy evaluation for the batch →
 * the ledger (which enforces I1, I2, I4 in code whatever the policy said) → a durable audit record
 * → acknowledge. The ledger change and the audit append happen in the same tick, so the log order
 * is the order of state changes; if the record cannot be made durable, the change is rolled back
 * and the caller gets 503 (fail closed, nothing half-applied).
 */
export class GuardedBlocks {
  private readonly pools: ReadonlyMap<string, { name: string; dedicated_to?: string }>;
  private readonly poolRanges: ReadonlyMap<string, { first: number; last: number }>;
  /**
   * Allocations in progress by recorded request id: an identical retry that arrives before the
   * first one's record is durable waits for that same outcome instead of allocating again (issue
   * 17.5). Bounded by the calls in progress; O(1) per call.
   */
  private readonly allocating = new Map<string, { readonly count: number; readonly done: Promise<RememberedAllocation> }>();

  constructor(
    private readonly ledger: BlockLedger,
    private readonly policy: PolicyEngine,
    private readonly trail: AuditTrail,
    private readonly tenants: TenantRegistry,
    pools: readonly PoolConfig[],
    private readonly metrics: TenantMetrics,
    /** Durable allocations by recorded request id, rebuilt by replay (issue 17.5). */
    private readonly allocations: AllocationMemo = new AllocationMemo(),
  ) {
    this.pools = new Map(pools.map((p) => [p.name, { name: p.name, ...(p.dedicatedTo ? { dedicated_to: p.dedicatedTo } : {}) }]));
    this.poolRanges = new Map(pools.map((p) => [p.name, { first: p.first, last: p.last }]));
  }

  /**
   * Idempotent per tenant and request_id (issue 17.5): a retry with the same count gets the
   * first answer (same blocks, epochs and scrub flags), allocates nothing and records nothing,
   * whether the first is still in flight or durable, on either dispatcher, also after a restart
   * (the memo is rebuilt from the audit records). The same id with another count is a 409. The id
   * is remembered while every block it got is still owned in that use (see AllocationMemo); once
   * one is freed, the id names nothing and a call with it is a new allocation.
   */
  async allocate(principal: Principal, request: AllocateRequest): Promise<AllocateResponse> {
    const tenant = this.requireTenant(request.tenant);
    // The idempotency key is the id's keyed digest, the value the audit record holds (issue 20.6).
    const key = this.trail.recordedId('request', tenant.id, request.requestId);
    const base = { principal, action: 'blocks.allocate' as const, tenant: tenant.id, counts: { requested: request.count }, effects: { request_id: key } };
    const pending = this.allocating.get(key);
    if (pending !== undefined) {
      if (pending.count !== request.count) return this.idempotencyConflict(base);
      return answerOf(request.requestId, await pending.done);
    }
    const known = this.allocations.lookup(key, this.ledger);
    if (known !== undefined) {
      if (known.count !== request.count) return this.idempotencyConflict(base);
      return answerOf(request.requestId, known);
    }
    const done = this.allocateOnce(principal, tenant, request, key);
    this.allocating.set(key, { count: request.count, done });
    try {
      return answerOf(request.requestId, await done);
    } finally {
      if (this.allocating.get(key)?.done === done) this.allocating.delete(key);
    }
  }

  private async allocateOnce(principal: Principal, tenant: TenantConfig, request: AllocateRequest, key: string): Promise<RememberedAllocation> {
    const started = performance.now();
    const usage = this.ledger.usage(tenant.id);
    const decision = this.decide(principal, 'blocks.allocate', tenant.id, { count: request.count }, this.holdingFacts(tenant, usage));
    const base = { principal, action: 'blocks.allocate' as const, tenant: tenant.id, counts: { requested: request.count } };
    if (!decision.allow) {
      if (decision.reasons.includes('quota_exceeded') && request.count > tenant.quotaBlocks) return this.neverFits(base, tenant, request.count, 'count_over_quota');
      await this.recordDenial({ ...base, reasons: decision.reasons });
      if (decision.reasons.includes('quota_exceeded')) throw this.quotaError(tenant, usage, request.count, decision.reasons);
      throw refusalOf(decision);
    }

    const result = this.ledger.allocate(tenant.id, request.count);
    this.metrics.decided(tenant.id, (performance.now() - started) / 1000);
    if (!result.ok) {
      if (result.reason === 'quota_exceeded' && request.count > tenant.quotaBlocks) return this.neverFits(base, tenant, request.count, 'count_over_quota');
      if (result.reason === 'pool_exhausted' && request.count > this.poolSize(tenant)) return this.neverFits(base, tenant, request.count, 'count_over_pool');
      await this.recordDenial({ ...base, reasons: [result.reason] });
      if (result.reason === 'quota_exceeded') throw this.quotaError(tenant, usage, request.count, [result.reason]);
      // No `available`: how full the shared pool is tells a caller about other tenants' load (M1).
      // Blocks come back when some tenant frees them, which nobody can time: Retry-After is a
      // poll interval (issue 17.4, docs/api.md).
      throw new TgError(Errors.POOL_EXHAUSTED, { reasons: [result.reason], details: { retry_after_seconds: 1 } });
    }
    const ids = result.blocks.map((b) => b.id);
    await this.recordChange(result.opId, {
      ...base,
      counts: { requested: request.count, granted: ids.length },
      blocks: ids,
      effects: {
        request_id: key,
        scrub: result.blocks.filter((b) => b.scrub).map((b) => b.id),
        evicted: result.evicted,
        reclaimed: result.reclaimed,
      },
    });
    // Durable now: only from here on may a retry be answered with it (a rolled-back allocation
    // must never be handed out again).
    const allocation: RememberedAllocation = { tenant: tenant.id, count: request.count, blocks: result.blocks, reclaimed: result.reclaimed };
    this.allocations.remember(key, allocation);
    return allocation;
  }

  /** The request alone is over the quota or the pool: no wait helps, so no Retry-After (issue 17.4). */
  private async neverFits(base: EventParts, tenant: TenantConfig, requested: number, reason: 'count_over_quota' | 'count_over_pool'): Promise<never> {
    await this.recordDenial({ ...base, reasons: [reason] });
    throw new TgError(Errors.COUNT_OVER_LIMIT, {
      reasons: [reason],
      details: { retryable: false, requested, ...(reason === 'count_over_quota' ? { quota_blocks: tenant.quotaBlocks } : { pool_blocks: this.poolSize(tenant) }) },
    });
  }

  /** Same tenant and request_id, another count, while the first allocation is live (issue 17.5). */
  private async idempotencyConflict(base: EventParts): Promise<never> {
    await this.recordDenial({ ...base, reasons: ['idempotency_conflict'] });
    throw new TgError(Errors.IDEMPOTENCY_CONFLICT, { reasons: ['idempotency_conflict'] });
  }

  private poolSize(tenant: TenantConfig): number {
    const range = this.poolRanges.get(tenant.pool);
    return range === undefined ? Infinity : range.last - range.first + 1;
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

  /** `epochs[i]` is the use epoch of `blocks[i]` the worker zeroed it in (from its allocation answer). */
  async scrubbed(principal: Principal, blocks: readonly BlockId[], epochs: readonly number[]): Promise<{ cleaned: number; cleared: number }> {
    await this.checkBatch(principal, 'blocks.scrubbed', undefined, blocks, {});
    const result = this.ledger.confirmScrub(scrubConfirmations(blocks, epochs));
    if (!result.ok) return this.refuseBatch(principal, 'blocks.scrubbed', undefined, blocks, result);
    await this.recordChange(result.opId, { principal, action: 'blocks.scrubbed', blocks: [...blocks], counts: { cleaned: result.cleaned, cleared: result.cleared }, effects: { epochs: [...epochs] } });
    return { cleaned: result.cleaned, cleared: result.cleared };
  }

  /**
   * Claim mode: one scheduler step of an engine that chose its own blocks. Each op is atomic on its
   * own (a refusal fails that op only); policy is evaluated once per tenant with claims, on the
   * facts at the start of the step, for all of that tenant's claims together (I3, I5), and once per
   * scrub confirmation. Releases are not policy-gated: they only give blocks back, and the ledger
   * refuses a release of anything the request does not hold (I4). Every op's record (change or
   * refusal) is appended in the same tick, so the whole step is one durable group commit; if it
   * fails, every op of the step is rolled back and the caller gets 503 (nothing half-applied).
   */
  async step(principal: Principal, request: StepRequest): Promise<StepResponse> {
    const started = performance.now();
    // Every policy call comes first: once ops are applied nothing may throw before the records are appended.
    const claimVerdicts = this.decideClaims(principal, request.ops);
    const scrubVerdicts = request.ops.map((op) => (op.op === 'scrubbed' ? this.decide(principal, 'blocks.scrubbed', undefined, { blocks: op.blocks }, {}) : null));
    const results: StepOpResult[] = [];
    const scrub: BlockId[] = [];
    const scrubEpochs: number[] = [];
    const scrubSet = new Set<BlockId>();
    const records: Promise<unknown>[] = [];
    let firstOp: OpId | null = null;
    let lastOp: OpId | null = null;
    const applied = (index: number, opId: OpId, event: EventParts): void => {
      firstOp ??= opId;
      lastOp = opId;
      results.push({ index, ok: true });
      // The step is undone as a whole below, not record by record.
      records.push(this.trail.recordChange(event, () => undefined));
    };
    const refused = (index: number, event: EventParts, error: TgError, violation = false): void => {
      results.push({ index, ok: false, code: error.code, ...(error.reasons.length > 0 ? { reasons: error.reasons } : {}) });
      records.push(this.recordDenial({ ...event, reasons: error.reasons.length > 0 ? error.reasons : [reasonOf(error)], violation }));
    };

    const apply = (op: StepOp, index: number): void => {
      const blocks = [...op.blocks];
      if (op.op === 'scrubbed') {
        const event = { principal, action: 'blocks.scrubbed', blocks, effects: { epochs: [...op.epochs], step: request.step } };
        const decision = scrubVerdicts[index]!;
        if (!decision.allow) return refused(index, event, refusalOf(decision));
        const result = this.ledger.confirmScrub(scrubConfirmations(blocks, op.epochs));
        if (!result.ok) return refused(index, event, batchError(result), result.violation);
        return applied(index, result.opId, { ...event, counts: { cleaned: result.cleaned, cleared: result.cleared } });
      }
      const verdict = claimVerdicts.get(op.tenant);
      const tenant = verdict instanceof TgError || verdict === undefined ? null : verdict;
      // The ledger holds a request by its recorded id, the value replay finds in the log (L1).
      const requestId = this.trail.recordedId('request', op.tenant, op.request_id);
      if (op.op === 'release') {
        const cache = op.cache === true;
        const event = { principal, action: 'blocks.release', tenant: op.tenant, blocks, effects: { request_id: requestId, cache, step: request.step } };
        if (tenant === null) return refused(index, event, verdict as TgError);
        const result = this.ledger.release(tenant.id, requestId, blocks, { cache });
        if (!result.ok) return refused(index, event, batchError(result), result.violation);
        return applied(index, result.opId, { ...event, counts: { cached: result.cached, dirty: result.dirty, shared: result.shared } });
      }
      const prefixHits = [...(op.prefix_hits ?? [])];
      const event = { principal, action: 'blocks.claim', tenant: op.tenant, blocks, effects: { request_id: requestId, prefix_hits: prefixHits, step: request.step } };
      if (tenant === null) return refused(index, event, verdict as TgError);
      // Blocks listed for scrub by this step are zeroed before its forward pass: hits on them are safe (I2).
      const result = this.ledger.claim(tenant.id, requestId, blocks, prefixHits, scrubSet);
      if (!result.ok) {
        if (result.reason === 'quota_exceeded') return refused(index, event, this.quotaError(tenant, this.ledger.usage(tenant.id), result.requested, [result.reason]));
        return refused(index, event, batchError(result), result.violation);
      }
      const scrubbed = result.blocks.filter((b) => b.scrub);
      for (const b of scrubbed) {
        scrub.push(b.id);
        scrubEpochs.push(b.epoch);
        scrubSet.add(b.id);
      }
      return applied(index, result.opId, {
        ...event,
        counts: { claimed: blocks.length, hits: result.hits },
        effects: { ...event.effects, scrub: scrubbed.map((b) => b.id), evicted: result.evicted, reclaimed: result.reclaimed },
      });
    };
    request.ops.forEach((op, index) => {
      try {
        apply(op, index);
      } catch (error) {
        // A refusal the ledger raises (e.g. the tenant was erased since the policy call) fails this op only.
        if (!isTgError(error)) throw error;
        refused(index, { principal, action: `blocks.${op.op === 'scrubbed' ? 'scrubbed' : op.op}`, ...(op.op === 'scrubbed' ? {} : { tenant: op.tenant }), blocks: [...op.blocks] }, error);
      }
    });
    for (const tenant of claimVerdicts.keys()) this.metrics.decided(tenant, (performance.now() - started) / 1000);

    const settled = await Promise.allSettled(records);
    const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failure !== undefined) {
      if (firstOp !== null && this.ledger.isPending(firstOp)) this.ledger.rollbackFrom(firstOp);
      throw failure.reason;
    }
    if (lastOp !== null) this.ledger.commit(lastOp);
    return { step: request.step, scrub, scrub_epochs: scrubEpochs, results };
  }

  /**
   * Operator view of one pool: every block that is not clean and every live claim-mode request.
   * O(pool size + live requests); for diagnostics and for checking an engine's block table against
   * the ledger, not for a hot path. Ids and states only, no content (L1).
   */
  poolView(poolName: string): PoolView {
    const pool = this.poolRanges.get(poolName);
    if (pool === undefined) throw new TgError(Errors.NOT_FOUND, { message: `no pool named ${JSON.stringify(poolName.slice(0, 64))}; GET /v1/tenants lists each tenant's pool` });
    const blocks: PoolView['blocks'][number][] = [];
    for (let id = pool.first; id <= pool.last; id++) {
      const state = this.ledger.blockState(id);
      if (state === undefined || state.state === 'clean') continue;
      blocks.push({ id, state: state.state, tenant: state.tenant, epoch: this.ledger.epochOf(id) ?? 0, ...(state.state === 'owned' ? { awaiting_scrub: state.awaitingScrub } : {}) });
    }
    const requests = this.tenants
      .all()
      .filter((t) => t.pool === poolName)
      .flatMap((t) => this.ledger.liveRequests(t.id).map((requestId) => ({ tenant: t.id, request_id: requestId, blocks: this.ledger.requestBlocks(t.id, requestId) })));
    return { pool: poolName, blocks, requests };
  }

  usage(tenantId: string): TenantUsage & { tenant: string; pool: string } {
    const tenant = this.requireTenant(tenantId);
    return { tenant: tenant.id, pool: tenant.pool, ...this.ledger.usage(tenant.id), quotaBlocks: tenant.quotaBlocks };
  }

  private requireTenant(id: string): TenantConfig {
    return this.tenants.require(id);
  }

  private decide(principal: Principal, action: Action, tenant: string | undefined, resource: Record<string, unknown>, facts: Record<string, unknown>): Decision {
    const decision = askPolicy(this.policy, Entrypoints.blocks, principal, { action, tenant: tenant || undefined, resource, facts });
    if (decision.reasons.includes('policy_unavailable')) throw refusalOf(decision);
    return decision;
  }

  /**
   * One policy evaluation per tenant named by the step, on the facts at the step's start: the
   * tenant's claims together may not take it past its quota (I3) or out of its pool (I5). The
   * value is the refusal every op of that tenant gets, or the tenant's config when allowed.
   */
  private decideClaims(principal: Principal, ops: readonly StepOp[]): Map<string, TgError | TenantConfig> {
    const adding = new Map<string, Set<BlockId>>();
    for (const op of ops) {
      if (op.op === 'scrubbed') continue;
      let ids = adding.get(op.tenant);
      if (ids === undefined) adding.set(op.tenant, (ids = new Set()));
      if (op.op !== 'claim') continue;
      for (const id of [...op.blocks, ...(op.prefix_hits ?? [])]) {
        const state = this.ledger.blockState(id);
        if (state?.state !== 'owned' || state.tenant !== op.tenant) ids.add(id);
      }
    }
    const verdicts = new Map<string, TgError | TenantConfig>();
    for (const [tenantId, ids] of adding) {
      let tenant: TenantConfig;
      try {
        tenant = this.requireTenant(tenantId);
      } catch (error) {
        verdicts.set(tenantId, isTgError(error) ? error : new TgError(Errors.UNKNOWN_TENANT));
        continue;
      }
      if (!ops.some((op) => op.op === 'claim' && op.tenant === tenantId)) {
        verdicts.set(tenantId, tenant);
        continue;
      }
      const usage = this.ledger.usage(tenant.id);
      const decision = this.decide(principal, 'blocks.claim', tenant.id, { count: ids.size }, this.holdingFacts(tenant, usage));
      if (decision.allow) verdicts.set(tenantId, tenant);
      else if (decision.reasons.includes('quota_exceeded')) verdicts.set(tenantId, this.quotaError(tenant, usage, ids.size, decision.reasons));
      else verdicts.set(tenantId, refusalOf(decision));
    }
    return verdicts;
  }

  /** Facts for a decision that gives the tenant blocks (I3 quota, I5 pool). */
  private holdingFacts(tenant: TenantConfig, usage: TenantUsage): Record<string, unknown> {
    return {
      owned: usage.owned,
      cached: usage.cached,
      // The configured quota, not the ledger's: after a restart the ledger may carry a temporary
      // higher one (see sidecar/restore-state.ts); policy must still hold the tenant to its tier.
      quota_blocks: tenant.quotaBlocks,
      pool: this.pools.get(tenant.pool),
    };
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
    throw refusalOf(decision);
  }

  /** The ledger refused what policy allowed: the code-enforced invariants (I1, I2, I4) win. */
  private async refuseBatch(principal: Principal, action: Action, tenant: string | undefined, blocks: readonly BlockId[], denied: BatchDenied): Promise<never> {
    const error = batchError(denied);
    await this.recordDenial({ principal, action, ...(tenant ? { tenant } : {}), blocks: [...blocks], reasons: error.reasons, violation: denied.violation });
    throw error;
  }

  private quotaError(tenant: TenantConfig, usage: TenantUsage, requested: number, reasons: readonly string[]): TgError {
    return new TgError(Errors.QUOTA, {
      reasons,
      details: { quota_blocks: tenant.quotaBlocks, owned: usage.owned, cached: usage.cached, requested, retry_after_seconds: 1 },
    });
  }

  private recordChange(opId: OpId, event: EventParts): Promise<void> {
    // A failed group commit fails every operation in it; the first rollback undoes the later ones.
    const done = this.trail.recordChange(event, () => {
      if (this.ledger.isPending(opId)) this.ledger.rollbackFrom(opId);
    });
    return done.then(() => this.ledger.commit(opId));
  }

  private recordDenial(event: EventParts & { reasons: readonly string[]; violation?: boolean }): Promise<void> {
    // No block refusal is a rate limit: a quota bounds what a tenant holds, not how fast it asks
    // (issue 17.9b); quota refusals are counted by reason only.
    if (event.tenant) this.metrics.rejected(event.tenant, event.reasons[0]?.replace(/:\d+$/, '') ?? 'denied', false);
    return this.trail.recordDenial(event, event.reasons, event.violation);
  }
}

/** The answer to an allocation (first call or retry): the id as sent, the blocks as granted. */
function answerOf(requestId: string, allocation: RememberedAllocation): AllocateResponse {
  return { request_id: requestId, blocks: allocation.blocks.map((b) => ({ ...b })), reclaimed: [...allocation.reclaimed] };
}

/** The error catalogue's answer to a batch the ledger refused (I1, I2, I4 win over any policy). */
function batchError(denied: BatchDenied): TgError {
  const reasons = denied.blocks.map((b) => `${b.reason}:${b.id}`);
  if (denied.violation) return new TgError(Errors.NOT_OWNER, { reasons });
  if (denied.blocks.every((b) => b.reason === 'scrub_pending')) return new TgError(Errors.SCRUB_PENDING, { reasons });
  if (denied.blocks.every((b) => b.reason === 'stale_scrub')) return new TgError(Errors.SCRUB_STALE, { reasons });
  if (denied.blocks.some((b) => b.reason === 'unknown_block' || b.reason === 'duplicate')) {
    return new TgError(Errors.BAD_REQUEST, { message: 'batch names unknown or duplicate block ids', reasons });
  }
  return new TgError(Errors.BLOCK_STATE, { reasons });
}

/** An audit reason for a refusal that has none of its own: its code, in the reason alphabet. */
function reasonOf(error: TgError): string {
  return error.code.replace(/^TG_ERR_/, '').toLowerCase();
}

/** Pairs confirmed ids with their epochs; the schemas make both arrays the same length. */
function scrubConfirmations(blocks: readonly BlockId[], epochs: readonly number[]): ScrubConfirmation[] {
  if (blocks.length !== epochs.length) throw new TgError(Errors.BAD_REQUEST, { message: 'epochs must name one epoch per block, in the same order' });
  return blocks.map((id, i) => ({ id, epoch: epochs[i]! }));
}
