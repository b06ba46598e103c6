/**
 * Shared fixtures for the ledger tests: a small cluster (two shared pools and one dedicated pool),
 * four tenants, random operation sequences, and a snapshot of everything observable.
 */
import fc from 'fast-check';
import { BlockLedger, type AllocatedBlock, type BlockId, type LedgerTenant, type PoolSpec, type ScrubConfirmation } from '../../src/ledger/index.js';

export const POOLS: PoolSpec[] = [
  { name: 'shared', first: 0, last: 11 },
  { name: 'ent', first: 100, last: 105, dedicatedTo: 'e' },
  { name: 'spare', first: 200, last: 205 },
];

export const ALL_IDS: BlockId[] = POOLS.flatMap((pool) =>
  Array.from({ length: pool.last - pool.first + 1 }, (_, i) => pool.first + i),
);

/** An id in no pool. */
export const UNKNOWN_ID = 999;

export const TENANTS: readonly LedgerTenant[] = [
  { id: 'a', priority: 2, quotaBlocks: 8, pool: 'shared' },
  { id: 'b', priority: 4, quotaBlocks: 6, pool: 'shared' },
  { id: 'c', priority: 5, quotaBlocks: 6, pool: 'shared' },
  { id: 'e', priority: 1, quotaBlocks: 6, pool: 'ent' },
];

export function tenantSpec(index: number): LedgerTenant {
  return { ...TENANTS[index % TENANTS.length]! };
}

export function newLedger(register = true): BlockLedger {
  const ledger = new BlockLedger({ pools: POOLS });
  if (register) for (const tenant of TENANTS) ledger.registerTenant({ ...tenant });
  return ledger;
}

/** Everything a caller can observe, as one comparable value. */
export function snapshot(ledger: BlockLedger): unknown {
  return {
    blocks: ALL_IDS.map((id) => ledger.blockState(id)),
    tenants: TENANTS.map(({ id }) => (ledger.tenant(id) === undefined ? null : { spec: ledger.tenant(id), usage: ledger.usage(id) })),
    pools: POOLS.map(({ name }) => ledger.poolStats(name)),
  };
}

/** Ids the tenant owns (or caches), per the ledger's own view. */
export function idsWhere(ledger: BlockLedger, predicate: (id: BlockId) => boolean): BlockId[] {
  return ALL_IDS.filter(predicate);
}

// ───────────── random operation sequences (model test and replay test) ─────────────

export type Op =
  | { kind: 'allocate'; t: number; n: number }
  | { kind: 'free'; t: number; picks: number[]; cache: boolean; from: 'own' | 'any' }
  | { kind: 'scrub'; picks: number[]; from: 'pending' | 'any' }
  | { kind: 'access'; t: number; picks: number[]; mode: 'read' | 'prefix_hit'; from: 'own' | 'cached' | 'any' }
  | { kind: 'update'; t: number; priority: number | undefined; quota: number | undefined; pool: string | undefined }
  | { kind: 'remove'; t: number }
  | { kind: 'register'; t: number }
  | { kind: 'rollback'; back: number }
  | { kind: 'commit' };

const tenantArb = fc.nat({ max: TENANTS.length - 1 });
const picksArb = fc.array(fc.nat({ max: 40 }), { minLength: 1, maxLength: 4 });

export function opArb(withRollback: boolean): fc.Arbitrary<Op> {
  const weighted: Array<{ arbitrary: fc.Arbitrary<Op>; weight: number }> = [
    { weight: 12, arbitrary: fc.record({ kind: fc.constant('allocate' as const), t: tenantArb, n: fc.integer({ min: 1, max: 5 }) }) },
    {
      weight: 12,
      arbitrary: fc.record({
        kind: fc.constant('free' as const),
        t: tenantArb,
        picks: picksArb,
        cache: fc.boolean(),
        from: fc.constantFrom('own' as const, 'own' as const, 'own' as const, 'any' as const),
      }),
    },
    {
      weight: 5,
      arbitrary: fc.record({ kind: fc.constant('scrub' as const), picks: picksArb, from: fc.constantFrom('pending' as const, 'pending' as const, 'any' as const) }),
    },
    {
      weight: 8,
      arbitrary: fc.record({
        kind: fc.constant('access' as const),
        t: tenantArb,
        picks: picksArb,
        mode: fc.constantFrom('read' as const, 'prefix_hit' as const),
        from: fc.constantFrom('own' as const, 'cached' as const, 'any' as const),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('update' as const),
        t: tenantArb,
        priority: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
        quota: fc.option(fc.nat({ max: 9 }), { nil: undefined }),
        pool: fc.option(fc.constantFrom('shared', 'spare', 'ent'), { nil: undefined, freq: 3 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), t: tenantArb }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('register' as const), t: tenantArb }) },
  ];
  if (withRollback) {
    weighted.push({ weight: 4, arbitrary: fc.record({ kind: fc.constant('rollback' as const), back: fc.nat({ max: 3 }) }) });
    weighted.push({ weight: 4, arbitrary: fc.constant({ kind: 'commit' as const }) });
  }
  return fc.oneof(...weighted);
}

/** Sequences long enough to fill pools, cache, evict and scrub (fast-check's default size is small). */
export function opsArb(withRollback: boolean): fc.Arbitrary<Op[]> {
  return fc.array(opArb(withRollback), { minLength: 1, maxLength: 80, size: 'max' });
}

/** Turns an op's abstract picks into concrete block ids, using the ledger's current view. */
export function resolvePicks(ledger: BlockLedger, op: Op): BlockId[] {
  if (op.kind !== 'free' && op.kind !== 'scrub' && op.kind !== 'access') return [];
  const tenant = 't' in op ? tenantSpec(op.t).id : '';
  let candidates: BlockId[];
  if (op.from === 'own') {
    candidates = idsWhere(ledger, (id) => {
      const s = ledger.blockState(id);
      return s?.state === 'owned' && s.tenant === tenant;
    });
  } else if (op.from === 'cached') {
    candidates = idsWhere(ledger, (id) => ledger.blockState(id)?.state === 'cached');
  } else if (op.from === 'pending') {
    candidates = idsWhere(ledger, (id) => {
      const s = ledger.blockState(id);
      return s !== undefined && s.state !== 'clean' && !(s.state === 'owned' && !s.awaitingScrub);
    });
  } else {
    candidates = [...ALL_IDS, UNKNOWN_ID];
  }
  if (candidates.length === 0) candidates = [...ALL_IDS, UNKNOWN_ID];
  const picked = op.picks.map((pick) => candidates[pick % candidates.length]!);
  // Repeats are only interesting in adversarial batches; elsewhere they would mask the rest.
  return op.from === 'any' ? picked : [...new Set(picked)];
}

/** Confirmations of `ids` for their current use (what a prompt worker sends); unknown ids get epoch 0. */
export function currentUse(ledger: BlockLedger, ids: readonly BlockId[]): ScrubConfirmation[] {
  return ids.map((id) => ({ id, epoch: ledger.epochOf(id) ?? 0 }));
}

/** What a grant decided per block (id and scrub flag), without its epoch, for comparing with literals. */
export function grants(blocks: readonly AllocatedBlock[]): Array<{ id: BlockId; scrub: boolean }> {
  return blocks.map(({ id, scrub }) => ({ id, scrub }));
}
