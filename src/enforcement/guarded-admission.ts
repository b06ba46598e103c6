import { admissionErrorFor, type AdmissionController, type AdmissionDenialReason } from '../admission/index.js';
import type { AuditLog } from '../audit/index.js';
import type { TenantConfig, TenantRegistry } from '../config/index.js';
import { Errors, TgError } from '../errors.js';
import type { Principal } from '../identity/index.js';
import type { TenantMetrics } from '../metrics/index.js';
import { Entrypoints, type PolicyEngine } from '../policy/index.js';
import type { AuditTrail } from './audit-trail.js';
import { askPolicy, refusalOf } from './policy-decision.js';

export interface AdmissionRequest {
  readonly tenant: string;
  readonly requestId: string;
  readonly maxTokens: number;
}

/**
 * Denials that are rate limits (counted as `rate_limited` in a tenant's metrics, issue 17.9b):
 * waiting lifts them. `max_tokens_over_limit` is not among them: no wait helps.
 */
const RATE_LIMITS: ReadonlySet<string> = new Set(['concurrent_limit', 'token_limit', 'queue_timeout']);

/** Retry-After for a concurrency refusal: a slot frees when a request completes, which nobody can time, so a poll interval (issue 17.4). */
const CONCURRENCY_HINT_MS = 1000;

type AdmitAnswer = { request_id: string; admitted: true; waited_ms: number; charged_tokens: number };
type DenialEvent = Parameters<AuditTrail['recordDenial']>[0];

/** Retry-After in whole seconds, rounded up (never 0), plus the exact milliseconds. */
function retryAfter(ms: number): { retry_after_seconds: number; retry_after_ms: number } {
  const exact = Math.max(0, Math.ceil(ms));
  return { retry_after_seconds: Math.max(1, Math.ceil(exact / 1000)), retry_after_ms: exact };
}

/**
 * Admission (tier limits and weighted fair queueing for worker capacity): one policy evaluation
 * (`tenantguard.admission`) on the tenant's current figures, then the controller, which enforces
 * the same limits in code and queues when the worker is full; every outcome is audited.
 */
export class GuardedAdmission {
  constructor(
    private readonly controller: AdmissionController,
    private readonly policy: PolicyEngine,
    private readonly trail: AuditTrail,
    private readonly audit: AuditLog,
    private readonly tenants: TenantRegistry,
    private readonly metrics: TenantMetrics,
  ) {}

  /**
   * Admission in flight per recorded request id (issue 17.5): from the first call until its record
   * is durable (or it was refused), so an identical retry arriving meanwhile shares its outcome
   * instead of being admitted a second time. Bounded by the calls in progress (each tenant's
   * concurrency limit bounds its admitted and queued ones); O(1) per call.
   */
  private readonly inProgress = new Map<string, { readonly maxTokens: number; readonly answer: Promise<AdmitAnswer> }>();

  /**
   * Idempotent per tenant and request_id (issue 17.5): while the request is live (queued, or
   * admitted and not yet completed or reclaimed) a retry with the same `max_tokens` gets the same
   * answer, admits nothing and records nothing; with another `max_tokens` it is a 409. The key is
   * the id's keyed digest (issue 20.6), never the id. The controller's state is not rebuilt at a
   * restart (admissions do not survive one), so after a restart a retry is a new admission.
   */
  async admit(principal: Principal, request: AdmissionRequest): Promise<AdmitAnswer> {
    const tenant = this.tenants.require(request.tenant);
    const key = this.trail.recordedId('admission', tenant.id, request.requestId);
    const event = { principal, action: 'admission.request', tenant: tenant.id, counts: { max_tokens: request.maxTokens }, effects: { request_id: key } };
    const pending = this.inProgress.get(key);
    if (pending !== undefined) {
      if (pending.maxTokens !== request.maxTokens) return this.conflict(event);
      return pending.answer;
    }
    const live = this.controller.lookup(request.requestId);
    if (live !== undefined && live.tenant === tenant.id && live.state === 'in_flight') {
      if (live.estimate !== request.maxTokens) return this.conflict(event);
      return { request_id: request.requestId, admitted: true, waited_ms: Math.round(live.waitedMs), charged_tokens: live.estimate };
    }
    const answer = this.admitOnce(tenant, request, event);
    this.inProgress.set(key, { maxTokens: request.maxTokens, answer });
    try {
      return await answer;
    } finally {
      if (this.inProgress.get(key)?.answer === answer) this.inProgress.delete(key);
    }
  }

