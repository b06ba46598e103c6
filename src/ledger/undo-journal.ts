/**
 * A growable stack of 32-bit integers: the ledger's undo journal. Entries are variable-length
 * groups of integers whose *last* element names the kind of entry, so the journal can be read
 * backwards (newest first) when an operation is rolled back. See block-ledger.ts for the kinds.
 */
export class IntStack {
  private data = new Int32Array(1024);
  private size = 0;

  get length(): number {
    return this.size;
  }

  push(value: number): void {
    if (this.size === this.data.length) {
      const bigger = new Int32Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.size++] = value;
  }

  pop(): number {
    if (this.size === 0) throw new Error('undo journal underflow');
    return this.data[--this.size]!;
  }

  /** Drops everything; keeps a modest buffer so a long-gone burst does not pin memory. */
  clear(): void {
    this.size = 0;
    if (this.data.length > 1 << 20) this.data = new Int32Array(1024);
  }

  /** Drops the oldest `count` entries, shifting the rest down. O(remaining). */
  dropOldest(count: number): void {
    this.data.copyWithin(0, count, this.size);
    this.size -= count;
  }
}
