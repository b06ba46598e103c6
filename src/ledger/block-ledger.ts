/**
 * The KV block ledger: who owns, caches or last wrote every KV block, and the one state machine
 * that moves blocks between those states.
 *
 *   clean ──allocate──▶ owned(t) ──free──▶ dirty(t) ──allocate to t──▶ owned(t)          (no scrub)
 *                         │  ▲                 └──allocate to u≠t──▶ owned(u), awaitingScrub
 *              free+cache │  │ prefix_hit                                   │ confirmScrub
 *                         ▼  │                                              ▼
 *                       cached(t) ──evicted by u≠t──▶ owned(u), awaitingScrub   owned(u)
 *
 *   owned(t)+awaitingScrub ──free──▶ contaminated ──confirmScrub──▶ clean
 *   dirty / cached ──confirmScrub──▶ clean          removeTenant(t): everything of t ──▶ contaminated
 *
 * Two ways in, one state machine. Allocator mode: `allocate` chooses the blocks. Claim mode (for
 * engines that own their block pool, such as vLLM): the engine chooses, and `claim` judges its
 * choice for one request — new blocks (scrub-flagged when they hold anyone else's data) and prefix
 * hits (only the tenant's own data, I6) — and `release` gives them back. A claimed block is held by
 * one or more requests of its tenant (shared prefix blocks); it leaves `owned` when the last
 * holder releases it. Both modes move blocks through the same `transition` and replay alike.
 *
 * Invariants enforced here in code, whatever the policy says: I1 (one owner per block — a block
 * has one owner slot), I2 (another tenant's data is unreadable until a confirmed scrub), I3 (owned +
 * cached ≤ quota), I4 (only the owner frees or reads), I5 (dedicated pools serve only their tenant),
 * I6 (a prefix hit only on the caller's own cached block).
 *
 * Cost: every operation is O(1) per block it touches (plus O(#pools) for an id lookup and
 * O(#priority levels) per evicted block), independent of the ledger's size. Block facts live in
 * typed arrays; the candidate sets for allocation live in intrusive linked lists (block-lists.ts):
 *
 *   primary link pair   clean per pool · contaminated per pool · dirty per (pool, tenant) ·
 *                       cached per (pool, tenant) · owned per tenant
 *   secondary link pair dirty per pool (any tenant) · cached per (pool, priority) for eviction
 *
 * Atomicity: every operation validates the whole batch before it changes anything, and either
 * applies all of it or returns a denial (or throws) with no change.
 *
 * Rollback (for a failed durable audit write): every successful mutating operation gets an OpId
 * and journals the exact inverse of each change it makes (block fields, every list link with its
 * neighbour, counters, tenant registry). `commit(opId)` declares that operation *and all earlier
 * ones* durable and forgets their undo records (the audit log is an append-only hash chain, so
 * durability is prefix-closed). `rollbackFrom(opId)` reverts that operation and every later one,
 * newest first, restoring block states, list order and counters exactly, as if they never ran.
 * Undo records are kept until committed, so commit promptly (memory grows with uncommitted work).
 *
 * Replay (crash recovery): all operations are deterministic functions of the ledger state and
 * their arguments, except `allocate`, which chooses blocks. Record the ids it returned (in order)
 * and replay them with `replayAllocate`; replay every other operation with its original arguments.
 * Replaying a log of successful operations in order yields the same block states, counters and
 * list order as the live ledger had.
 */
import { Errors, TgError } from '../errors.js';
import { BlockLists, type ListId, NIL } from './block-lists.js';
import { PRIORITY_LEVELS, isPriority } from '../priority.js';
import { evictionList } from './eviction.js';
import type {
  AccessMode,
  AccessResult,
  AllocateResult,
  Allocation,
  BatchDenied,
  BlockDenial,
  BlockDenialReason,
  BlockId,
  BlockState,
  ClaimResult,
  Claimed,
  ConfirmScrubResult,
  FreeOptions,
  FreeResult,
  InvariantReport,
  LedgerOptions,
  LedgerTenant,
  OpId,
  PoolSpec,
  PoolStats,
  QuotaExceeded,
  Released,
  ReleaseResult,
  ReplayAllocateResult,
  RolledBack,
  ScrubConfirmation,
  TenantChanged,
  TenantId,
  TenantPatch,
  TenantRemoved,
  TenantUpdated,
  TenantUsage,
} from './types.js';
import { IntStack } from './undo-journal.js';

// Internal block states (values of `state`). `dirty` with a contaminated data owner is its own
// state so that it has its own list and nobody can mistake it for their own data.
const CLEAN = 0;
const OWNED = 1;
const CACHED = 2;
const DIRTY = 3;
const CONTAMINATED = 4;
const STATE_COUNT = 5;

/** Flag bit: an owned block that still holds another tenant's data (I2). */
const AWAITING_SCRUB = 1;

// Undo journal entry kinds; each entry's fields are pushed first, its kind last.
const J_FIELDS = 1; //  block, oldState, oldOwner, oldFlags
const J_LINK_A = 2; //  block                 (undo: unlink)
const J_UNLINK_A = 3; //block, list, prevBlock (undo: insert after prevBlock)
const J_LINK_B = 4;
const J_UNLINK_B = 5;
const J_PEAK = 6; //    tenantIndex, oldPeak
const J_FN = 7; //      key into undoFns (tenant registry changes)
const J_HOLDS = 8; //   block, oldHolds

/** Most pools a ledger may have (pool index is stored in a Uint16Array). */
const MAX_POOLS = 0xffff;
/** Most blocks a ledger may have (block index is stored in Int32Arrays). */
const MAX_BLOCKS = 0x7fffffff;

interface PoolSlot {
  readonly index: number;
  readonly spec: Readonly<PoolSpec>;
  /** Index of the pool's first block in the per-block arrays. */
  readonly base: number;
  readonly size: number;
  readonly cleanList: ListId; // primary
  readonly contaminatedList: ListId; // primary
  readonly dirtyList: ListId; // secondary: dirty blocks of every tenant
  readonly cachedByPriority: readonly ListId[]; // secondary, [priority - 1]
  /** Blocks per internal state. */
  readonly counts: Int32Array;
  awaitingScrub: number;
}

interface TenantSlot {
  readonly index: number;
  spec: Readonly<LedgerTenant>;
  poolIndex: number;
  removed: boolean;
  owned: number;
  cached: number;
  awaitingScrub: number;
  peakOwned: number;
  readonly ownedList: ListId; // primary
  readonly dirtyLists: readonly ListId[]; // primary, per pool
  readonly cachedLists: readonly ListId[]; // primary, per pool, oldest first
  /** Claim mode: live requests of the tenant → block indices each holds. */
  requests: Map<string, Set<number>>;
}

interface OpRecord {
  readonly opId: OpId;
  journalStart: number;
  readonly firstFnKey: number;
}

/** Result of validating a batch of ids: the block indices to act on, or what is wrong. */
interface CheckedBatch {
  indices: number[];
  denials: BlockDenial[];
}

