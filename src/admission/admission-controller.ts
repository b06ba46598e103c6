/**
 * Admission control for one inference worker: per-tenant concurrency and tokens-per-minute
 * limits, and weighted fair queueing across tenants for the worker's capacity slots.
 *
 *   admit ──duplicate / concurrency / tokens?──▶ denied at once (a value, never a rejection)
 *     │ charge the estimate to the tenant's 60 s window
 *     ├─ a slot is free and nobody waits ──▶ in flight ──complete──▶ done (charge corrected)
 *     └─ otherwise ──▶ queued (tenant FIFO) ──slot frees, fair order──▶ in flight
 *                        │                                               └─requestTimeoutMs─▶ reclaimed
 *                        └─ maxQueueWaitMs / close / tenant removed ──▶ denied, charge refunded
 *
 * Rules, each enforced in exactly one place:
 * - Capacity: `slotsInUse` changes only in `startRunning` (+1, guarded by `slotsInUse <
 *   capacitySlots`) and `stopRunning` (-1). Every call runs to completion synchronously, so any
 *   number of admits and completes in the same tick can never exceed the capacity.
 * - Work conservation: whenever a slot frees, queued requests are admitted at once (`dispatch`),
 *   so "someone is queued" implies "every slot is in use", and a new request is admitted directly
 *   only when nobody waits (it never overtakes the queue).
 * - Concurrency: a tenant's admitted + queued requests never exceed `concurrent`. Queued requests
 *   count: otherwise a tenant could queue without bound and exceed its limit when slots free.
 * - Tokens: the estimate (`maxTokens`) is charged when `admit` is called, queued or not, so queued
 *   requests cannot jointly overrun the window; `complete` replaces it with input + output tokens
 *   *at the original timestamp* (a refund or an extra charge that leaves the window when the
 *   estimate would have). A queue timeout, `close` or tenant removal refunds it in full; a
 *   reclaimed request keeps its estimate.
 * - Fairness: see fair-scheduler.ts (stride scheduling, weight = 6 - priority).
 * - Time: deadlines (queue waits and reclaims) are applied in timestamp order by `advance`, which
 *   every public call runs first, and which a one-shot timer runs at the next deadline. So the
 *   state is a function of the clock, not of when timers happen to fire: a request reclaimed at
 *   t frees its slot to the queue at t, and a waiter whose deadline came first times out first.
 *
 * Cost: admit/complete/dispatch O(log tenants) (the scheduler heap) plus O(log n) for the
 * tenant's token window (n = its charges in the last minute); each deadline is handled once, O(1)
 * amortised, because queue deadlines and reclaim deadlines are both in arrival order and live in
 * linked lists a request leaves in O(1).
 */
import { Errors, TgError } from '../errors.js';
import { isPriority } from '../priority.js';
import { FairScheduler, type Schedulable, strideOf } from './fair-scheduler.js';
import { LinkedList, type ListNode } from './linked-list.js';
import { type ChargeTicket, TokenWindow, WINDOW_MS } from './token-window.js';
import type {
  AdmissionClock,
  AdmissionDenialReason,
  AdmissionDenied,
  AdmissionOptions,
  AdmissionStats,
  AdmissionTenant,
  AdmissionTenantPatch,
  AdmissionTimer,
  AdmitResult,
  CompleteResult,
  ReclaimedRequest,
  RequestId,
  RequestUsage,
  TenantAdmissionUsage,
  TenantId,
} from './types.js';

const DENIAL_REASONS: readonly AdmissionDenialReason[] = [
  'concurrent_limit',
  'token_limit',
  'queue_timeout',
  'duplicate_request',
  'shutting_down',
  'tenant_removed',
];

const DEFAULT_RETRY_HINT_MS = 1000;
/** Longest delay setTimeout accepts; a later deadline just re-arms on wake-up. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;
const MAX_REQUEST_ID_LENGTH = 256;

interface TenantState extends Schedulable {
  /** After `removeTenant`, in-flight requests keep pointing at their detached state until they end. */
  spec: AdmissionTenant;
  inFlight: number;
  /** Queued requests, oldest first. The tenant is active in the scheduler iff this is non-empty. */
  readonly queue: LinkedList<PendingRequest>;
  readonly window: TokenWindow;
  admitted: number;
  completed: number;
  reclaimed: number;
  readonly rejected: Record<AdmissionDenialReason, number>;
}

