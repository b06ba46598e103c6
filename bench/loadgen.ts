/**
 * A fixed-rate (open-loop) load generator. Operations are scheduled at exact times
 * (start + i / rate) whatever the server does, and every latency is measured from the operation's
 * scheduled send time, not from when it was actually sent: a stalled server therefore shows up as
 * latency instead of silently lowering the offered load (no coordinated omission).
 *
 * Every run is bounded: it issues nothing after its window ends, waits at most `drainMs` for
 * operations still in flight, and counts the rest as unfinished. When more than `maxOutstanding`
 * operations are in flight, scheduled operations are skipped and counted as `dropped`: the level
 * is past saturation and its latency figures only say "overloaded".
 */

export interface FixedRateOptions {
  /** operations per second */
  readonly rate: number;
  /** run unmeasured for this long first (connection set-up, JIT, group-commit steady state) */
  readonly warmupMs: number;
  readonly measureMs: number;
  /** at most this many operations in flight; more are dropped (counted) */
  readonly maxOutstanding: number;
  /** after the window, wait at most this long for in-flight operations */
  readonly drainMs: number;
  /** one operation; `measured` says whether it was scheduled inside the measurement window */
  readonly op: (scheduledAt: number, measured: boolean) => Promise<void>;
}

export interface LatencySummary {
  readonly count: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

export interface FixedRateResult {
  readonly offered: number;
  /** operations completed inside the measurement window, per second */
  readonly achieved: number;
  /** scheduled in the window and completed (whenever) */
  readonly completed: number;
  readonly scheduled: number;
  readonly dropped: number;
  readonly errors: number;
  readonly unfinished: number;
  /** milliseconds from scheduled send time to completion, operations scheduled in the window */
  readonly latencyMs: LatencySummary;
  /** operations in flight when the window opened (a backlog left by the warm-up) and closed */
  readonly backlogAtStart: number;
  readonly backlogAtEnd: number;
  /**
   * The load was carried: nothing dropped, failed or left unfinished, ≥ 97% of the offered rate
   * delivered in the window, and at most a quarter second of work in flight when it opened and
   * when it closed (so the window did not just drain a backlog the warm-up left).
   */
  readonly sustained: boolean;
  readonly firstError?: string;
}

/** Growable sample store; percentiles by sorting once at the end (runs are at most ~10^5 ops). */
export class Samples {
  private data = new Float64Array(4096);
  private n = 0;

  add(value: number): void {
    if (this.n === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.n++] = value;
  }

  get count(): number {
    return this.n;
  }

  summary(): LatencySummary {
    const sorted = this.data.slice(0, this.n).sort();
    const at = (q: number): number => (this.n === 0 ? NaN : sorted[Math.min(this.n - 1, Math.ceil(q * this.n) - 1)]!);
    let sum = 0;
    for (let i = 0; i < this.n; i++) sum += sorted[i]!;
    return {
      count: this.n,
      mean: this.n === 0 ? NaN : sum / this.n,
      p50: at(0.5),
      p90: at(0.9),
      p99: at(0.99),
      p999: at(0.999),
      max: this.n === 0 ? NaN : sorted[this.n - 1]!,
    };
  }
}

export async function runFixedRate(options: FixedRateOptions): Promise<FixedRateResult> {
  const interval = 1000 / options.rate;
  const start = performance.now();
  const measureFrom = start + options.warmupMs;
  const measureTo = measureFrom + options.measureMs;
  const latencies = new Samples();
  let index = 0;
  let outstanding = 0;
  let scheduled = 0;
  let dropped = 0;
  let errors = 0;
  let completedInWindow = 0;
  let completed = 0;
  let firstError: string | undefined;
  let wakeDrain: (() => void) | null = null;
  let backlogAtStart = -1;
  let backlogAtEnd = 0;

  const issue = (scheduledAt: number): void => {
    const measured = scheduledAt >= measureFrom;
    if (measured && backlogAtStart < 0) backlogAtStart = outstanding;
    if (measured) scheduled++;
    if (outstanding >= options.maxOutstanding) {
      if (measured) dropped++;
      return;
    }
    outstanding++;
    options.op(scheduledAt, measured).then(
      () => {
        const now = performance.now();
        outstanding--;
        if (now >= measureFrom && now < measureTo) completedInWindow++;
        if (measured) {
          completed++;
          latencies.add(now - scheduledAt);
        }
        if (outstanding === 0) wakeDrain?.();
      },
      (error: unknown) => {
        outstanding--;
        if (measured) errors++;
        firstError ??= error instanceof Error ? error.message : String(error);
        if (outstanding === 0) wakeDrain?.();
      },
    );
  };

  await new Promise<void>((done) => {
    const tick = (): void => {
      const now = performance.now();
      for (let due = start + index * interval; due <= now && due < measureTo; due = start + index * interval) {
        index++;
        issue(due);
      }
      const next = start + index * interval;
      if (next >= measureTo) {
        backlogAtEnd = outstanding;
        return done();
      }
      // setTimeout has ~1 ms resolution; anything due meanwhile is sent on the next tick and its
      // latency still counts from its own scheduled time.
      setTimeout(tick, Math.max(0, next - performance.now()));
    };
    tick();
  });

  if (outstanding > 0) {
    await new Promise<void>((done) => {
      const timer = setTimeout(done, options.drainMs);
      wakeDrain = () => {
        clearTimeout(timer);
        done();
      };
    });
  }
  const achieved = completedInWindow / (options.measureMs / 1000);
  const unfinished = scheduled - completed - dropped - errors;
  return {
    offered: options.rate,
    achieved,
    completed,
    scheduled,
    dropped,
    errors,
    unfinished,
    latencyMs: latencies.summary(),
    backlogAtStart: Math.max(0, backlogAtStart),
    backlogAtEnd,
    sustained:
      dropped === 0 &&
      errors === 0 &&
      unfinished === 0 &&
      achieved >= 0.97 * options.rate &&
      Math.max(backlogAtStart, backlogAtEnd) <= Math.max(16, options.rate / 4),
    ...(firstError !== undefined ? { firstError } : {}),
  };
}

/** Closed loop: `concurrency` workers each running operations back to back, for peak throughput only. */
export async function runClosedLoop(options: { concurrency: number; warmupMs: number; measureMs: number; op: () => Promise<void> }): Promise<{ throughput: number; errors: number; firstError?: string }> {
  const start = performance.now();
  const measureFrom = start + options.warmupMs;
  const measureTo = measureFrom + options.measureMs;
  let done = 0;
  let errors = 0;
  let firstError: string | undefined;
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (performance.now() < measureTo) {
        try {
          await options.op();
          const now = performance.now();
          if (now >= measureFrom && now < measureTo) done++;
        } catch (error) {
          errors++;
          firstError ??= error instanceof Error ? error.message : String(error);
          if (errors > 100) return;
        }
      }
    }),
  );
  return { throughput: done / (options.measureMs / 1000), errors, ...(firstError !== undefined ? { firstError } : {}) };
}