export class BlockLedger {
  private readonly pools: PoolSlot[] = [];
  private readonly poolByName = new Map<string, PoolSlot>();
  private readonly blockCount: number;

  private readonly state: Uint8Array;
  private readonly owner: Int32Array; // tenant index, or NIL
  private readonly flags: Uint8Array;
  private readonly poolOf: Uint16Array;
  /** Claim mode: how many live requests hold each owned block (0 for allocator-mode blocks). */
  private readonly holds: Int32Array;
  /**
   * Use epoch of each block: advances whenever its state or owner changes, so every use (and every
   * stay in dirty/cached/contaminated between uses) has its own number. A scrub confirmation names
   * the epoch it was asked for; a late one, after the block moved on, is refused (I2, issue 20.3).
   */
  private readonly epoch: Uint32Array;

  private readonly primary: BlockLists;
  private readonly secondary: BlockLists;

  private readonly slots: TenantSlot[] = [];
  private readonly slotById = new Map<TenantId, TenantSlot>();

  private readonly journal = new IntStack();
  private readonly undoFns = new Map<number, () => void>();
  private nextFnKey = 0;
  private readonly pending: OpRecord[] = [];
  private nextOpId = 1;

  constructor(options: LedgerOptions) {
    const specs = validatePools(options.pools);
    this.blockCount = specs.reduce((sum, spec) => sum + (spec.last - spec.first + 1), 0);
    this.state = new Uint8Array(this.blockCount); // all CLEAN
    this.owner = new Int32Array(this.blockCount).fill(NIL);
    this.flags = new Uint8Array(this.blockCount);
    this.poolOf = new Uint16Array(this.blockCount);
    this.holds = new Int32Array(this.blockCount);
    this.epoch = new Uint32Array(this.blockCount);
    this.primary = new BlockLists(this.blockCount);
    this.secondary = new BlockLists(this.blockCount);

    let base = 0;
    for (const spec of specs) {
      const size = spec.last - spec.first + 1;
      const pool: PoolSlot = {
        index: this.pools.length,
        spec: { ...spec },
        base,
        size,
        cleanList: this.primary.createList(),
        contaminatedList: this.primary.createList(),
        dirtyList: this.secondary.createList(),
        cachedByPriority: Array.from({ length: PRIORITY_LEVELS }, () => this.secondary.createList()),
        counts: new Int32Array(STATE_COUNT),
        awaitingScrub: 0,
      };
      pool.counts[CLEAN] = size;
      this.poolOf.fill(pool.index, base, base + size);
      this.primary.appendRange(pool.cleanList, base, base + size - 1);
      this.pools.push(pool);
      this.poolByName.set(spec.name, pool);
      base += size;
    }
  }

  /** Total number of blocks across all pools. */
  get size(): number {
    return this.blockCount;
  }

  /** Number of operations not yet committed (their undo records are held in memory). */
  get uncommittedCount(): number {
    return this.pending.length;
  }

  // ───────────────────────────── tenants ─────────────────────────────

  registerTenant(tenant: LedgerTenant): TenantChanged {
    const poolIndex = this.validateTenant(tenant);
    if (this.slotById.has(tenant.id)) {
      throw new TgError(Errors.CONFLICT, { message: 'tenant is already registered' });
    }
    return this.run((opId) => {
      const listMark = this.primary.listCount;
      const slot: TenantSlot = {
        index: this.slots.length,
        spec: copyTenant(tenant),
        poolIndex,
        removed: false,
        owned: 0,
        cached: 0,
        awaitingScrub: 0,
        peakOwned: 0,
        ownedList: this.primary.createList(),
        dirtyLists: this.pools.map(() => this.primary.createList()),
        cachedLists: this.pools.map(() => this.primary.createList()),
        requests: new Map(),
      };
      this.slots.push(slot);
      this.slotById.set(slot.spec.id, slot);
      this.journalFn(() => {
        this.slotById.delete(slot.spec.id);
        this.slots.pop();
        this.primary.truncateLists(listMark);
      });
      return { opId };
    });
  }

  /**
   * Changes priority, quota or pool. Moving to another pool turns the tenant's cached blocks into
   * its dirty blocks (a tenant caches only in the pool it allocates from); lowering the quota
   * below owned + cached does the same to its oldest cached blocks (I3). A quota below what the
   * tenant owns is refused: owned blocks are in use and are never taken away.
   * A priority change moves the tenant's cached blocks to the new level's eviction list as the
   * newest entries of that level.
   */
  updateTenant(id: TenantId, patch: TenantPatch): TenantUpdated {
    const slot = this.requireTenant(id);
    const next: LedgerTenant = copyTenant({ ...slot.spec, ...definedOnly(patch), id: slot.spec.id });
    const poolIndex = this.validateTenant(next);
    if (next.quotaBlocks < slot.owned) {
      throw new TgError(Errors.CONFLICT, {
        message: 'tenant owns more blocks than the new quota; lower it after blocks are freed',
      });
    }
    return this.run((opId) => {
      const before = { spec: slot.spec, poolIndex: slot.poolIndex };
      slot.spec = next;
      slot.poolIndex = poolIndex;
      this.journalFn(() => {
        slot.spec = before.spec;
        slot.poolIndex = before.poolIndex;
      });
      const reclaimed: BlockId[] = [];
      for (let p = 0; p < this.pools.length; p++) {
        if (p === poolIndex) continue;
        const list = slot.cachedLists[p]!;
        for (let b = this.primary.head(list); b !== NIL; b = this.primary.head(list)) {
          reclaimed.push(this.idOf(b));
          this.transition(b, DIRTY, slot.index, 0);
        }
      }
      if (next.priority !== before.spec.priority) {
        const target = this.pools[poolIndex]!.cachedByPriority[next.priority - 1]!;
        const list = slot.cachedLists[poolIndex]!;
        for (let b = this.primary.head(list); b !== NIL; b = this.primary.next[b]!) {
          this.unlinkSecondary(b);
          this.linkSecondary(target, b);
        }
      }
      const own = slot.cachedLists[poolIndex]!;
      while (slot.owned + slot.cached > next.quotaBlocks) {
        const b = this.primary.head(own);
        if (b === NIL) throw new Error('quota reclaim found no cached block');
        reclaimed.push(this.idOf(b));
        this.transition(b, DIRTY, slot.index, 0);
      }
      return { opId, reclaimed };
    });
  }

  /**
   * Removes a tenant (crypto-shred). Every block it owns, caches or last wrote becomes
   * contaminated: scrubbed before anyone gets it, including a tenant later registered under the
   * same id. Deterministic, so it replays as is.
   */
  removeTenant(id: TenantId): TenantRemoved {
    const slot = this.requireTenant(id);
    return this.run((opId) => {
      let contaminated = 0;
      const drain = (list: ListId): void => {
        for (let b = this.primary.head(list); b !== NIL; b = this.primary.head(list)) {
          this.transition(b, CONTAMINATED, NIL, 0);
          contaminated++;
        }
      };
      for (let p = 0; p < this.pools.length; p++) {
        drain(slot.cachedLists[p]!);
        drain(slot.dirtyLists[p]!);
      }
      for (let b = this.primary.head(slot.ownedList); b !== NIL; b = this.primary.next[b]!) this.setHolds(b, 0);
      drain(slot.ownedList);
      const requests = slot.requests;
      slot.requests = new Map();
      slot.removed = true;
      this.slotById.delete(slot.spec.id);
      this.journalFn(() => {
        slot.removed = false;
        slot.requests = requests;
        this.slotById.set(slot.spec.id, slot);
      });
      return { opId, contaminated };
    });
  }

