/**
 * Public types of the block ledger. Denials are values (`ok: false`), not exceptions: the caller
 * audits them and maps them to the error catalogue. Exceptions (TgError) are kept for malformed
 * input (a negative count, an unknown tenant or pool) and for rollback misuse.
 */

export type TenantId = string;
/** A KV block id as the inference engine knows it (an integer inside some pool's range). */
export type BlockId = number;
/** Identifies one successful mutating operation, for `commit` / `rollbackFrom`. Increasing. */
export type OpId = number;

export interface PoolSpec {
  name: string;
  /** First block id of the pool. */
  first: number;
  /** Last block id of the pool, inclusive. */
  last: number;
  /** When set, only this tenant ever gets blocks of this pool (I5). */
  dedicatedTo?: TenantId;
}

export interface LedgerTenant {
  id: TenantId;
  /** 1 = most important … 5 = least; lower-priority tenants lose cached blocks first. */
  priority: number;
  /** Maximum blocks held (owned + cached) (I3). */
  quotaBlocks: number;
  /** Name of the pool the tenant allocates from. */
  pool: string;
}

export type TenantPatch = Partial<Pick<LedgerTenant, 'priority' | 'quotaBlocks' | 'pool'>>;

export interface LedgerOptions {
  pools: readonly PoolSpec[];
}

/**
 * What the ledger knows about one block.
 * - `owned`: in use by `tenant`; `awaitingScrub` means it still holds someone else's data and the
 *   owner may not read it until the worker confirms a scrub (I2).
 * - `cached`: a prefix-cache block `tenant` keeps for reuse; not in use; evictable.
 * - `dirty`: nobody owns it; its data belongs to `tenant`, who may get it back without a scrub.
 *   `tenant: null` means the data is contaminated (mixed or of a removed tenant): it is scrubbed
 *   before anyone, including its last owner, gets it.
 */
export type BlockState =
  | { id: BlockId; pool: string; state: 'clean' }
  | { id: BlockId; pool: string; state: 'owned'; tenant: TenantId; awaitingScrub: boolean }
  | { id: BlockId; pool: string; state: 'cached'; tenant: TenantId }
  | { id: BlockId; pool: string; state: 'dirty'; tenant: TenantId | null };

export type BlockDenialReason =
  /** The id is in no pool. */
  | 'unknown_block'
  /** The id appears twice in a batch that must touch each block once. */
  | 'duplicate'
  /** Another tenant owns or caches the block (I4, I6). */
  | 'not_owner'
  /** Nobody has the block in use (clean, dirty, or the caller's own cached block for a read). */
  | 'not_allocated'
  /** The caller owns the block but it still holds another tenant's data (I2). */
  | 'scrub_pending'
  /** replayAllocate only: the block is not in the tenant's pool. */
  | 'wrong_pool'
  /** replayAllocate and claim: the block is in use already (claim: by the same tenant). */
  | 'in_use'
  /** release: the request does not hold the block (never claimed it, or released it already). */
  | 'not_held'
  /** free: the block was claimed by a request (claim mode); release it with `release`. */
  | 'claimed'
  /** confirmScrub: the confirmation names an earlier use of the block than its current one (I2). */
  | 'stale_scrub';

export interface BlockDenial {
  id: BlockId;
  reason: BlockDenialReason;
}

/**
 * A batch refused as a whole; `blocks` lists only the offending ids. `violation` is true when the
 * refusal is about ownership (the caller touched blocks it does not hold): log it as an I4/I6
 * violation.
 */
export interface BatchDenied {
  ok: false;
  reason: 'blocks_denied';
  violation: boolean;
  blocks: BlockDenial[];
}

export interface AllocatedBlock {
  id: BlockId;
  /** The block holds another tenant's (or contaminated) data: zero it, then `confirmScrub` (I2). */
  scrub: boolean;
  /** The block's use epoch: a scrub confirmation names it, so it cannot clear a later use (I2). */
  epoch: number;
}

/** "I zeroed block `id` during its use `epoch`" (the epoch from the allocation or claim answer). */
export interface ScrubConfirmation {
  id: BlockId;
  epoch: number;
}

export interface Allocation {
  ok: true;
  opId: OpId;
  /** In the order they were taken; replay them in this order with `replayAllocate`. */
  blocks: AllocatedBlock[];
  /** Other tenants' cached blocks taken (also listed in `blocks`, with scrub: true). */
  evicted: BlockId[];
  /**
   * The tenant's own cached blocks reused (also listed in `blocks`): the worker must drop its
   * prefix-cache entries for them.
   */
  reclaimed: BlockId[];
}

