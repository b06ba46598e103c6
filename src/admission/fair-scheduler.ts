import { PRIORITY_LEVELS } from '../priority.js';

/**
 * Weighted fair order across tenants that wait for worker capacity: a stride scheduler (start-time
 * fair queueing over virtual time), O(log active tenants) per operation.
 *
 * Every tenant with queued requests ("active") has a pass value. The next slot goes to the active
 * tenant with the smallest pass (ties: the one served least recently); serving it sets the
 * scheduler's virtual time to that pass and advances the tenant's pass by its stride, which is
 * inversely proportional to its weight (weight = 6 - priority: priority 1 → 5, 3 → 3, 5 → 1).
 * Under saturation each tenant therefore gets slots in proportion to its weight.
 *
 * A tenant that becomes active joins at max(its pass, virtual time): an idle tenant banks no
 * credit (it cannot burst past the others when it returns), and a busy one carries its debt.
 * Every active pass lies in [virtual time, virtual time + largest stride], so between two slots of
 * tenant i any other tenant j gets at most ceil(stride_i / stride_j) + 1 slots: nobody starves.
 */
/** lcm(1..5): every stride is an integer, so pass arithmetic stays exact. */
const STRIDE_SCALE = 60;

export function weightOf(priority: number): number {
  return PRIORITY_LEVELS + 1 - priority;
}

export function strideOf(priority: number): number {
  return STRIDE_SCALE / weightOf(priority);
}


/** Scheduling fields a tenant carries; the scheduler owns them except `stride`. */
export interface Schedulable {
  stride: number;
  pass: number;
  /** Position in the heap, or -1 when not active. */
  heapIndex: number;
  /** Tie-breaker: when the entry was last (re)inserted; smaller first. */
  order: number;
}

export class FairScheduler<T extends Schedulable> {
  private readonly heap: T[] = [];
  private virtualTime = 0;
  private nextOrder = 0;

  get activeCount(): number {
    return this.heap.length;
  }

  isActive(entry: T): boolean {
    return entry.heapIndex >= 0;
  }

  /** The entry has queued work and had none. */
  activate(entry: T): void {
    if (entry.heapIndex >= 0) return;
    entry.pass = Math.max(entry.pass, this.virtualTime);
    entry.order = this.nextOrder++;
    entry.heapIndex = this.heap.length;
    this.heap.push(entry);
    this.siftUp(entry.heapIndex);
  }

  /** The entry that gets the next slot, or undefined when nobody waits. */
  peek(): T | undefined {
    return this.heap[0];
  }

  /**
   * Charges one slot to `entry`, which must be `peek()`. `stillActive`: it has more queued work
   * (otherwise it leaves the active set, keeping its pass for when it returns).
   */
  charge(entry: T, stillActive: boolean): void {
    if (this.heap[0] !== entry) throw new Error('fair scheduler: charged entry is not the head');
    this.virtualTime = entry.pass;
    entry.pass += entry.stride;
    if (stillActive) {
      entry.order = this.nextOrder++;
      this.siftDown(0);
    } else {
      this.removeAt(0);
    }
  }

  /** The entry has no queued work any more (timeouts, removal). Its pass is kept. */
  deactivate(entry: T): void {
    if (entry.heapIndex < 0) return;
    this.removeAt(entry.heapIndex);
  }

  private removeAt(index: number): void {
    const removed = this.heap[index]!;
    const last = this.heap.pop()!;
    removed.heapIndex = -1;
    if (last === removed) return;
    this.heap[index] = last;
    last.heapIndex = index;
    this.siftDown(index);
    this.siftUp(last.heapIndex);
  }

  private less(a: T, b: T): boolean {
    return a.pass < b.pass || (a.pass === b.pass && a.order < b.order);
  }

  private siftUp(index: number): void {
    const entry = this.heap[index]!;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = this.heap[parentIndex]!;
      if (!this.less(entry, parent)) break;
      this.heap[index] = parent;
      parent.heapIndex = index;
      index = parentIndex;
    }
    this.heap[index] = entry;
    entry.heapIndex = index;
  }

  private siftDown(index: number): void {
    const entry = this.heap[index]!;
    const size = this.heap.length;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= size) break;
      const right = left + 1;
      let child = left;
      if (right < size && this.less(this.heap[right]!, this.heap[left]!)) child = right;
      const smaller = this.heap[child]!;
      if (!this.less(smaller, entry)) break;
      this.heap[index] = smaller;
      smaller.heapIndex = index;
      index = child;
    }
    this.heap[index] = entry;
    entry.heapIndex = index;
  }
}