  /** The tenant as registered, or undefined. */
  tenant(id: TenantId): LedgerTenant | undefined {
    const slot = this.slotById.get(id);
    return slot === undefined ? undefined : copyTenant(slot.spec);
  }

  // ───────────────────────────── blocks ─────────────────────────────

  /**
   * Gives `count` blocks of the tenant's pool to the tenant, or denies with no change.
   * Quota (I3): denied when owned + count > quota; when owned + cached + count > quota the tenant's
   * own oldest cached blocks are reused first to make room. Sources, in order, all within the
   * tenant's pool only (I5): (1) its own dirty blocks, (2) clean blocks, (3) its own cached
   * blocks — all without scrub — then (4) contaminated and other tenants' dirty blocks and (5)
   * other tenants' cached blocks, least important tenant and least recently cached first
   * (eviction.ts) — those with scrub: true (I2). Owned blocks are never taken.
   */
  allocate(tenantId: TenantId, count: number): AllocateResult {
    const slot = this.requireTenant(tenantId);
    if (!Number.isSafeInteger(count) || count < 0) {
      throw new TgError(Errors.BAD_REQUEST, { message: 'block count must be a non-negative integer' });
    }
    const quota = slot.spec.quotaBlocks;
    const pool = this.pools[slot.poolIndex]!;
    const ownCached = slot.cachedLists[pool.index]!;
    // owned + cached <= quota always holds, so this is at most `count`.
    const overQuota = Math.min(count, Math.max(0, slot.owned + slot.cached + count - quota));
    if (slot.owned + count > quota || overQuota > this.primary.length(ownCached)) {
      return this.quotaExceeded(slot, count);
    }
    const available = pool.size - pool.counts[OWNED]!;
    if (count > available) return { ok: false, reason: 'pool_exhausted', requested: count, available };

    return this.run((opId) => {
      const out: Allocation = { ok: true, opId, blocks: [], evicted: [], reclaimed: [] };
      let remaining = count;
      const takeHeads = (lists: BlockLists, list: ListId, limit: number): void => {
        for (let b = lists.head(list); b !== NIL && limit > 0; b = lists.head(list), limit--) {
          this.give(slot, b, out);
          remaining--;
        }
      };
      // Room under the quota: own oldest cached blocks, reused right here (so every block an
      // allocation touches is among the ids it returns, which keeps replay exact).
      takeHeads(this.primary, ownCached, overQuota);
      takeHeads(this.primary, slot.dirtyLists[pool.index]!, remaining);
      takeHeads(this.primary, pool.cleanList, remaining);
      takeHeads(this.primary, ownCached, remaining);
      // Everything below holds another tenant's or contaminated data. Contaminated first: it is
      // useless to everyone, while another tenant's dirty block could go back to it scrub-free.
      takeHeads(this.primary, pool.contaminatedList, remaining);
      takeHeads(this.secondary, pool.dirtyList, remaining); // own dirty are all taken by now
      while (remaining > 0) {
        const victims = evictionList(this.secondary, pool.cachedByPriority);
        if (victims === NIL) throw new Error('pool supply check and lists disagree');
        this.give(slot, this.secondary.head(victims), out);
        remaining--;
      }
      this.bumpPeak(slot);
      return out;
    });
  }

  /**
   * Replays a recorded allocation: assigns exactly `ids`, in order, to the tenant, with scrub
   * flags computed from the current state exactly as `allocate` computes them. Refuses (no
   * change) when an id is unknown, repeated, outside the tenant's pool or owned, or when the
   * result would break the quota — any of which means the log and the ledger have diverged.
   */
  replayAllocate(tenantId: TenantId, ids: readonly BlockId[]): ReplayAllocateResult {
    const slot = this.requireTenant(tenantId);
    const batch = this.checkBatch(ids, true, (b): BlockDenialReason | null => {
      if (this.poolOf[b] !== slot.poolIndex) return 'wrong_pool';
      if (this.state[b] === OWNED) return 'in_use';
      return null;
    });
    if (batch.denials.length > 0) return { ok: false, reason: 'replay_mismatch', blocks: batch.denials };
    let ownCachedTaken = 0;
    for (const b of batch.indices) {
      if (this.state[b] === CACHED && this.owner[b] === slot.index) ownCachedTaken++;
    }
    const count = batch.indices.length;
    const quota = slot.spec.quotaBlocks;
    if (slot.owned + count > quota || slot.owned + count + slot.cached - ownCachedTaken > quota) {
      return this.quotaExceeded(slot, count);
    }
    return this.run((opId) => {
      const out: Allocation = { ok: true, opId, blocks: [], evicted: [], reclaimed: [] };
      for (const b of batch.indices) this.give(slot, b, out);
      this.bumpPeak(slot);
      return out;
    });
  }

  /**
   * Releases blocks the tenant owns. Any id not owned by the tenant refuses the whole batch and is
   * a violation (I4). With `cache`, blocks become the tenant's cached prefix blocks — except
   * blocks still awaiting a scrub (they become contaminated: their data is mixed) and blocks
   * outside the tenant's current pool (they become its dirty blocks).
   */
  free(tenantId: TenantId, ids: readonly BlockId[], options: FreeOptions = {}): FreeResult {
    const slot = this.requireTenant(tenantId);
    const batch = this.checkBatch(ids, true, (b) => this.ownership(b, slot, 'free') ?? (this.holds[b]! > 0 ? 'claimed' : null));
    // Reaching for a block the tenant does not hold is a violation (I4); a malformed batch (unknown
    // or repeated ids) or a claim-mode block is a caller error, not an attack, and is not flagged.
    if (batch.denials.length > 0) return denied(batch.denials, batch.denials.some((d) => d.reason === 'not_owner' || d.reason === 'not_allocated'));
    return this.run((opId) => {
      const result = { ok: true as const, opId, cached: 0, dirty: 0, contaminated: 0 };
      for (const b of batch.indices) {
        if ((this.flags[b]! & AWAITING_SCRUB) !== 0) {
          this.transition(b, CONTAMINATED, NIL, 0);
          result.contaminated++;
        } else if (options.cache === true && this.poolOf[b] === slot.poolIndex) {
          this.transition(b, CACHED, slot.index, 0);
          result.cached++;
        } else {
          this.transition(b, DIRTY, slot.index, 0);
          result.dirty++;
        }
      }
      return result;
    });
  }

