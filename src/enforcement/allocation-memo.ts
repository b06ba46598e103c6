import type { AllocatedBlock, BlockId, BlockState } from '../ledger/index.js';

/** What an allocation answered, kept to answer a retry of it the same way (issue 17.5). */
export interface RememberedAllocation {
  readonly tenant: string;
  readonly count: number;
  readonly blocks: readonly AllocatedBlock[];
  readonly reclaimed: readonly BlockId[];
}

/** The two ledger facts a remembered allocation is checked against. */
export interface BlockFacts {
  blockState(id: BlockId): BlockState | undefined;
  epochOf(id: BlockId): number | undefined;
}

interface Entry extends RememberedAllocation {
  readonly key: string;
}

/**
 * Which durable allocation each (tenant, request id) names, so that a retry after a lost answer
 * gets the same blocks instead of new ones (issue 17.5). Keys are the request ids' keyed digests
 * (`AuditTrail.recordedId('request', …)`, issue 20.6): the same value the audit records hold, so
 * replay rebuilds this memo from them and it survives a restart.
 *
 * An allocation is remembered while every block it handed out is still in the use it was handed
 * out for: owned by the tenant, at the same use epoch. The ledger advances a block's epoch on every
 * change of state or owner and steps it back on rollback, so "same epoch and owned" is exact: a
 * free (committed) ends the memory, a free rolled back does not, and a later allocation of the
 * same block, even by the same tenant, is another use. Checked lazily, on lookup: O(count) for a
 * retry, nothing added to free or scrub.
 *
 * Bounded by the ledger: an entry is dropped as soon as any of its blocks is handed out again, so
 * the remembered allocations hold disjoint sets of blocks (at most one entry per block) and
 * `byBlock` has at most one slot per block id. Cost per allocation: O(count) map writes, which
 * the allocation already pays for its block list; O(1) per retry lookup plus O(count) validation.
 */
export class AllocationMemo {
  private readonly byKey = new Map<string, Entry>();
  private readonly byBlock = new Map<BlockId, Entry>();

  /** Records a durable allocation (after its audit record's fsync, or from that record at replay). */
  remember(key: string, allocation: RememberedAllocation): void {
    const entry: Entry = { key, tenant: allocation.tenant, count: allocation.count, blocks: allocation.blocks.map((b) => ({ ...b })), reclaimed: [...allocation.reclaimed] };
    for (const { id } of entry.blocks) {
      const previous = this.byBlock.get(id);
      // The block was freed and is handed out again: the earlier allocation is over.
      if (previous !== undefined && this.byKey.get(previous.key) === previous) this.byKey.delete(previous.key);
      this.byBlock.set(id, entry);
    }
    this.byKey.set(key, entry);
  }

  /** The live allocation this key names, or undefined (never made, or its blocks moved on since). */
  lookup(key: string, facts: BlockFacts): RememberedAllocation | undefined {
    const entry = this.byKey.get(key);
    if (entry === undefined) return undefined;
    for (const { id, epoch } of entry.blocks) {
      const state = facts.blockState(id);
      if (state?.state !== 'owned' || state.tenant !== entry.tenant || facts.epochOf(id) !== epoch) {
        this.byKey.delete(key);
        return undefined;
      }
    }
    return entry;
  }

  /** Remembered allocations (each holds at least one block, so never more than the ledger's blocks). */
  get size(): number {
    return this.byKey.size;
  }
}
