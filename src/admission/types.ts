/**
 * Public types of admission control. Denials are values (`ok: false`), never rejections: the
 * caller audits them and maps them to the error catalogue (`errorFor`). TgError is kept for
 * malformed input (unknown tenant, bad numbers) and bad options.
 */
export type TenantId = string;
export type RequestId = string;

export interface AdmissionTenant {
  id: TenantId;
  /** 1 = most important … 5 = least. Weight in the fair queue is 6 - priority. */
  priority: number;
  /** Most requests admitted or queued at once (0 refuses every request). */
  concurrent: number;
  /** Most tokens charged in any sliding 60 s window. */
  tokensPerMinute: number;
}

export type AdmissionTenantPatch = Partial<Pick<AdmissionTenant, 'priority' | 'concurrent' | 'tokensPerMinute'>>;

export interface AdmissionClock {
  /** Milliseconds; only differences matter. A clock going backwards is treated as standing still. */
  now(): number;
}

/** A cancellable one-shot timer, so tests can drive time with a fake clock. */
export interface AdmissionTimer {
  schedule(callback: () => void, delayMs: number): { cancel(): void };
}

export interface ReclaimedRequest {
  requestId: RequestId;
  tenant: TenantId;
  admittedAt: number;
  /** Tokens still charged to the tenant's window (the estimate: it never reported usage). */
  chargedTokens: number;
}

export interface AdmissionOptions {
  /** Requests the worker runs at once, across all tenants. */
  capacitySlots: number;
  /** How long a request may wait for capacity before it is denied with `queue_timeout`. 0: no queueing. */
  maxQueueWaitMs: number;
  /** An admitted request not completed after this long is reclaimed (slot and concurrency freed). */
  requestTimeoutMs: number;
  /** Defaults to `Date.now`. */
  clock?: AdmissionClock;
  /**
   * Wakes the controller at the next queue deadline or reclaim deadline. Defaults to an unref'd
   * `setTimeout`; `null` runs no timer (deadlines are then applied on the next call only).
   */
  timer?: AdmissionTimer | null;
  /**
   * Retry-After for denials whose end cannot be computed (`concurrent_limit`, `queue_timeout`,
   * `shutting_down`, `tenant_removed`). Default 1000 ms.
   */
  retryAfterHintMs?: number;
  /**
   * Called for every reclaimed request, whatever noticed the deadline (the timer, any call, or
   * `reclaimExpired`), after the controller's state is consistent. Audit reclaims here. Must not
   * throw.
   */
  onReclaim?: (reclaimed: ReclaimedRequest) => void;
}

export type AdmissionDenialReason =
  /** The tenant has `concurrent` requests admitted or queued. Does not queue. */
  | 'concurrent_limit'
  /** The estimate does not fit the tenant's tokens-per-minute window. */
  | 'token_limit'
  /** No worker slot came free within `maxQueueWaitMs`. */
  | 'queue_timeout'
  /** The request id is admitted or queued already. */
  | 'duplicate_request'
  /** `close()` was called. */
  | 'shutting_down'
  /** The tenant was removed while the request was queued. */
  | 'tenant_removed';

export interface AdmissionDenied {
  ok: false;
  reason: AdmissionDenialReason;
  /** When a retry can succeed: exact for `token_limit`, a hint for the others, 0 for duplicates. */
  retryAfterMs: number;
  /** `concurrent_limit`: the concurrency limit; `token_limit`: tokens per minute. */
  limit?: number;
  /** `concurrent_limit`: admitted + queued; `token_limit`: tokens charged in the window. */
  current?: number;
}

export interface Admitted {
  ok: true;
  requestId: RequestId;
  /** Time spent queued for a worker slot (0 when a slot was free). */
  waitedMs: number;
  /** The estimate charged to the window (corrected by `complete`). */
  chargedTokens: number;
}

export type AdmitResult = Admitted | AdmissionDenied;

export interface RequestUsage {
  inputTokens: number;
  outputTokens: number;
}

export interface Completed {
  ok: true;
  requestId: RequestId;
  tenant: TenantId;
  /** What admission charged. */
  estimatedTokens: number;
  /** inputTokens + outputTokens: what the window now holds for this request. */
  usedTokens: number;
  /**
   * False when the charge had already left the 60 s window (a request longer than a minute): the
   * correction then changes nothing.
   */
  windowCorrected: boolean;
  heldMs: number;
}

/** Not admitted, already completed, or reclaimed after `requestTimeoutMs`. */
export interface UnknownRequest {
  ok: false;
  reason: 'unknown_request';
}

export type CompleteResult = Completed | UnknownRequest;

export interface TenantAdmissionUsage {
  inFlight: number;
  queued: number;
  tokensInWindow: number;
  /** Requests admitted since registration. */
  admitted: number;
  completed: number;
  reclaimed: number;
  /** Every reason is present, zero when it never happened. */
  rejectedByReason: Record<AdmissionDenialReason, number>;
}

export interface AdmissionStats {
  slotsInUse: number;
  capacitySlots: number;
  queued: number;
  /** Tenants with at least one queued request. */
  waitingTenants: number;
  closed: boolean;
}