export interface QuotaExceeded {
  ok: false;
  reason: 'quota_exceeded';
  /** owned + cached. */
  held: number;
  owned: number;
  requested: number;
  quota: number;
}

export interface PoolExhausted {
  ok: false;
  reason: 'pool_exhausted';
  requested: number;
  /** Blocks of the pool not owned by anyone (clean, dirty or cached). */
  available: number;
}

export type AllocateResult = Allocation | QuotaExceeded | PoolExhausted;

/** replayAllocate: the recorded ids cannot be assigned as recorded (the log and ledger diverge). */
export interface ReplayMismatch {
  ok: false;
  reason: 'replay_mismatch';
  blocks: BlockDenial[];
}

export type ReplayAllocateResult = Allocation | QuotaExceeded | ReplayMismatch;

export interface FreeOptions {
  /** Keep the blocks as the tenant's prefix cache instead of releasing them. */
  cache?: boolean;
}

export interface Freed {
  ok: true;
  opId: OpId;
  /** Blocks now cached by the tenant. */
  cached: number;
  /** Blocks now dirty with the tenant's data. */
  dirty: number;
  /** Blocks freed before their scrub was confirmed: contaminated, scrubbed before anyone. */
  contaminated: number;
}

export type FreeResult = Freed | BatchDenied;

export interface Scrubbed {
  ok: true;
  opId: OpId;
  /** Dirty, contaminated or cached blocks that became clean. */
  cleaned: number;
  /** Owned blocks whose awaitingScrub flag was cleared. */
  cleared: number;
}

export type ConfirmScrubResult = Scrubbed | BatchDenied;

/**
 * Claim mode: the engine chose the blocks. `blocks` are newly allocated to the request (each is
 * flagged for scrub when it holds anyone else's data, I2); `hits` counts the prefix hits taken.
 */
export interface Claimed {
  ok: true;
  opId: OpId;
  /** The newly claimed blocks, in the order given, with their scrub flags. */
  blocks: AllocatedBlock[];
  /** Prefix hits that made a block owned (cached or dirty own data) or added a holder to a shared one. */
  hits: number;
  /** Other tenants' cached blocks the engine reused (listed in `blocks` with scrub: true). */
  evicted: BlockId[];
  /**
   * The tenant's own cached blocks that were reused as new blocks, or demoted to dirty to keep
   * owned + cached within the quota (I3): they are no longer the tenant's prefix cache.
   */
  reclaimed: BlockId[];
}

export type ClaimResult = Claimed | QuotaExceeded | BatchDenied;

export interface Released {
  ok: true;
  opId: OpId;
  /** Blocks whose last holder this was, now cached by the tenant. */
  cached: number;
  /** ... now dirty with the tenant's data. */
  dirty: number;
  /** ... released before their scrub was confirmed: contaminated. */
  contaminated: number;
  /** Blocks still held by other requests of the same tenant (shared prefix blocks). */
  shared: number;
}

export type ReleaseResult = Released | BatchDenied;

export type AccessMode = 'read' | 'prefix_hit';

export interface Accessed {
  ok: true;
  opId: OpId;
  /** Cached blocks that became owned again (prefix hits); 0 for reads. */
  hits: number;
}

export type AccessResult = Accessed | BatchDenied;

export interface TenantChanged {
  opId: OpId;
}

export interface TenantUpdated {
  opId: OpId;
  /**
   * Cached blocks turned into dirty blocks of the tenant (pool moved, or quota lowered below
   * owned + cached): the worker must drop its prefix-cache entries for them.
   */
  reclaimed: BlockId[];
}

export interface TenantRemoved {
  opId: OpId;
  /** Owned, cached and dirty blocks of the tenant that are now contaminated. */
  contaminated: number;
}

export interface TenantUsage {
  owned: number;
  cached: number;
  awaitingScrub: number;
  quotaBlocks: number;
  /** Highest `owned` ever reached. */
  peakOwned: number;
}

export interface PoolStats {
  name: string;
  total: number;
  clean: number;
  owned: number;
  cached: number;
  /** Dirty with a known data owner. */
  dirty: number;
  /** Dirty with contaminated data. */
  contaminated: number;
  awaitingScrub: number;
  dedicatedTo: TenantId | null;
}

export interface InvariantReport {
  ok: boolean;
  /** Human-readable problems, capped at a few dozen. */
  violations: string[];
}

export interface RolledBack {
  /** Operations reverted, newest first. */
  reverted: OpId[];
}
