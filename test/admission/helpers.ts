/**
 * Shared fixtures for the admission tests: a fake clock that is also the controller's timer (time
 * moves only when a test says so, and due timers fire in time order as it moves), tier tenants,
 * and small result helpers.
 */
import { TIERS, type TierName } from '../../src/config/tiers.js';
import { isTgError } from '../../src/errors.js';
import {
  AdmissionController,
  type AdmissionOptions,
  type AdmissionTenant,
  type AdmissionTimer,
  type AdmitResult,
  type ReclaimedRequest,
} from '../../src/admission/index.js';

interface FakeTimerEntry {
  at: number;
  seq: number;
  callback: () => void;
  cancelled: boolean;
}

export class FakeTime implements AdmissionTimer {
  private current: number;
  private seq = 0;
  private timers: FakeTimerEntry[] = [];

  constructor(start = 1_000_000) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  schedule(callback: () => void, delayMs: number): { cancel(): void } {
    const entry: FakeTimerEntry = { at: this.current + delayMs, seq: this.seq++, callback, cancelled: false };
    this.timers.push(entry);
    return { cancel: () => (entry.cancelled = true) };
  }

  /** Timers scheduled and neither fired nor cancelled. */
  get pendingTimers(): number {
    return this.timers.filter((timer) => !timer.cancelled).length;
  }

  /** Moves time forward by `ms`, firing every due timer at its own time, in order. */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      this.timers = this.timers.filter((timer) => !timer.cancelled);
      let next: FakeTimerEntry | undefined;
      for (const timer of this.timers) {
        if (timer.at <= target && (next === undefined || timer.at < next.at || (timer.at === next.at && timer.seq < next.seq))) {
          next = timer;
        }
      }
      if (next === undefined) break;
      next.cancelled = true;
      this.current = Math.max(this.current, next.at);
      next.callback();
    }
    this.current = target;
  }

  /** Moves the clock without firing timers (as if the timer were late). */
  jump(ms: number): void {
    this.current += ms;
  }
}

export function tierTenant(id: string, tier: TierName): AdmissionTenant {
  const limits = TIERS[tier];
  return { id, priority: limits.priority, concurrent: limits.concurrent, tokensPerMinute: limits.tokensPerMinute };
}

export interface Harness {
  time: FakeTime;
  controller: AdmissionController;
  reclaimed: ReclaimedRequest[];
}

export function newController(options: Partial<AdmissionOptions> = {}, tenants: AdmissionTenant[] = []): Harness {
  const time = new FakeTime();
  const reclaimed: ReclaimedRequest[] = [];
  const controller = new AdmissionController({
    capacitySlots: 8,
    maxQueueWaitMs: 5_000,
    requestTimeoutMs: 120_000,
    clock: time,
    timer: time,
    onReclaim: (event) => reclaimed.push(event),
    ...options,
  });
  for (const tenant of tenants) controller.registerTenant(tenant);
  return { time, controller, reclaimed };
}

/** Lets every already-resolved promise callback run (no real waiting). */
export async function flush(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Tracks a promise's outcome synchronously once settled. */
export interface Tracked {
  settled: boolean;
  result: AdmitResult | undefined;
  error: unknown;
}

export function track(promise: Promise<AdmitResult>): Tracked {
  const tracked: Tracked = { settled: false, result: undefined, error: undefined };
  promise.then(
    (result) => {
      tracked.settled = true;
      tracked.result = result;
    },
    (error: unknown) => {
      tracked.settled = true;
      tracked.error = error;
    },
  );
  return tracked;
}

export function expectAdmitted(result: AdmitResult): Extract<AdmitResult, { ok: true }> {
  if (!result.ok) throw new Error(`expected admission, got ${JSON.stringify(result)}`);
  return result;
}

export function expectDenied(result: AdmitResult): Extract<AdmitResult, { ok: false }> {
  if (result.ok) throw new Error(`expected a denial, got ${JSON.stringify(result)}`);
  return result;
}

export async function rejectionCode(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    return isTgError(error) ? error.code : `not a TgError: ${String(error)}`;
  }
  return undefined;
}

export function thrownCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isTgError(error) ? error.code : `not a TgError: ${String(error)}`;
  }
  return undefined;
}