  /**
   * The worker confirms it zeroed these blocks, each during the use `epoch` names:
   * owned+awaitingScrub → owned; dirty, contaminated and cached → clean; clean and plain owned
   * blocks are unchanged. Repeated confirmations are harmless. Unknown ids, and confirmations of
   * an epoch the block has left (a delayed confirmation after the block was freed or reused: the
   * zeroing happened before the data now in it was written), refuse the whole batch.
   */
  confirmScrub(confirmations: readonly ScrubConfirmation[]): ConfirmScrubResult {
    if (!Array.isArray(confirmations)) throw new TgError(Errors.BAD_REQUEST, { message: 'scrub confirmations must be an array' });
    // An id may repeat (confirming twice changes nothing), but only ever for one epoch.
    const epochs = new Map<BlockId, number>();
    const stale: BlockDenial[] = [];
    for (const { id, epoch } of confirmations) {
      const first = epochs.get(id);
      if (first === undefined) epochs.set(id, epoch);
      else if (first !== epoch) stale.push({ id, reason: 'stale_scrub' });
    }
    const ids = confirmations.map((confirmation) => confirmation.id);
    const batch = this.checkBatch(ids, false, (b) => (this.epoch[b] === epochs.get(this.idOf(b)) ? null : 'stale_scrub'));
    const denials = [...batch.denials, ...stale];
    if (denials.length > 0) return denied(denials, false);
    return this.run((opId) => {
      const result = { ok: true as const, opId, cleaned: 0, cleared: 0 };
      for (const b of batch.indices) {
        const s = this.state[b]!;
        if (s === OWNED) {
          if ((this.flags[b]! & AWAITING_SCRUB) !== 0) {
            this.transition(b, OWNED, this.owner[b]!, 0);
            result.cleared++;
          }
        } else if (s !== CLEAN) {
          this.transition(b, CLEAN, NIL, 0);
          result.cleaned++;
        }
      }
      return result;
    });
  }

  /**
   * Checks (and for prefix hits records) the tenant's access to blocks.
   * 'read' needs blocks the tenant owns whose scrub is not pending (I2, I4). 'prefix_hit' needs
   * the tenant's own cached blocks (which become owned again) or owned blocks (I6). Any failure
   * refuses the whole batch; `violation` is set when a block is held by someone else or by nobody.
   * Repeated ids are harmless. Successful reads change nothing but still get an OpId, so the
   * caller can treat every operation alike.
   */
  access(tenantId: TenantId, ids: readonly BlockId[], mode: AccessMode): AccessResult {
    const slot = this.requireTenant(tenantId);
    if (mode !== 'read' && mode !== 'prefix_hit') {
      throw new TgError(Errors.BAD_REQUEST, { message: "access mode must be 'read' or 'prefix_hit'" });
    }
    const batch = this.checkBatch(ids, false, (b) => this.ownership(b, slot, mode));
    if (batch.denials.length > 0) {
      const violation = batch.denials.some((d) => d.reason === 'not_owner' || d.reason === 'not_allocated');
      return denied(batch.denials, violation);
    }
    return this.run((opId) => {
      let hits = 0;
      if (mode === 'prefix_hit') {
        for (const b of batch.indices) {
          if (this.state[b] === CACHED) {
            this.transition(b, OWNED, slot.index, 0);
            hits++;
          }
        }
        this.bumpPeak(slot);
      }
      return { ok: true, opId, hits };
    });
  }

  // ───────────────────────────── claim mode ─────────────────────────────

  /**
   * Judges the engine's choice of blocks for one request of the tenant, all or nothing.
   * New `blocks` (I1: none may be in use; I5: all in the tenant's pool) become owned by the
   * request, with scrub: true when they hold another tenant's or contaminated data (I2) — the
   * worker zeroes those before its forward pass and confirms with `confirmScrub`. `prefixHits` may
   * only name the tenant's own data (I6): its cached or dirty blocks, or blocks another live
   * request of the same tenant holds (then shared); never a block awaiting a scrub (I2). Quota
   * (I3): owned after the claim ≤ quota, else quota_exceeded; the tenant's oldest cached blocks
   * are demoted to dirty (still its data, still a valid prefix hit) to keep owned + cached ≤ quota.
   * A violation (another tenant's block named) is flagged for the audit log as I1/I6.
   *
   * `zeroedBeforeUse` names blocks whose scrub the worker performs before the forward pass that
   * would read them: the blocks listed for scrub earlier in the same engine step (engines prefill
   * a shared prefix once and let the step's other requests hit it). A hit on such a block is not
   * `scrub_pending`; the block stays awaiting its confirmation.
   */
  claim(tenantId: TenantId, requestId: string, blocks: readonly BlockId[], prefixHits: readonly BlockId[] = [], zeroedBeforeUse?: ReadonlySet<BlockId>): ClaimResult {
    const slot = this.requireTenant(tenantId);
    requireRequestId(requestId);
    if (!Array.isArray(blocks) || !Array.isArray(prefixHits)) {
      throw new TgError(Errors.BAD_REQUEST, { message: 'block ids must be arrays' });
    }
    const held = slot.requests.get(requestId);
    const seen = new Set<number>();
    const denials: BlockDenial[] = [];
    const fresh: number[] = [];
    const hits: number[] = [];
    let violation = false;
    let newlyOwned = 0;
    const check = (ids: readonly BlockId[], judge: (b: number) => BlockDenialReason | null, into: number[]): void => {
      for (const id of ids) {
        const b = this.indexOf(id);
        if (b === NIL) denials.push({ id, reason: 'unknown_block' });
        else if (seen.has(b)) denials.push({ id, reason: 'duplicate' });
        else {
          seen.add(b);
          const reason = judge(b);
          if (reason === null) into.push(b);
          else {
            denials.push({ id, reason });
            if (reason === 'not_owner') violation = true;
          }
        }
      }
    };
    const foreign = (b: number): boolean => {
      const s = this.state[b]!;
      return s === CONTAMINATED || ((s === OWNED || s === CACHED || s === DIRTY) && this.owner[b] !== slot.index);
    };
    check(prefixHits, (b) => {
      if (this.poolOf[b] !== slot.poolIndex) return 'wrong_pool';
      if (foreign(b)) return 'not_owner';
      const s = this.state[b]!;
      if (s === CLEAN) return 'not_allocated';
      if (s === OWNED) {
        if ((this.flags[b]! & AWAITING_SCRUB) !== 0 && zeroedBeforeUse?.has(this.idOf(b)) !== true) return 'scrub_pending';
        if (held?.has(b) === true || this.holds[b] === 0) return 'in_use';
        return null;
      }
      newlyOwned++;
      return null;
    }, hits);
    check(blocks, (b) => {
      if (this.poolOf[b] !== slot.poolIndex) return this.pools[this.poolOf[b]!]!.spec.dedicatedTo === undefined ? 'wrong_pool' : 'not_owner';
      if (this.state[b] === OWNED) return this.owner[b] === slot.index ? 'in_use' : 'not_owner';
      newlyOwned++;
      return null;
    }, fresh);
    if (denials.length > 0) return denied(denials, violation);
    if (slot.owned + newlyOwned > slot.spec.quotaBlocks) return this.quotaExceeded(slot, newlyOwned);

    return this.run((opId) => {
      const out: Claimed = { ok: true, opId, blocks: [], hits: 0, evicted: [], reclaimed: [] };
      const set = held ?? new Set<number>();
      if (held === undefined && hits.length + fresh.length > 0) {
        slot.requests.set(requestId, set);
        this.journalFn(() => slot.requests.delete(requestId));
      }
      for (const b of hits) {
        if (this.state[b] !== OWNED) this.transition(b, OWNED, slot.index, 0);
        this.setHolds(b, this.holds[b]! + 1);
        out.hits++;
      }
      for (const b of fresh) {
        this.give(slot, b, out);
        this.setHolds(b, 1);
      }
      const added = [...hits, ...fresh];
      for (const b of added) set.add(b);
      this.journalFn(() => {
        for (const b of added) set.delete(b);
      });
      const ownCached = slot.cachedLists[slot.poolIndex]!;
      while (slot.owned + slot.cached > slot.spec.quotaBlocks) {
        const b = this.primary.head(ownCached);
        if (b === NIL) throw new Error('quota check and cached list disagree');
        out.reclaimed.push(this.idOf(b));
        this.transition(b, DIRTY, slot.index, 0);
      }
      this.bumpPeak(slot);
      return out;
    });
  }