  private async admitOnce(tenant: TenantConfig, request: AdmissionRequest, event: DenialEvent): Promise<AdmitAnswer> {
    const usage = this.controller.usage(tenant.id);
    const decision = askPolicy(this.policy, Entrypoints.admission, event.principal, {
      action: 'admission.request',
      tenant: tenant.id,
      resource: { max_tokens: request.maxTokens },
      facts: {
        in_flight: usage.inFlight + usage.queued,
        concurrent_limit: tenant.limits.concurrent,
        tokens_in_window: usage.tokensInWindow,
        tokens_per_minute: tenant.limits.tokensPerMinute,
      },
    });
    if (!decision.allow) {
      if (decision.reasons.includes('policy_unavailable')) throw refusalOf(decision);
      if (decision.reasons.includes('token_limit')) {
        const waitMs = this.controller.tokenWaitMs(tenant.id, request.maxTokens);
        if (waitMs === Infinity) throw await this.neverFits(event, tenant, request, decision.reasons);
        await this.refuse(event, decision.reasons);
        // Exact (issue 17.4): the moment enough of the window's charges leave it. With a
        // concurrency refusal as well, the later of that and the concurrency hint.
        const ms = decision.reasons.includes('concurrent_limit') ? Math.max(waitMs, CONCURRENCY_HINT_MS) : waitMs;
        throw new TgError(admissionErrorFor('token_limit'), { reasons: decision.reasons, details: retryAfter(ms) });
      }
      await this.refuse(event, decision.reasons);
      const limit = decision.reasons.find((r): r is AdmissionDenialReason => RATE_LIMITS.has(r));
      // Concurrency frees when one of the tenant's requests completes: nobody can know when, so
      // Retry-After is a poll interval (1 s), as documented in docs/api.md.
      if (limit) throw new TgError(admissionErrorFor(limit), { reasons: decision.reasons, details: retryAfter(CONCURRENCY_HINT_MS) });
      throw refusalOf(decision);
    }

    const result = await this.controller.admit(tenant.id, request.requestId, request.maxTokens);
    if (!result.ok) {
      if (result.reason === 'token_limit' && request.maxTokens > tenant.limits.tokensPerMinute) throw await this.neverFits(event, tenant, request, [result.reason]);
      await this.refuse(event, [result.reason]);
      throw new TgError(admissionErrorFor(result.reason), {
        reasons: [result.reason],
        details: {
          ...(result.reason === 'duplicate_request' ? {} : retryAfter(result.retryAfterMs)),
          ...(result.limit !== undefined ? { limit: result.limit } : {}),
          ...(result.current !== undefined ? { current: result.current } : {}),
        },
      });
    }
    // If the admission cannot be made durable, the slot and the token charge are given back.
    await this.trail.recordChange({ ...event, counts: { max_tokens: request.maxTokens, waited_ms: Math.round(result.waitedMs) } }, () => {
      this.controller.complete(request.requestId, { inputTokens: 0, outputTokens: 0 });
    });
    this.metrics.admitted(tenant.id, result.waitedMs / 1000); // only what was really admitted counts
    return { request_id: request.requestId, admitted: true, waited_ms: Math.round(result.waitedMs), charged_tokens: result.chargedTokens };
  }

  /** `max_tokens` alone is over the tenant's limit: no wait helps, so no Retry-After (issue 17.4). */
  private async neverFits(event: DenialEvent, tenant: TenantConfig, request: AdmissionRequest, reasons: readonly string[]): Promise<TgError> {
    const recorded = [...reasons.filter((r) => r !== 'token_limit'), 'max_tokens_over_limit'];
    await this.refuse(event, recorded);
    return new TgError(Errors.MAX_TOKENS_OVER_LIMIT, { reasons: recorded, details: { retryable: false, limit: tenant.limits.tokensPerMinute, requested: request.maxTokens } });
  }

  /** Same tenant and request_id, another body, while the first is live (issue 17.5). */
  private async conflict(event: DenialEvent): Promise<never> {
    await this.refuse(event, ['idempotency_conflict']);
    throw new TgError(Errors.IDEMPOTENCY_CONFLICT, { reasons: ['idempotency_conflict'] });
  }

  /**
   * A completion reports a fact (the engine finished) and frees a slot; it is applied even if its
   * record then fails, because refusing it would leak the slot. An unwritable log is checked first
   * so that in the common case nothing changes without a record.
   */
  async complete(principal: Principal, requestId: string, inputTokens: number, outputTokens: number): Promise<{ request_id: string; used_tokens: number; estimated_tokens: number }> {
    if (!this.audit.healthy) throw new TgError(Errors.AUDIT_DOWN);
    const result = this.controller.complete(requestId, { inputTokens, outputTokens });
    if (!result.ok) throw new TgError(Errors.UNKNOWN_REQUEST);
    this.metrics.completed(result.tenant, inputTokens, outputTokens);
    await this.trail.recordChange(
      { principal, action: 'admission.complete', tenant: result.tenant, counts: { input_tokens: inputTokens, output_tokens: outputTokens, estimated_tokens: result.estimatedTokens }, effects: { request_id: this.trail.recordedId('admission', result.tenant, requestId) } },
      () => undefined,
    );
    return { request_id: requestId, used_tokens: result.usedTokens, estimated_tokens: result.estimatedTokens };
  }

  private async refuse(event: DenialEvent, reasons: readonly string[]): Promise<void> {
    if (event.tenant) this.metrics.rejected(event.tenant, reasons[0] ?? 'denied', reasons.some((r) => RATE_LIMITS.has(r)));
    await this.trail.recordDenial(event, reasons);
  }
}
