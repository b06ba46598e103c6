import { admissionErrorFor, type AdmissionController, type AdmissionDenialReason } from '../admission/index.js';
import type { AuditLog } from '../audit/index.js';
import type { TenantRegistry } from '../config/index.js';
import { Errors, TgError } from '../errors.js';
import type { Principal } from '../identity/index.js';
import type { TenantMetrics } from '../metrics/index.js';
import { Entrypoints, type PolicyEngine } from '../policy/index.js';
import type { AuditTrail } from './audit-trail.js';

export interface AdmissionRequest {
  readonly tenant: string;
  readonly requestId: string;
  readonly maxTokens: number;
}

/** Denials that are rate limits (counted as `rate_limited` in a tenant's metrics). */
const RATE_LIMITS: ReadonlySet<string> = new Set(['concurrent_limit', 'token_limit', 'queue_timeout']);

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

  async admit(principal: Principal, request: AdmissionRequest): Promise<{ request_id: string; admitted: true; waited_ms: number; charged_tokens: number }> {
    const tenant = this.tenants.require(request.tenant);
    const usage = this.controller.usage(tenant.id);
    const decision = this.policy.decide(Entrypoints.admission, {
      principal: { role: principal.role, id: principal.id, authn: principal.authn },
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
    const event = { principal, action: 'admission.request', tenant: tenant.id, counts: { max_tokens: request.maxTokens }, effects: { request_id: this.trail.recordedId('admission', tenant.id, request.requestId) } };
    if (!decision.allow) {
      if (decision.reasons.includes('policy_unavailable')) throw new TgError(Errors.POLICY_UNAVAILABLE);
      await this.refuse(event, decision.reasons);
      const limit = decision.reasons.find((r): r is AdmissionDenialReason => RATE_LIMITS.has(r));
      if (limit) throw new TgError(admissionErrorFor(limit), { reasons: decision.reasons, details: { retry_after_seconds: 1 } });
      throw new TgError(Errors.POLICY_DENIED, { reasons: decision.reasons });
    }

    const result = await this.controller.admit(tenant.id, request.requestId, request.maxTokens);
    if (!result.ok) {
      await this.refuse(event, [result.reason]);
      throw new TgError(admissionErrorFor(result.reason), {
        reasons: [result.reason],
        details: {
          retry_after_seconds: Math.max(1, Math.ceil(result.retryAfterMs / 1000)),
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

  private async refuse(event: Parameters<AuditTrail['recordDenial']>[0], reasons: readonly string[]): Promise<void> {
    if (event.tenant) this.metrics.rejected(event.tenant, reasons[0] ?? 'denied', reasons.some((r) => RATE_LIMITS.has(r)));
    await this.trail.recordDenial(event, reasons);
  }
}