  /**
   * The request gives back blocks it holds (finished, preempted, or its engine dropped them). A
   * block whose last holder this was leaves `owned` as `free` would move it (cached with `cache`,
   * else dirty; contaminated when its scrub was never confirmed). Any id the request does not
   * hold refuses the whole batch; one held by another tenant is a violation (I4).
   */
  release(tenantId: TenantId, requestId: string, ids: readonly BlockId[], options: FreeOptions = {}): ReleaseResult {
    const slot = this.requireTenant(tenantId);
    requireRequestId(requestId);
    const held = slot.requests.get(requestId);
    const batch = this.checkBatch(ids, true, (b) => {
      if (held?.has(b) === true) return null;
      const s = this.state[b]!;
      return (s === OWNED || s === CACHED) && this.owner[b] !== slot.index ? 'not_owner' : 'not_held';
    });
    if (batch.denials.length > 0) return denied(batch.denials, batch.denials.some((d) => d.reason === 'not_owner'));
    const set = held!;
    return this.run((opId) => {
      const out: Released = { ok: true, opId, cached: 0, dirty: 0, contaminated: 0, shared: 0 };
      for (const b of batch.indices) set.delete(b);
      if (set.size === 0) slot.requests.delete(requestId);
      this.journalFn(() => {
        for (const b of batch.indices) set.add(b);
        slot.requests.set(requestId, set);
      });
      for (const b of batch.indices) {
        this.setHolds(b, this.holds[b]! - 1);
        if (this.holds[b]! > 0) out.shared++;
        else if ((this.flags[b]! & AWAITING_SCRUB) !== 0) {
          this.transition(b, CONTAMINATED, NIL, 0);
          out.contaminated++;
        } else if (options.cache === true && this.poolOf[b] === slot.poolIndex) {
          this.transition(b, CACHED, slot.index, 0);
          out.cached++;
        } else {
          this.transition(b, DIRTY, slot.index, 0);
          out.dirty++;
        }
      }
      return out;
    });
  }

  /** Claim mode: the blocks a live request of the tenant holds, ascending; empty when it holds none. */
  requestBlocks(tenantId: TenantId, requestId: string): BlockId[] {
    const set = this.requireTenant(tenantId).requests.get(requestId);
    return set === undefined ? [] : [...set].map((b) => this.idOf(b)).sort((a, b) => a - b);
  }

  /** Claim mode: ids of the tenant's live requests. */
  liveRequests(tenantId: TenantId): string[] {
    return [...this.requireTenant(tenantId).requests.keys()];
  }

  // ───────────────────────────── commit / rollback ─────────────────────────────

  /**
   * Declares `opId` and every earlier operation durable and forgets their undo records. Committing
   * an operation that is already committed or was rolled back does nothing.
   */
  commit(opId: OpId): void {
    this.requireIssued(opId);
    let count = 0;
    while (count < this.pending.length && this.pending[count]!.opId <= opId) count++;
    if (count === 0) return;
    const firstKept = this.pending[count];
    const fnEnd = firstKept === undefined ? this.nextFnKey : firstKept.firstFnKey;
    for (let key = this.pending[0]!.firstFnKey; key < fnEnd; key++) this.undoFns.delete(key);
    this.pending.splice(0, count);
    if (firstKept === undefined) {
      this.journal.clear();
      return;
    }
    // Drop the committed prefix of the journal once it is the bigger half (amortised O(1)).
    const start = firstKept.journalStart;
    if (start >= 4096 && start * 2 >= this.journal.length) {
      this.journal.dropOldest(start);
      for (const record of this.pending) record.journalStart -= start;
    }
  }

  /** True while `opId` is neither committed nor rolled back (its effects can still be undone). */
  isPending(opId: OpId): boolean {
    return this.pending.some((record) => record.opId === opId);
  }

  /**
   * Reverts `opId` and every later operation, newest first, restoring block states, list order,
   * counters and the tenant registry exactly. Throws CONFLICT when `opId` is already committed or
   * rolled back (its effects can no longer be undone).
   */
  rollbackFrom(opId: OpId): RolledBack {
    this.requireIssued(opId);
    const at = this.pending.findIndex((record) => record.opId === opId);
    if (at < 0) {
      throw new TgError(Errors.CONFLICT, {
        message: 'ledger operation is already committed or rolled back; it cannot be rolled back',
      });
    }
    this.undoTo(this.pending[at]!.journalStart);
    const reverted = this.pending.splice(at).map((record) => record.opId);
    return { reverted: reverted.reverse() };
  }

  // ───────────────────────────── queries ─────────────────────────────

  blockState(id: BlockId): BlockState | undefined {
    const b = this.indexOf(id);
    if (b === NIL) return undefined;
    const pool = this.pools[this.poolOf[b]!]!.spec.name;
    const s = this.state[b]!;
    const o = this.owner[b]!;
    switch (s) {
      case CLEAN:
        return { id, pool, state: 'clean' };
      case OWNED:
        return { id, pool, state: 'owned', tenant: this.slots[o]!.spec.id, awaitingScrub: (this.flags[b]! & AWAITING_SCRUB) !== 0 };
      case CACHED:
        return { id, pool, state: 'cached', tenant: this.slots[o]!.spec.id };
      case DIRTY:
        return { id, pool, state: 'dirty', tenant: this.slots[o]!.spec.id };
      default:
        return { id, pool, state: 'dirty', tenant: null };
    }
  }

  /** The block's current use epoch (what a scrub confirmation of it must name), or undefined. */
  epochOf(id: BlockId): number | undefined {
    const b = this.indexOf(id);
    return b === NIL ? undefined : this.epoch[b];
  }

  usage(tenantId: TenantId): TenantUsage {
    const slot = this.requireTenant(tenantId);
    return {
      owned: slot.owned,
      cached: slot.cached,
      awaitingScrub: slot.awaitingScrub,
      quotaBlocks: slot.spec.quotaBlocks,
      peakOwned: slot.peakOwned,
    };
  }

