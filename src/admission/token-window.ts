/**
 * One tenant's sliding tokens-per-minute window.
 *
 * Charges are kept in time order (the controller's clock never goes backwards) in a ring-like
 * array with a Fenwick tree over their token counts, so that:
 * - `charge` is amortised O(log n) (n = charges in the window), expiry is amortised O(1) each;
 * - `set` corrects a charge in place, at its original timestamp (completion, refund), O(log n);
 * - `timeUntilFreed` finds the earliest moment enough tokens have left the window by a Fenwick
 *   descent, O(log n), instead of walking the window.
 * A charge made at `at` counts while `now < at + windowMs` and leaves the window at
 * `at + windowMs` exactly.
 */
export const WINDOW_MS = 60_000;

/** Identifies one charge for a later correction: an absolute, increasing sequence number. */
export type ChargeTicket = number;

const INITIAL_CAPACITY = 16;

export class TokenWindow {
  private capacity = INITIAL_CAPACITY;
  private times = new Float64Array(INITIAL_CAPACITY);
  private values = new Float64Array(INITIAL_CAPACITY);
  /** Fenwick tree, 1-based: tree[i] sums values (i - lowbit(i), i] in 1-based positions. */
  private tree = new Float64Array(INITIAL_CAPACITY + 1);
  /** Ticket of local index 0. */
  private base = 0;
  /** Local index of the oldest charge still in the window. */
  private head = 0;
  /** Local index one past the newest charge. */
  private tail = 0;
  private total = 0;

  constructor(private readonly windowMs: number = WINDOW_MS) {}

  /** Tokens charged in the window, as of the last `expire`. */
  get sum(): number {
    return this.total;
  }

  /** Charges currently in the window (including corrected-to-zero ones). */
  get length(): number {
    return this.tail - this.head;
  }

  /** Adds a charge at time `at` (not earlier than any previous charge). */
  charge(at: number, tokens: number): ChargeTicket {
    if (this.tail === this.capacity) {
      const live = this.tail - this.head;
      this.rebuild(live * 2 > this.capacity ? this.capacity * 2 : this.capacity);
    }
    const index = this.tail++;
    this.times[index] = at;
    this.values[index] = tokens;
    this.add(index, tokens);
    this.total += tokens;
    return this.base + index;
  }

  /**
   * Sets a charge to `tokens`, at its original timestamp. Returns false (and changes nothing) when
   * the charge has already left the window: a correction then no longer affects the limit.
   */
  set(ticket: ChargeTicket, tokens: number): boolean {
    const index = ticket - this.base;
    if (index < this.head || index >= this.tail) return false;
    const delta = tokens - this.values[index]!;
    if (delta !== 0) {
      this.values[index] = tokens;
      this.add(index, delta);
      this.total += delta;
    }
    return true;
  }

  /** Drops the charges that have left the window at `now`. */
  expire(now: number): void {
    const cutoff = now - this.windowMs;
    while (this.head < this.tail && this.times[this.head]! <= cutoff) {
      this.total -= this.values[this.head]!;
      this.head++;
    }
    if (this.head === this.tail && this.tail > 0) this.reset();
  }

  /**
   * Milliseconds from `now` until at least `amount` tokens have left the window (0 when
   * `amount` <= 0). Call `expire(now)` first; `amount` must not exceed `sum`.
   */
  timeUntilFreed(now: number, amount: number): number {
    if (amount <= 0) return 0;
    const index = this.lowerBound(this.prefix(this.head) + amount);
    if (index >= this.tail) return this.windowMs;
    return Math.max(0, this.times[index]! + this.windowMs - now);
  }

  // ───────────── Fenwick tree over local indices ─────────────

  private add(index: number, delta: number): void {
    for (let i = index + 1; i <= this.capacity; i += i & -i) this.tree[i]! += delta;
  }

  /** Sum of values at local indices [0, count). */
  private prefix(count: number): number {
    let sum = 0;
    for (let i = count; i > 0; i -= i & -i) sum += this.tree[i]!;
    return sum;
  }

  /** Smallest local index k with prefix(k + 1) >= target (values are never negative). */
  private lowerBound(target: number): number {
    let position = 0;
    let remaining = target;
    let step = 1;
    while (step * 2 <= this.capacity) step *= 2;
    for (; step > 0; step >>= 1) {
      const next = position + step;
      if (next <= this.capacity && this.tree[next]! < remaining) {
        position = next;
        remaining -= this.tree[next]!;
      }
    }
    return position;
  }

  /** Moves the live charges to the front of arrays of `capacity`, rebuilding the tree in O(n). */
  private rebuild(capacity: number): void {
    const live = this.tail - this.head;
    const times = new Float64Array(capacity);
    const values = new Float64Array(capacity);
    times.set(this.times.subarray(this.head, this.tail));
    values.set(this.values.subarray(this.head, this.tail));
    const tree = new Float64Array(capacity + 1);
    for (let i = 1; i <= capacity; i++) {
      tree[i]! += values[i - 1]!;
      const parent = i + (i & -i);
      if (parent <= capacity) tree[parent]! += tree[i]!;
    }
    this.base += this.head;
    this.capacity = capacity;
    this.times = times;
    this.values = values;
    this.tree = tree;
    this.head = 0;
    this.tail = live;
  }

  /** The window is empty: start over small, so one past burst does not cost every later reset. */
  private reset(): void {
    this.base += this.tail;
    this.head = 0;
    this.tail = 0;
    this.total = 0;
    if (this.capacity > INITIAL_CAPACITY) {
      this.capacity = INITIAL_CAPACITY;
      this.times = new Float64Array(INITIAL_CAPACITY);
      this.values = new Float64Array(INITIAL_CAPACITY);
      this.tree = new Float64Array(INITIAL_CAPACITY + 1);
    } else {
      this.tree.fill(0);
    }
  }
}
