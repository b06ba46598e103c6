/**
 * Intrusive doubly-linked lists of block indices, kept in typed arrays so that a ledger of a
 * million blocks costs a few flat buffers instead of a million objects.
 *
 * Every block is in at most one list of a given `BlockLists` instance; `listOf` remembers which,
 * so unlinking needs nothing but the block index and is O(1). A block that must sit in two lists
 * at once (a cached block is in its tenant's LRU list and in its priority level's LRU list) uses
 * two instances: one link pair each.
 *
 * Lists are FIFO: blocks join at the tail and are taken from the head, so the head is always the
 * block that joined longest ago (the least recently cached, the longest dirty, ...).
 *
 * This module knows nothing about tenants or states; the ledger decides which list a block
 * belongs to and journals every link change so it can undo them exactly (see block-ledger.ts).
 */

/** "No block" / "no list". */
export const NIL = -1;

export type ListId = number;

export class BlockLists {
  /** Previous block in the same list, or NIL at the head. */
  readonly prev: Int32Array;
  /** Next block in the same list, or NIL at the tail. */
  readonly next: Int32Array;
  /** The list a block is in, or NIL. */
  readonly listOf: Int32Array;

  private heads = new Int32Array(16);
  private tails = new Int32Array(16);
  private lengths = new Int32Array(16);
  private lists = 0;

  constructor(blockCount: number) {
    this.prev = new Int32Array(blockCount).fill(NIL);
    this.next = new Int32Array(blockCount).fill(NIL);
    this.listOf = new Int32Array(blockCount).fill(NIL);
  }

  /** Number of lists created so far (list ids are 0 … listCount - 1). */
  get listCount(): number {
    return this.lists;
  }

  createList(): ListId {
    if (this.lists === this.heads.length) {
      const capacity = this.heads.length * 2;
      this.heads = grow(this.heads, capacity);
      this.tails = grow(this.tails, capacity);
      this.lengths = grow(this.lengths, capacity);
    }
    const list = this.lists++;
    this.heads[list] = NIL;
    this.tails[list] = NIL;
    this.lengths[list] = 0;
    return list;
  }

  /** Forgets the newest lists so that only `count` remain (used to undo a tenant registration). */
  truncateLists(count: number): void {
    for (let list = count; list < this.lists; list++) {
      if (this.lengths[list] !== 0) throw new Error(`list ${list} is not empty; cannot forget it`);
    }
    this.lists = Math.min(this.lists, count);
  }

  length(list: ListId): number {
    return this.lengths[list]!;
  }

  /** The oldest block in the list, or NIL. */
  head(list: ListId): number {
    return this.heads[list]!;
  }

  tail(list: ListId): number {
    return this.tails[list]!;
  }

  pushTail(list: ListId, block: number): void {
    const tail = this.tails[list]!;
    this.prev[block] = tail;
    this.next[block] = NIL;
    if (tail === NIL) this.heads[list] = block;
    else this.next[tail] = block;
    this.tails[list] = block;
    this.listOf[block] = list;
    this.lengths[list]!++;
  }

  /** Inserts `block` right after `after` (at the head when `after` is NIL). Used by undo. */
  insertAfter(list: ListId, after: number, block: number): void {
    const following = after === NIL ? this.heads[list]! : this.next[after]!;
    this.prev[block] = after;
    this.next[block] = following;
    if (after === NIL) this.heads[list] = block;
    else this.next[after] = block;
    if (following === NIL) this.tails[list] = block;
    else this.prev[following] = block;
    this.listOf[block] = list;
    this.lengths[list]!++;
  }

  /** Removes `block` from whatever list it is in (no-op when it is in none). */
  unlink(block: number): void {
    const list = this.listOf[block]!;
    if (list === NIL) return;
    const before = this.prev[block]!;
    const after = this.next[block]!;
    if (before === NIL) this.heads[list] = after;
    else this.next[before] = after;
    if (after === NIL) this.tails[list] = before;
    else this.prev[after] = before;
    this.prev[block] = NIL;
    this.next[block] = NIL;
    this.listOf[block] = NIL;
    this.lengths[list]!--;
  }

  /** Appends the consecutive blocks `from … to` (inclusive) in index order; for construction. */
  appendRange(list: ListId, from: number, to: number): void {
    if (to < from) return;
    const tail = this.tails[list]!;
    for (let block = from; block <= to; block++) {
      this.prev[block] = block === from ? tail : block - 1;
      this.next[block] = block === to ? NIL : block + 1;
      this.listOf[block] = list;
    }
    if (tail === NIL) this.heads[list] = from;
    else this.next[tail] = from;
    this.tails[list] = to;
    this.lengths[list]! += to - from + 1;
  }

  /**
   * Checks one list's links end to end (for `checkInvariants`): returns a problem description or
   * null, and calls `visit` for every member in order.
   */
  verifyList(list: ListId, visit: (block: number) => void): string | null {
    let count = 0;
    let before = NIL;
    const limit = this.listOf.length;
    for (let block = this.heads[list]!; block !== NIL; block = this.next[block]!) {
      if (count > limit) return `list ${list} has a cycle`;
      if (this.listOf[block] !== list) return `block index ${block} is linked into list ${list} but records list ${this.listOf[block]}`;
      if (this.prev[block] !== before) return `block index ${block} has a broken prev link in list ${list}`;
      visit(block);
      before = block;
      count++;
    }
    if (this.tails[list] !== before) return `list ${list} tail does not match its last member`;
    if (this.lengths[list] !== count) return `list ${list} records length ${this.lengths[list]} but has ${count} members`;
    return null;
  }
}

function grow(array: Int32Array, capacity: number): Int32Array<ArrayBuffer> {
  const bigger = new Int32Array(capacity);
  bigger.set(array);
  return bigger;
}