  poolStats(poolName: string): PoolStats {
    const pool = this.poolByName.get(poolName);
    if (pool === undefined) throw new TgError(Errors.NOT_FOUND, { message: 'no such pool' });
    return {
      name: pool.spec.name,
      total: pool.size,
      clean: pool.counts[CLEAN]!,
      owned: pool.counts[OWNED]!,
      cached: pool.counts[CACHED]!,
      dirty: pool.counts[DIRTY]!,
      contaminated: pool.counts[CONTAMINATED]!,
      awaitingScrub: pool.awaitingScrub,
      dedicatedTo: pool.spec.dedicatedTo ?? null,
    };
  }

  /**
   * Full O(n) consistency scan, for tests and conformance runs (never on a request path).
   * I1: every block is in exactly the lists its state and owner call for, and the lists are
   * well-formed, so no block can be handed out twice; counters match the blocks. I3: owned +
   * cached ≤ quota for every tenant. I5: every block of a dedicated pool that is owned, cached or
   * dirty belongs to the dedicated tenant, and tenants allocate only from pools they may use.
   */
  checkInvariants(): InvariantReport {
    const violations: string[] = [];
    const report = (problem: string): void => {
      if (violations.length < 50) violations.push(problem);
    };
    for (const lists of [this.primary, this.secondary]) {
      for (let list = 0; list < lists.listCount; list++) {
        const problem = lists.verifyList(list, () => undefined);
        if (problem !== null) report(problem);
      }
    }
    const owned = new Array<number>(this.slots.length).fill(0);
    const cached = new Array<number>(this.slots.length).fill(0);
    const awaiting = new Array<number>(this.slots.length).fill(0);
    const poolCounts = this.pools.map(() => new Array<number>(STATE_COUNT + 1).fill(0));
    for (let b = 0; b < this.blockCount; b++) {
      const s = this.state[b]!;
      const o = this.owner[b]!;
      const f = this.flags[b]!;
      const pool = this.pools[this.poolOf[b]!]!;
      const id = this.idOf(b);
      if (s >= STATE_COUNT) {
        report(`block ${id} has invalid state ${s}`);
        continue;
      }
      poolCounts[pool.index]![s]!++;
      const hasOwner = s === OWNED || s === CACHED || s === DIRTY;
      if (hasOwner) {
        const slot = this.slots[o];
        if (slot === undefined || slot.removed) {
          report(`block ${id} belongs to a missing or removed tenant`);
          continue;
        }
        if (pool.spec.dedicatedTo !== undefined && slot.spec.id !== pool.spec.dedicatedTo) {
          report(`I5: block ${id} of a dedicated pool belongs to another tenant`);
        }
        if (s === OWNED) owned[o]!++;
        if (s === CACHED) {
          cached[o]!++;
          if (pool.index !== slot.poolIndex) report(`block ${id} is cached outside its tenant's pool`);
        }
      } else if (o !== NIL) {
        report(`block ${id} has an owner in a state that has none`);
      }
      if (f !== 0) {
        if (s !== OWNED || f !== AWAITING_SCRUB) report(`block ${id} has flags ${f} in state ${s}`);
        else {
          awaiting[o]!++;
          poolCounts[pool.index]![STATE_COUNT]!++;
        }
      }
      const wantPrimary = this.primaryListFor(b, s, o);
      const wantSecondary = this.secondaryListFor(b, s, o);
      if (this.primary.listOf[b] !== wantPrimary || this.secondary.listOf[b] !== wantSecondary) {
        report(`I1: block ${id} is not in the lists its state calls for`);
      }
    }
    // Claim mode: every hold is a live request of the block's owner, and `holds` counts them.
    const holders = new Int32Array(this.blockCount);
    for (const slot of this.slots) {
      for (const set of slot.requests.values()) {
        if (set.size === 0) report(`tenant ${slot.spec.id} keeps a request that holds no block`);
        for (const b of set) {
          holders[b]!++;
          if (this.state[b] !== OWNED || this.owner[b] !== slot.index) report(`I1: block ${this.idOf(b)} is held by a request of a tenant that does not own it`);
        }
      }
    }
    for (let b = 0; b < this.blockCount; b++) {
      if (holders[b] !== this.holds[b]) report(`block ${this.idOf(b)} hold count disagrees with its requests`);
    }
    for (const slot of this.slots) {
      const i = slot.index;
      if (slot.owned !== owned[i] || slot.cached !== cached[i] || slot.awaitingScrub !== awaiting[i]) {
        report(`tenant #${i} counters disagree with its blocks`);
      }
      if (slot.removed) continue;
      if (slot.owned + slot.cached > slot.spec.quotaBlocks) report(`I3: tenant ${slot.spec.id} holds more than its quota`);
      if (slot.peakOwned < slot.owned) report(`tenant ${slot.spec.id} peak is below its owned count`);
      const pool = this.pools[slot.poolIndex]!;
      if (pool.spec.dedicatedTo !== undefined && pool.spec.dedicatedTo !== slot.spec.id) {
        report(`I5: tenant ${slot.spec.id} allocates from a pool dedicated to another tenant`);
      }
      const dedicated = this.pools.filter((p) => p.spec.dedicatedTo === slot.spec.id);
      if (dedicated.length > 0 && !dedicated.includes(pool)) {
        report(`I5: tenant ${slot.spec.id} has a dedicated pool but allocates elsewhere`);
      }
    }
    for (const pool of this.pools) {
      const counted = poolCounts[pool.index]!;
      for (let s = 0; s < STATE_COUNT; s++) {
        if (pool.counts[s] !== counted[s]) report(`pool ${pool.spec.name} state ${s} count disagrees with its blocks`);
      }
      if (pool.awaitingScrub !== counted[STATE_COUNT]) report(`pool ${pool.spec.name} awaitingScrub count disagrees`);
    }
    return { ok: violations.length === 0, violations };
  }

  // ───────────────────────────── internals ─────────────────────────────

  /** Runs a validated mutation as one operation; undoes its partial effects if it throws. */
  private run<T>(apply: (opId: OpId) => T): T {
    const record: OpRecord = { opId: this.nextOpId++, journalStart: this.journal.length, firstFnKey: this.nextFnKey };
    this.pending.push(record);
    try {
      return apply(record.opId);
    } catch (error) {
      this.undoTo(record.journalStart);
      this.pending.pop();
      if (error instanceof TgError) throw error;
      const internal = new TgError(Errors.INTERNAL);
      internal.cause = error; // for logs; never part of the response body
      throw internal;
    }
  }

  /** Hands block `b` to the tenant, flagged for scrub when it holds anyone else's data (I2). */
  private give(slot: TenantSlot, b: number, out: Pick<Allocation, 'blocks' | 'evicted' | 'reclaimed'>): void {
    const s = this.state[b]!;
    const previous = this.owner[b]!;
    const ownData = (s === DIRTY || s === CACHED) && previous === slot.index;
    const scrub = s !== CLEAN && !ownData;
    const id = this.idOf(b);
    if (s === CACHED) (previous === slot.index ? out.reclaimed : out.evicted).push(id);
    this.transition(b, OWNED, slot.index, scrub ? AWAITING_SCRUB : 0);
    out.blocks.push({ id, scrub, epoch: this.epoch[b]! });
  }