interface PendingRequest {
  readonly id: RequestId;
  readonly tenant: TenantState;
  readonly estimate: number;
  readonly ticket: ChargeTicket;
  readonly arrivedAt: number;
  state: 'queued' | 'in_flight' | 'done';
  // while queued
  deadline: number;
  tenantNode: ListNode<PendingRequest> | null;
  waitingNode: ListNode<PendingRequest> | null;
  resolve: ((result: AdmitResult) => void) | null;
  // while in flight
  admittedAt: number;
  reclaimAt: number;
  runningNode: ListNode<PendingRequest> | null;
}

const realClock: AdmissionClock = { now: () => Date.now() };

const realTimer: AdmissionTimer = {
  schedule(callback, delayMs) {
    const handle = setTimeout(callback, delayMs);
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};

export class AdmissionController {
  private readonly capacitySlots: number;
  private readonly maxQueueWaitMs: number;
  private readonly requestTimeoutMs: number;
  private readonly retryAfterHintMs: number;
  private readonly clock: AdmissionClock;
  private readonly timer: AdmissionTimer | null;
  private readonly onReclaim: ((reclaimed: ReclaimedRequest) => void) | undefined;

  private readonly tenants = new Map<TenantId, TenantState>();
  /** Queued and in-flight requests by id (duplicate detection, completion). */
  private readonly live = new Map<RequestId, PendingRequest>();
  /** Every queued request in arrival order = queue-deadline order. */
  private readonly waiting = new LinkedList<PendingRequest>();
  /** Every in-flight request in admission order = reclaim-deadline order. */
  private readonly running = new LinkedList<PendingRequest>();
  private readonly scheduler = new FairScheduler<TenantState>();

  private slotsInUse = 0;
  private closed = false;
  /** The clock never goes backwards for the controller (window and deadline order rely on it). */
  private lastNow = -Infinity;
  private armed: { at: number; cancel(): void } | null = null;

  constructor(options: AdmissionOptions) {
    const { capacitySlots, maxQueueWaitMs, requestTimeoutMs } = options;
    if (!Number.isSafeInteger(capacitySlots) || capacitySlots < 1) {
      throw new TgError(Errors.CONFIG_INVALID, { message: 'admission capacitySlots must be a positive integer' });
    }
    if (!isFiniteAtLeast(maxQueueWaitMs, 0)) {
      throw new TgError(Errors.CONFIG_INVALID, { message: 'admission maxQueueWaitMs must be a non-negative number' });
    }
    if (!isFiniteAtLeast(requestTimeoutMs, 0) || requestTimeoutMs === 0) {
      throw new TgError(Errors.CONFIG_INVALID, { message: 'admission requestTimeoutMs must be a positive number' });
    }
    const retryAfterHintMs = options.retryAfterHintMs ?? DEFAULT_RETRY_HINT_MS;
    if (!isFiniteAtLeast(retryAfterHintMs, 0)) {
      throw new TgError(Errors.CONFIG_INVALID, { message: 'admission retryAfterHintMs must be a non-negative number' });
    }
    this.capacitySlots = capacitySlots;
    this.maxQueueWaitMs = maxQueueWaitMs;
    this.requestTimeoutMs = requestTimeoutMs;
    this.retryAfterHintMs = retryAfterHintMs;
    this.clock = options.clock ?? realClock;
    this.timer = options.timer === undefined ? realTimer : options.timer;
    this.onReclaim = options.onReclaim;
  }

  // ───────────────────────────── tenants ─────────────────────────────

  registerTenant(tenant: AdmissionTenant): void {
    const spec = validateTenant(tenant);
    if (this.tenants.has(spec.id)) throw new TgError(Errors.CONFLICT, { message: 'tenant is already registered' });
    const rejected = {} as Record<AdmissionDenialReason, number>;
    for (const reason of DENIAL_REASONS) rejected[reason] = 0;
    this.tenants.set(spec.id, {
      spec,
      inFlight: 0,
      queue: new LinkedList<PendingRequest>(),
      window: new TokenWindow(WINDOW_MS),
      admitted: 0,
      completed: 0,
      reclaimed: 0,
      rejected,
      stride: strideOf(spec.priority),
      pass: 0,
      heapIndex: -1,
      order: 0,
    });
  }

  /**
   * Changes limits or priority. Lower limits apply to new requests only: admitted and queued ones
   * stay. A priority change applies from the tenant's next slot on.
   */
  updateTenant(id: TenantId, patch: AdmissionTenantPatch): void {
    const state = this.requireTenant(id);
    const spec = validateTenant({ ...state.spec, ...definedOnly(patch), id: state.spec.id });
    state.spec = spec;
    state.stride = strideOf(spec.priority);
  }

  /**
   * Forgets a tenant. Its queued requests are denied with `tenant_removed` (charges refunded).
   * Its in-flight requests keep their worker slots (the worker is still running them) until they
   * complete or are reclaimed; they no longer count for a tenant later registered under the same id.
   */
  removeTenant(id: TenantId): void {
    const state = this.requireTenant(id);
    this.catchUp();
    for (let request = state.queue.first()?.value; request !== undefined; request = state.queue.first()?.value) {
      this.dequeue(request);
      this.denyQueued(request, 'tenant_removed');
    }
    this.tenants.delete(id);
    this.arm();
  }

  /** The tenant as registered, or undefined. */
  tenant(id: TenantId): AdmissionTenant | undefined {
    const state = this.tenants.get(id);
    return state === undefined ? undefined : { ...state.spec };
  }

  // ───────────────────────────── requests ─────────────────────────────

  /**
   * Resolves with `Admitted` once the request holds a worker slot, or with a denial. It rejects
   * (TgError) only for malformed input: an unknown tenant, an empty request id, a `maxTokens` that
   * is not a non-negative integer. Checks, in order: shutting down, duplicate id, concurrency,
   * tokens, then capacity (admit now, or queue).
   */
  admit(tenant: TenantId, requestId: RequestId, maxTokens: number): Promise<AdmitResult> {
    try {
      return this.admitNow(tenant, requestId, maxTokens);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Ends an admitted request: frees its slot (the next queued request is admitted at once) and
   * corrects its charge from the estimate to inputTokens + outputTokens, at the charge's original
   * timestamp. `unknown_request` when the id is not in flight (never admitted, still queued,
   * completed already, or reclaimed after `requestTimeoutMs`).
   */
  complete(requestId: RequestId, usage: RequestUsage): CompleteResult {
    if (typeof requestId !== 'string') throw new TgError(Errors.BAD_REQUEST, { message: 'request id must be a string' });
    if (
      usage === null ||
      typeof usage !== 'object' ||
      !isTokenCount(usage.inputTokens) ||
      !isTokenCount(usage.outputTokens) ||
      !isTokenCount(usage.inputTokens + usage.outputTokens)
    ) {
      throw new TgError(Errors.BAD_REQUEST, { message: 'usage inputTokens and outputTokens must be non-negative integers' });
    }
    this.catchUp();
    const request = this.live.get(requestId);
    if (request === undefined || request.state !== 'in_flight') return { ok: false, reason: 'unknown_request' };
    const now = this.lastNow;
    const used = usage.inputTokens + usage.outputTokens;
    const tenant = request.tenant;
    tenant.window.expire(now);
    const windowCorrected = tenant.window.set(request.ticket, used);
    this.stopRunning(request);
    tenant.completed++;
    this.dispatch(now);
    this.arm();
    return {
      ok: true,
      requestId,
      tenant: tenant.spec.id,
      estimatedTokens: request.estimate,
      usedTokens: used,
      windowCorrected,
      heldMs: now - request.admittedAt,
    };
  }

  /**
   * Applies every deadline that has passed (queue timeouts, reclaims) and returns the ids of the
   * requests this call reclaimed. Reclaims noticed by the timer or by another call are not
   * repeated here: use `onReclaim` to see all of them.
   */
  reclaimExpired(): RequestId[] {
    return this.catchUp().map((event) => event.requestId);
  }

  /**
   * Stops the timer and denies every queued request with `shutting_down` (charges refunded). Later
   * admits are denied the same way; in-flight requests can still complete. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    this.catchUp();
    this.closed = true;
    this.armed?.cancel();
    this.armed = null;
    for (let request = this.waiting.first()?.value; request !== undefined; request = this.waiting.first()?.value) {
      this.dequeue(request);
      this.denyQueued(request, 'shutting_down');
    }
  }

  // ───────────────────────────── queries ─────────────────────────────

  /** The tenant's own figures only (M1). */
  usage(tenant: TenantId): TenantAdmissionUsage {
    const state = this.requireTenant(tenant);
    this.catchUp();
    state.window.expire(this.lastNow);
    return {
      inFlight: state.inFlight,
      queued: state.queue.size,
      tokensInWindow: state.window.sum,
      admitted: state.admitted,
      completed: state.completed,
      reclaimed: state.reclaimed,
      rejectedByReason: { ...state.rejected },
    };
  }

  /**
   * Milliseconds until a `maxTokens` charge of the tenant would fit its window: exact (the moment
   * enough earlier charges leave it, issue 17.4), 0 if it fits now, Infinity if it never can
   * (`maxTokens` alone is over the limit).
   */
  tokenWaitMs(tenant: TenantId, maxTokens: number): number {
    const state = this.requireTenant(tenant);
    this.catchUp();
    return this.tokenWait(state, maxTokens, this.lastNow);
  }

  /**
   * The live (queued or in-flight) request with this id, for answering a retry the same way (issue
   * 17.5): its tenant, its estimate and, once admitted, how long it waited.
   */
  lookup(requestId: RequestId): { tenant: TenantId; estimate: number; state: 'queued' | 'in_flight'; waitedMs: number } | undefined {
    this.catchUp();
    const request = this.live.get(requestId);
    if (request === undefined || request.state === 'done') return undefined;
    return { tenant: request.tenant.spec.id, estimate: request.estimate, state: request.state, waitedMs: request.state === 'in_flight' ? request.admittedAt - request.arrivedAt : 0 };
  }

  /** Worker-wide figures: operator view only. */
  stats(): AdmissionStats {
    this.catchUp();
    return {
      slotsInUse: this.slotsInUse,
      capacitySlots: this.capacitySlots,
      queued: this.waiting.size,
      waitingTenants: this.scheduler.activeCount,
      closed: this.closed,
    };
  }

  // ───────────────────────────── internals ─────────────────────────────

  private admitNow(tenantId: TenantId, requestId: RequestId, maxTokens: number): Promise<AdmitResult> {
    if (typeof requestId !== 'string' || requestId.length === 0 || requestId.length > MAX_REQUEST_ID_LENGTH) {
      throw new TgError(Errors.BAD_REQUEST, { message: `request id must be a string of 1 to ${MAX_REQUEST_ID_LENGTH} characters` });
    }
    if (!isTokenCount(maxTokens)) {
      throw new TgError(Errors.BAD_REQUEST, { message: 'maxTokens must be a non-negative integer' });
    }
    const tenant = this.requireTenant(tenantId);
    this.catchUp();
    const result = this.decide(tenant, requestId, maxTokens);
    return result instanceof Promise ? result : Promise.resolve(result);
  }

  private decide(tenant: TenantState, requestId: RequestId, maxTokens: number): AdmitResult | Promise<AdmitResult> {
    const now = this.lastNow;
    if (this.closed) return this.deny(tenant, 'shutting_down', this.retryAfterHintMs);
    if (this.live.has(requestId)) return this.deny(tenant, 'duplicate_request', 0);

    const { concurrent, tokensPerMinute } = tenant.spec;
    const held = tenant.inFlight + tenant.queue.size;
    if (held >= concurrent) {
      return this.deny(tenant, 'concurrent_limit', this.retryAfterHintMs, { limit: concurrent, current: held });
    }

    const window = tenant.window;
    const wait = this.tokenWait(tenant, maxTokens, now);
    if (wait === Infinity) {
      // Can never fit. The controller keeps its documented full-window hint; the sidecar answers
      // this case as non-retryable before it gets here (GuardedAdmission, issue 17.4).
      return this.deny(tenant, 'token_limit', WINDOW_MS, { limit: tokensPerMinute, current: window.sum });
    }
    if (wait > 0) return this.deny(tenant, 'token_limit', wait, { limit: tokensPerMinute, current: window.sum });

    const request: PendingRequest = {
      id: requestId,
      tenant,
      estimate: maxTokens,
      ticket: window.charge(now, maxTokens),
      arrivedAt: now,
      state: 'queued',
      deadline: now + this.maxQueueWaitMs,
      tenantNode: null,
      waitingNode: null,
      resolve: null,
      admittedAt: 0,
      reclaimAt: 0,
      runningNode: null,
    };

    if (this.slotsInUse < this.capacitySlots && this.waiting.size === 0) {
      this.live.set(requestId, request);
      this.startRunning(request, now);
      this.arm();
      return { ok: true, requestId, waitedMs: 0, chargedTokens: maxTokens };
    }
    if (this.maxQueueWaitMs === 0) {
      window.set(request.ticket, 0);
      return this.deny(tenant, 'queue_timeout', this.retryAfterHintMs);
    }

    const admitted = new Promise<AdmitResult>((resolve) => {
      request.resolve = resolve;
    });
    this.live.set(requestId, request);
    request.tenantNode = tenant.queue.push(request);
    request.waitingNode = this.waiting.push(request);
    this.scheduler.activate(tenant);
    this.arm();
    return admitted;
  }

  /** See `tokenWaitMs`; expires the window first. */
  private tokenWait(tenant: TenantState, maxTokens: number, now: number): number {
    const { tokensPerMinute } = tenant.spec;
    tenant.window.expire(now);
    if (maxTokens > tokensPerMinute) return Infinity;
    const excess = tenant.window.sum + maxTokens - tokensPerMinute;
    return excess > 0 ? tenant.window.timeUntilFreed(now, excess) : 0;
  }

  /**
   * Applies every deadline up to now, in timestamp order (a queue deadline before a reclaim at the
   * same instant), admitting queued requests into slots freed by reclaims at the reclaim's time.
   * Returns the reclaims, for `catchUp` to report once the state is consistent.
   */
  private advance(): ReclaimedRequest[] {
    const now = this.now();
    const reclaimed: ReclaimedRequest[] = [];
    for (;;) {
      const waiter = this.waiting.first()?.value;
      const runner = this.running.first()?.value;
      const queueDeadline = waiter?.deadline ?? Infinity;
      const reclaimDeadline = runner?.reclaimAt ?? Infinity;
      if (waiter !== undefined && queueDeadline <= reclaimDeadline && queueDeadline <= now) {
        this.dequeue(waiter);
        this.denyQueued(waiter, 'queue_timeout');
      } else if (runner !== undefined && reclaimDeadline <= now) {
        this.stopRunning(runner);
        runner.tenant.reclaimed++;
        reclaimed.push({
          requestId: runner.id,
          tenant: runner.tenant.spec.id,
          admittedAt: runner.admittedAt,
          chargedTokens: runner.estimate,
        });
        this.dispatch(reclaimDeadline);
      } else {
        break;
      }
    }
    return reclaimed;
  }

  /**
   * Every public call starts here: applies passed deadlines, re-arms the timer, then reports
   * reclaims. A throwing `onReclaim` therefore surfaces before the call itself changed anything.
   */
  private catchUp(): ReclaimedRequest[] {
    const reclaimed = this.advance();
    this.arm();
    if (this.onReclaim === undefined || reclaimed.length === 0) return reclaimed;
    let failure: { error: unknown } | undefined;
    for (const event of reclaimed) {
      try {
        this.onReclaim(event);
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure !== undefined) throw failure.error;
    return reclaimed;
  }

  /** Fills free slots from the queues in fair order, at time `at`. */
  private dispatch(at: number): void {
    while (this.slotsInUse < this.capacitySlots) {
      const tenant = this.scheduler.peek();
      if (tenant === undefined) return;
      const request = tenant.queue.first()?.value;
      if (request === undefined) throw new Error('admission: an active tenant has an empty queue');
      this.dequeue(request);
      this.scheduler.charge(tenant, tenant.queue.size > 0);
      this.startRunning(request, at);
      const resolve = request.resolve;
      request.resolve = null;
      resolve?.({ ok: true, requestId: request.id, waitedMs: at - request.arrivedAt, chargedTokens: request.estimate });
    }
  }

  /**
   * Takes a request out of its tenant queue and the global waiting list. The scheduler is the
   * caller's business: `dispatch` charges the tenant, `denyQueued` deactivates an emptied one.
   */
  private dequeue(request: PendingRequest): void {
    if (request.tenantNode !== null) request.tenant.queue.remove(request.tenantNode);
    if (request.waitingNode !== null) this.waiting.remove(request.waitingNode);
    request.tenantNode = null;
    request.waitingNode = null;
  }

  /** A queued request that will never run: refund its charge and resolve it with the denial. */
  private denyQueued(request: PendingRequest, reason: AdmissionDenialReason): void {
    const tenant = request.tenant;
    if (tenant.queue.size === 0) this.scheduler.deactivate(tenant);
    tenant.window.set(request.ticket, 0);
    this.live.delete(request.id);
    request.state = 'done';
    const resolve = request.resolve;
    request.resolve = null;
    resolve?.(this.deny(tenant, reason, this.retryAfterHintMs));
  }

  private startRunning(request: PendingRequest, at: number): void {
    if (this.slotsInUse >= this.capacitySlots) throw new Error('admission: no free slot');
    this.slotsInUse++;
    request.state = 'in_flight';
    request.admittedAt = at;
    request.reclaimAt = at + this.requestTimeoutMs;
    request.runningNode = this.running.push(request);
    request.tenant.inFlight++;
    request.tenant.admitted++;
  }

  private stopRunning(request: PendingRequest): void {
    if (request.runningNode !== null) this.running.remove(request.runningNode);
    request.runningNode = null;
    request.state = 'done';
    this.live.delete(request.id);
    this.slotsInUse--;
    request.tenant.inFlight--;
  }

  private deny(
    tenant: TenantState,
    reason: AdmissionDenialReason,
    retryAfterMs: number,
    figures: { limit: number; current: number } | undefined = undefined,
  ): AdmissionDenied {
    tenant.rejected[reason]++;
    return figures === undefined ? { ok: false, reason, retryAfterMs } : { ok: false, reason, retryAfterMs, ...figures };
  }

  /** Wakes at the earliest pending deadline; both lists are in deadline order, so it is a head. */
  private arm(): void {
    if (this.timer === null || this.closed) return;
    const next = Math.min(this.waiting.first()?.value.deadline ?? Infinity, this.running.first()?.value.reclaimAt ?? Infinity);
    if (next === Infinity) return;
    if (this.armed !== null && this.armed.at <= next) return;
    this.armed?.cancel();
    const delay = Math.min(Math.max(0, next - this.now()), MAX_TIMER_DELAY_MS);
    const handle = this.timer.schedule(() => this.wake(), delay);
    this.armed = { at: next, cancel: () => handle.cancel() };
  }

  private wake(): void {
    this.armed = null;
    if (!this.closed) this.catchUp();
  }

  private now(): number {
    const now = this.clock.now();
    if (now > this.lastNow) this.lastNow = now;
    return this.lastNow;
  }

  private requireTenant(id: TenantId): TenantState {
    const state = typeof id === 'string' ? this.tenants.get(id) : undefined;
    if (state === undefined) throw new TgError(Errors.UNKNOWN_TENANT);
    return state;
  }
}

function validateTenant(tenant: AdmissionTenant): AdmissionTenant {
  if (tenant === null || typeof tenant !== 'object') {
    throw new TgError(Errors.BAD_REQUEST, { message: 'tenant must be an object' });
  }
  if (typeof tenant.id !== 'string' || tenant.id.length === 0) {
    throw new TgError(Errors.BAD_REQUEST, { message: 'tenant id must be a non-empty string' });
  }
  if (!isPriority(tenant.priority)) {
    throw new TgError(Errors.BAD_REQUEST, { message: 'tenant priority must be an integer from 1 to 5' });
  }
  if (!isTokenCount(tenant.concurrent)) {
    throw new TgError(Errors.BAD_REQUEST, { message: 'tenant concurrent must be a non-negative integer' });
  }
  if (!isTokenCount(tenant.tokensPerMinute)) {
    throw new TgError(Errors.BAD_REQUEST, { message: 'tenant tokensPerMinute must be a non-negative integer' });
  }
  return { id: tenant.id, priority: tenant.priority, concurrent: tenant.concurrent, tokensPerMinute: tenant.tokensPerMinute };
}

function isTokenCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isFiniteAtLeast(value: unknown, min: number): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= min;
}

function definedOnly<T extends object>(patch: T): Partial<T> {
  const out: Partial<T> = {};
  for (const key of Object.keys(patch) as Array<keyof T>) {
    if (patch[key] !== undefined) out[key] = patch[key];
  }
  return out;
}