  /**
   * Why the tenant may not do `intent` to block `b`, or null when it may. Freeing a block whose
   * scrub is pending is allowed (it becomes contaminated); reading or prefix-hitting it is not (I2).
   */
  private ownership(b: number, slot: TenantSlot, intent: 'free' | AccessMode): BlockDenialReason | null {
    const s = this.state[b]!;
    const mine = this.owner[b] === slot.index;
    if (s === OWNED && mine) {
      const pending = (this.flags[b]! & AWAITING_SCRUB) !== 0;
      return pending && intent !== 'free' ? 'scrub_pending' : null;
    }
    if (s === CACHED && mine) return intent === 'prefix_hit' ? null : 'not_allocated';
    if (s === OWNED || s === CACHED) return 'not_owner';
    return 'not_allocated';
  }

  /**
   * Validates a batch of ids: unknown ids, repeats (denied when `uniqueRequired`, else skipped),
   * then `check` on each distinct known block. Changes nothing.
   */
  private checkBatch(
    ids: readonly BlockId[],
    uniqueRequired: boolean,
    check: (b: number) => BlockDenialReason | null,
  ): CheckedBatch {
    if (!Array.isArray(ids)) throw new TgError(Errors.BAD_REQUEST, { message: 'block ids must be an array' });
    const indices: number[] = [];
    const denials: BlockDenial[] = [];
    const seen = new Set<number>();
    for (const id of ids) {
      const b = this.indexOf(id);
      if (b === NIL) {
        denials.push({ id, reason: 'unknown_block' });
        continue;
      }
      if (seen.has(b)) {
        if (uniqueRequired) denials.push({ id, reason: 'duplicate' });
        continue;
      }
      seen.add(b);
      const reason = check(b);
      if (reason !== null) denials.push({ id, reason });
      else indices.push(b);
    }
    return { indices, denials };
  }

  /** The primary list a block in state `s` with owner `o` belongs to. */
  private primaryListFor(b: number, s: number, o: number): ListId {
    const pool = this.pools[this.poolOf[b]!]!;
    switch (s) {
      case CLEAN:
        return pool.cleanList;
      case OWNED:
        return this.slots[o]!.ownedList;
      case CACHED:
        return this.slots[o]!.cachedLists[pool.index]!;
      case DIRTY:
        return this.slots[o]!.dirtyLists[pool.index]!;
      default:
        return pool.contaminatedList;
    }
  }

  /** The secondary list a block in state `s` with owner `o` belongs to, or NIL. */
  private secondaryListFor(b: number, s: number, o: number): ListId {
    const pool = this.pools[this.poolOf[b]!]!;
    if (s === DIRTY) return pool.dirtyList;
    if (s === CACHED) return pool.cachedByPriority[this.slots[o]!.spec.priority - 1]!;
    return NIL;
  }

  /** The one place block facts change: moves lists, fields and counters, journaling each step. */
  private transition(b: number, s: number, o: number, f: number): void {
    const wantPrimary = this.primaryListFor(b, s, o);
    const wantSecondary = this.secondaryListFor(b, s, o);
    const movePrimary = this.primary.listOf[b] !== wantPrimary;
    const moveSecondary = this.secondary.listOf[b] !== wantSecondary;
    if (movePrimary) this.unlinkPrimary(b);
    if (moveSecondary) this.unlinkSecondary(b);
    const j = this.journal;
    j.push(b);
    j.push(this.state[b]!);
    j.push(this.owner[b]!);
    j.push(this.flags[b]!);
    j.push(J_FIELDS);
    this.writeFields(b, s, o, f);
    if (movePrimary) this.linkPrimary(wantPrimary, b);
    if (moveSecondary && wantSecondary !== NIL) this.linkSecondary(wantSecondary, b);
  }

  /**
   * Sets a block's fields and keeps tenant and pool counters in step. Not journaled itself. A change
   * of state or owner advances the epoch; undoing it (the same call with the old fields) steps it
   * back, so a rollback restores the epoch exactly.
   */
  private writeFields(b: number, s: number, o: number, f: number, undo = false): void {
    if (s !== this.state[b] || o !== this.owner[b]) this.epoch[b] = (this.epoch[b]! + (undo ? 0xffffffff : 1)) >>> 0;
    this.count(b, -1);
    this.state[b] = s;
    this.owner[b] = o;
    this.flags[b] = f;
    this.count(b, +1);
  }

  private count(b: number, sign: number): void {
    const s = this.state[b]!;
    const pool = this.pools[this.poolOf[b]!]!;
    pool.counts[s]! += sign;
    if (s === OWNED) {
      const slot = this.slots[this.owner[b]!]!;
      slot.owned += sign;
      if ((this.flags[b]! & AWAITING_SCRUB) !== 0) {
        slot.awaitingScrub += sign;
        pool.awaitingScrub += sign;
      }
    } else if (s === CACHED) {
      this.slots[this.owner[b]!]!.cached += sign;
    }
  }

  private setHolds(b: number, holds: number): void {
    if (this.holds[b] === holds) return;
    this.journal.push(b);
    this.journal.push(this.holds[b]!);
    this.journal.push(J_HOLDS);
    this.holds[b] = holds;
  }

  private bumpPeak(slot: TenantSlot): void {
    if (slot.owned <= slot.peakOwned) return;
    this.journal.push(slot.index);
    this.journal.push(slot.peakOwned);
    this.journal.push(J_PEAK);
    slot.peakOwned = slot.owned;
  }

  private linkPrimary(list: ListId, b: number): void {
    this.primary.pushTail(list, b);
    this.journal.push(b);
    this.journal.push(J_LINK_A);
  }

  private unlinkPrimary(b: number): void {
    const list = this.primary.listOf[b]!;
    if (list === NIL) return;
    this.journal.push(b);
    this.journal.push(list);
    this.journal.push(this.primary.prev[b]!);
    this.journal.push(J_UNLINK_A);
    this.primary.unlink(b);
  }

  private linkSecondary(list: ListId, b: number): void {
    this.secondary.pushTail(list, b);
    this.journal.push(b);
    this.journal.push(J_LINK_B);
  }

  private unlinkSecondary(b: number): void {
    const list = this.secondary.listOf[b]!;
    if (list === NIL) return;
    this.journal.push(b);
    this.journal.push(list);
    this.journal.push(this.secondary.prev[b]!);
    this.journal.push(J_UNLINK_B);
    this.secondary.unlink(b);
  }

  private journalFn(undo: () => void): void {
    const key = this.nextFnKey++;
    this.undoFns.set(key, undo);
    this.journal.push(key);
    this.journal.push(J_FN);
  }

  /** Undoes journal entries newest first until the journal is `stop` entries long. */
  private undoTo(stop: number): void {
    const j = this.journal;
    while (j.length > stop) {
      const kind = j.pop();
      switch (kind) {
        case J_FIELDS: {
          const f = j.pop();
          const o = j.pop();
          const s = j.pop();
          this.writeFields(j.pop(), s, o, f, true);
          break;
        }
        case J_LINK_A:
          this.primary.unlink(j.pop());
          break;
        case J_UNLINK_A: {
          const after = j.pop();
          const list = j.pop();
          this.primary.insertAfter(list, after, j.pop());
          break;
        }
        case J_LINK_B:
          this.secondary.unlink(j.pop());
          break;
        case J_UNLINK_B: {
          const after = j.pop();
          const list = j.pop();
          this.secondary.insertAfter(list, after, j.pop());
          break;
        }
        case J_PEAK: {
          const peak = j.pop();
          this.slots[j.pop()]!.peakOwned = peak;
          break;
        }
        case J_HOLDS: {
          const holds = j.pop();
          this.holds[j.pop()] = holds;
          break;
        }
        case J_FN: {
          const key = j.pop();
          const undo = this.undoFns.get(key);
          this.undoFns.delete(key);
          if (undo === undefined) throw new Error('undo journal lost a registry entry');
          undo();
          break;
        }
        default:
          throw new Error(`corrupt undo journal (kind ${kind})`);
      }
    }
  }

  private quotaExceeded(slot: TenantSlot, requested: number): QuotaExceeded {
    return {
      ok: false,
      reason: 'quota_exceeded',
      held: slot.owned + slot.cached,
      owned: slot.owned,
      requested,
      quota: slot.spec.quotaBlocks,
    };
  }

  private requireTenant(id: TenantId): TenantSlot {
    const slot = this.slotById.get(id);
    if (slot === undefined) throw new TgError(Errors.UNKNOWN_TENANT);
    return slot;
  }

  private requireIssued(opId: OpId): void {
    if (!Number.isSafeInteger(opId) || opId < 1 || opId >= this.nextOpId) {
      throw new TgError(Errors.NOT_FOUND, { message: 'no such ledger operation' });
    }
  }

  /** Checks a tenant spec against the pools (I5) and returns its pool index. Throws when invalid. */
  private validateTenant(tenant: LedgerTenant): number {
    if (typeof tenant.id !== 'string' || tenant.id.length === 0) {
      throw new TgError(Errors.BAD_REQUEST, { message: 'tenant id must be a non-empty string' });
    }
    if (!isPriority(tenant.priority)) {
      throw new TgError(Errors.BAD_REQUEST, { message: `tenant priority must be an integer from 1 to ${PRIORITY_LEVELS}` });
    }
    if (!Number.isSafeInteger(tenant.quotaBlocks) || tenant.quotaBlocks < 0) {
      throw new TgError(Errors.BAD_REQUEST, { message: 'tenant quotaBlocks must be a non-negative integer' });
    }
    const pool = this.poolByName.get(tenant.pool);
    if (pool === undefined) throw new TgError(Errors.BAD_REQUEST, { message: 'tenant pool does not exist' });
    if (pool.spec.dedicatedTo !== undefined && pool.spec.dedicatedTo !== tenant.id) {
      throw new TgError(Errors.CONFLICT, { message: 'pool is dedicated to another tenant (I5)' });
    }
    const dedicated = this.pools.some((p) => p.spec.dedicatedTo === tenant.id);
    if (dedicated && pool.spec.dedicatedTo !== tenant.id) {
      throw new TgError(Errors.CONFLICT, { message: 'tenant has a dedicated pool and must allocate from it (I5)' });
    }
    return pool.index;
  }

  /** Block index of an id, or NIL. Binary search over the pools (sorted by first id). */
  private indexOf(id: unknown): number {
    if (typeof id !== 'number' || !Number.isSafeInteger(id)) return NIL;
    let low = 0;
    let high = this.pools.length - 1;
    let found: PoolSlot | undefined;
    while (low <= high) {
      const mid = (low + high) >> 1;
      const pool = this.pools[mid]!;
      if (pool.spec.first <= id) {
        found = pool;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    if (found === undefined || id > found.spec.last) return NIL;
    return found.base + (id - found.spec.first);
  }

  private idOf(b: number): BlockId {
    const pool = this.pools[this.poolOf[b]!]!;
    return pool.spec.first + (b - pool.base);
  }
}

function requireRequestId(requestId: string): void {
  if (typeof requestId !== 'string' || requestId.length === 0) {
    throw new TgError(Errors.BAD_REQUEST, { message: 'request id must be a non-empty string' });
  }
}

function denied(blocks: BlockDenial[], violation: boolean): BatchDenied {
  return { ok: false, reason: 'blocks_denied', violation, blocks };
}

function copyTenant(tenant: LedgerTenant): LedgerTenant {
  return { id: tenant.id, priority: tenant.priority, quotaBlocks: tenant.quotaBlocks, pool: tenant.pool };
}

function definedOnly(patch: TenantPatch): TenantPatch {
  const out: TenantPatch = {};
  if (patch.priority !== undefined) out.priority = patch.priority;
  if (patch.quotaBlocks !== undefined) out.quotaBlocks = patch.quotaBlocks;
  if (patch.pool !== undefined) out.pool = patch.pool;
  return out;
}

/** Validates pool specs and returns them sorted by first id. */
function validatePools(pools: readonly PoolSpec[]): PoolSpec[] {
  if (!Array.isArray(pools) || pools.length === 0) {
    throw new TgError(Errors.CONFIG_INVALID, { message: 'the ledger needs at least one pool' });
  }
  if (pools.length > MAX_POOLS) throw new TgError(Errors.CONFIG_INVALID, { message: 'too many pools' });
  const names = new Set<string>();
  let total = 0;
  for (const pool of pools) {
    if (typeof pool.name !== 'string' || pool.name.length === 0 || names.has(pool.name)) {
      throw new TgError(Errors.CONFIG_INVALID, { message: 'pool names must be non-empty and unique' });
    }
    names.add(pool.name);
    if (!Number.isSafeInteger(pool.first) || !Number.isSafeInteger(pool.last) || pool.first < 0 || pool.last < pool.first) {
      throw new TgError(Errors.CONFIG_INVALID, { message: `pool ${pool.name} needs integer ids with 0 <= first <= last` });
    }
    if (pool.dedicatedTo !== undefined && (typeof pool.dedicatedTo !== 'string' || pool.dedicatedTo.length === 0)) {
      throw new TgError(Errors.CONFIG_INVALID, { message: `pool ${pool.name} dedicatedTo must be a tenant id` });
    }
    total += pool.last - pool.first + 1;
  }
  if (total > MAX_BLOCKS) throw new TgError(Errors.CONFIG_INVALID, { message: 'too many blocks for one ledger' });
  const sorted = [...pools].sort((a, b) => a.first - b.first);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.first <= sorted[i - 1]!.last) {
      throw new TgError(Errors.CONFIG_INVALID, { message: 'pool block ranges overlap' });
    }
  }
  return sorted;
}
