import { describe, expect, test } from 'vitest';
import { isTgError } from '../../src/errors.js';
import { BlockLedger } from '../../src/ledger/index.js';
import { currentUse, grants, newLedger, snapshot, UNKNOWN_ID } from './helpers.js';

/** Narrows a result to its success variant, failing the test with the denial otherwise. */
function expectOk<R extends { ok: boolean }>(result: R): Extract<R, { ok: true }> {
  if (!result.ok) throw new Error(`expected success, got ${JSON.stringify(result)}`);
  return result as Extract<R, { ok: true }>;
}

function expectDenied<R extends { ok: boolean }>(result: R): Extract<R, { ok: false }> {
  if (result.ok) throw new Error(`expected a denial, got ${JSON.stringify(result)}`);
  return result as Extract<R, { ok: false }>;
}

function thrownCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isTgError(error) ? error.code : `not a TgError: ${String(error)}`;
  }
  return undefined;
}

function ids(allocation: { blocks: Array<{ id: number }> }): number[] {
  return allocation.blocks.map((block) => block.id);
}

describe('ownership (I1)', () => {
  test('a block is never handed to two tenants at once (I1)', () => {
    const ledger = newLedger();
    const a = ids(expectOk(ledger.allocate('a', 6)));
    const b = ids(expectOk(ledger.allocate('b', 6)));
    expect(new Set([...a, ...b]).size).toBe(12);
    for (const id of a) expect(ledger.blockState(id)).toMatchObject({ state: 'owned', tenant: 'a' });
    for (const id of b) expect(ledger.blockState(id)).toMatchObject({ state: 'owned', tenant: 'b' });
    expect(ledger.allocate('c', 1)).toEqual({ ok: false, reason: 'pool_exhausted', requested: 1, available: 0 });
    expect(ledger.checkInvariants()).toEqual({ ok: true, violations: [] });
  });

  test('a replayed allocation cannot take a block someone owns (I1)', () => {
    const ledger = newLedger();
    const [taken] = ids(expectOk(ledger.allocate('a', 1)));
    const before = snapshot(ledger);
    expect(ledger.replayAllocate('b', [taken!, 5])).toEqual({
      ok: false,
      reason: 'replay_mismatch',
      blocks: [{ id: taken, reason: 'in_use' }],
    });
    expect(snapshot(ledger)).toEqual(before);
  });
});

describe('scrubbing (I2)', () => {
  test('a block freed by tenant A reaches tenant B only flagged for scrub, and B cannot read it until the scrub is confirmed (I2)', () => {
    const ledger = newLedger();
    const aBlocks = ids(expectOk(ledger.allocate('a', 8)));
    expectOk(ledger.free('a', aBlocks));
    const got = expectOk(ledger.allocate('b', 6));
    const scrubbed = got.blocks.filter((block) => block.scrub).map((block) => block.id);
    const fresh = got.blocks.filter((block) => !block.scrub).map((block) => block.id);
    expect(scrubbed).toHaveLength(2); // 4 clean blocks first, then 2 of A's dirty blocks
    for (const id of scrubbed) expect(aBlocks).toContain(id);
    for (const id of fresh) expect(aBlocks).not.toContain(id);

    const refused = expectDenied(ledger.access('b', scrubbed, 'read'));
    expect(refused.violation).toBe(false);
    expect(refused.blocks).toEqual(scrubbed.map((id) => ({ id, reason: 'scrub_pending' })));
    expect(ledger.access('b', [scrubbed[0]!], 'prefix_hit').ok).toBe(false);
    expect(ledger.usage('b').awaitingScrub).toBe(2);
    expectOk(ledger.access('b', fresh, 'read'));

    expect(expectOk(ledger.confirmScrub(currentUse(ledger, scrubbed))).cleared).toBe(2);
    expectOk(ledger.access('b', scrubbed, 'read'));
    expect(ledger.blockState(scrubbed[0]!)).toMatchObject({ state: 'owned', tenant: 'b', awaitingScrub: false });
    expect(ledger.usage('b').awaitingScrub).toBe(0);
  });

  test('a late scrub confirmation, after the block was freed and reused, is refused and clears nothing (I2, issue 20.3)', () => {
    // One block, three tenants: every hand-over is forced through the same block.
    const ledger = new BlockLedger({ pools: [{ name: 'one', first: 0, last: 0 }] });
    for (const id of ['a', 'b', 'c']) ledger.registerTenant({ id, priority: 1, quotaBlocks: 1, pool: 'one' });
    expectOk(ledger.free('a', ids(expectOk(ledger.allocate('a', 1)))));
    const toB = expectOk(ledger.allocate('b', 1)).blocks[0]!;
    expect(toB.scrub).toBe(true);
    const late = { id: toB.id, epoch: toB.epoch }; // the worker zeroed it; the confirmation is delayed
    // b never saw the confirmation land, wrote, freed: the block holds a mix of a's and b's data.
    expectOk(ledger.free('b', [toB.id]));
    expect(expectDenied(ledger.confirmScrub([late])).blocks).toEqual([{ id: toB.id, reason: 'stale_scrub' }]);
    expect(ledger.blockState(toB.id)).toMatchObject({ state: 'dirty', tenant: null });
    // c gets it flagged for scrub; the stale confirmation cannot clear c's use either.
    const toC = expectOk(ledger.allocate('c', 1)).blocks[0]!;
    expect(toC).toMatchObject({ id: toB.id, scrub: true });
    expect(toC.epoch).not.toBe(late.epoch);
    expect(expectDenied(ledger.confirmScrub([late])).blocks).toEqual([{ id: toB.id, reason: 'stale_scrub' }]);
    expect(ledger.blockState(toB.id)).toMatchObject({ state: 'owned', tenant: 'c', awaitingScrub: true });
    // The confirmation of c's own use works, and repeating it is harmless.
    expectOk(ledger.confirmScrub([{ id: toC.id, epoch: toC.epoch }]));
    expectOk(ledger.confirmScrub([{ id: toC.id, epoch: toC.epoch }]));
    expect(ledger.blockState(toB.id)).toMatchObject({ state: 'owned', tenant: 'c', awaitingScrub: false });
  });

  test('a rolled-back operation restores the epochs it advanced (a stale confirmation stays stale, a current one current)', () => {
    const ledger = newLedger();
    const first = expectOk(ledger.allocate('a', 1));
    ledger.commit(first.opId);
    const id = first.blocks[0]!.id;
    const before = ledger.epochOf(id);
    const freed = expectOk(ledger.free('a', [id]));
    expect(ledger.epochOf(id)).not.toBe(before);
    ledger.rollbackFrom(freed.opId);
    expect(ledger.epochOf(id)).toBe(before);
  });

  test('a tenant gets its own dirty blocks back without a scrub (I2)', () => {
    const ledger = newLedger();
    const first = ids(expectOk(ledger.allocate('a', 3)));
    expectOk(ledger.free('a', first));
    const again = expectOk(ledger.allocate('a', 3));
    expect(ids(again)).toEqual(first);
    expect(again.blocks.every((block) => !block.scrub)).toBe(true);
    expectOk(ledger.access('a', first, 'read'));
  });

  test('a block freed before its scrub was confirmed is contaminated: even its last real owner gets it flagged (I2)', () => {
    const ledger = newLedger();
    expectOk(ledger.allocate('a', 8)); // 0..7
    expectOk(ledger.free('a', [0, 1, 2, 3, 4, 5, 6, 7]));
    const b = expectOk(ledger.allocate('b', 6)); // clean 8..11, then a's dirty 0 and 1 with scrub
    expect(b.blocks.filter((block) => block.scrub).map((block) => block.id)).toEqual([0, 1]);
    expect(expectOk(ledger.free('b', [0, 1], { cache: true })).contaminated).toBe(2);
    expect(ledger.blockState(0)).toEqual({ id: 0, pool: 'shared', state: 'dirty', tenant: null });
    expect(ledger.poolStats('shared').contaminated).toBe(2);

    const a = expectOk(ledger.allocate('a', 8)); // own dirty 2..7, then the contaminated 0 and 1
    expect(a.blocks.filter((block) => block.scrub).map((block) => block.id).sort()).toEqual([0, 1]);
  });
});

describe('quota (I3)', () => {
  test('an allocation over the quota is denied with figures and changes nothing (I3)', () => {
    const ledger = newLedger();
    expectOk(ledger.allocate('a', 5));
    const before = snapshot(ledger);
    expect(ledger.allocate('a', 4)).toEqual({ ok: false, reason: 'quota_exceeded', held: 5, owned: 5, requested: 4, quota: 8 });
    expect(snapshot(ledger)).toEqual(before);
  });

  test('cached blocks count towards the quota: the tenant\'s own oldest cached blocks are reused to make room (I3)', () => {
    const ledger = newLedger();
    expectOk(ledger.allocate('a', 6)); // 0..5
    expectOk(ledger.free('a', [0, 1, 2, 3], { cache: true }));
    expect(ledger.usage('a')).toMatchObject({ owned: 2, cached: 4 });
    const got = expectOk(ledger.allocate('a', 4)); // 2 + 4 + 4 > 8: two cached blocks make room
    expect(ids(got)).toEqual([0, 1, 6, 7]);
    expect(got.reclaimed).toEqual([0, 1]);
    expect(got.evicted).toEqual([]);
    expect(got.blocks.every((block) => !block.scrub)).toBe(true);
    expect(ledger.usage('a')).toMatchObject({ owned: 6, cached: 2, quotaBlocks: 8, peakOwned: 6 });
  });

  test('a quota lowered below owned + cached reclaims the oldest cached blocks; below owned it is refused (I3)', () => {
    const ledger = newLedger();
    expectOk(ledger.allocate('a', 6)); // 0..5
    expectOk(ledger.free('a', [0, 1, 2], { cache: true }));
    expect(ledger.updateTenant('a', { quotaBlocks: 4 }).reclaimed).toEqual([0, 1]);
    expect(ledger.blockState(0)).toMatchObject({ state: 'dirty', tenant: 'a' });
    expect(ledger.usage('a')).toMatchObject({ owned: 3, cached: 1, quotaBlocks: 4 });
    const before = snapshot(ledger);
    expect(thrownCode(() => ledger.updateTenant('a', { quotaBlocks: 2 }))).toBe('TG_ERR_CONFLICT');
    expect(snapshot(ledger)).toEqual(before);
  });
});

describe('only the owner touches a block (I4)', () => {
  test('freeing another tenant\'s block is denied as a violation and changes nothing (I4)', () => {
    const ledger = newLedger();
    const [aBlock] = ids(expectOk(ledger.allocate('a', 1)));
    const [bBlock] = ids(expectOk(ledger.allocate('b', 1)));
    const before = snapshot(ledger);
    expect(ledger.free('b', [bBlock!, aBlock!])).toEqual({
      ok: false,
      reason: 'blocks_denied',
      violation: true,
      blocks: [{ id: aBlock, reason: 'not_owner' }],
    });
    expect(snapshot(ledger)).toEqual(before);
  });

  test('freeing unknown, repeated or unallocated blocks is denied per block (I4)', () => {
    const ledger = newLedger();
    const [mine] = ids(expectOk(ledger.allocate('a', 1)));
    const before = snapshot(ledger);
    const denial = expectDenied(ledger.free('a', [mine!, UNKNOWN_ID, mine!, 11]));
    expect(denial.violation).toBe(true);
    expect(denial.blocks).toEqual([
      { id: UNKNOWN_ID, reason: 'unknown_block' },
      { id: mine, reason: 'duplicate' },
      { id: 11, reason: 'not_allocated' },
    ]);
    expect(snapshot(ledger)).toEqual(before);
  });

  test('reading another tenant\'s or nobody\'s block is denied as a violation (I4)', () => {
    const ledger = newLedger();
    const [aBlock] = ids(expectOk(ledger.allocate('a', 1)));
    expect(ledger.access('b', [aBlock!], 'read')).toEqual({
      ok: false,
      reason: 'blocks_denied',
      violation: true,
      blocks: [{ id: aBlock, reason: 'not_owner' }],
    });
    expect(expectDenied(ledger.access('b', [11], 'read')).blocks).toEqual([{ id: 11, reason: 'not_allocated' }]);
    expectOk(ledger.free('a', [aBlock!], { cache: true }));
    // A cached block is not in use: even its tenant must prefix-hit it before reading.
    expect(expectDenied(ledger.access('a', [aBlock!], 'read')).blocks).toEqual([{ id: aBlock, reason: 'not_allocated' }]);
  });

  test('a batch with one bad id changes nothing, whatever the operation (atomicity)', () => {
    const ledger = newLedger();
    expectOk(ledger.allocate('a', 4)); // 0..3
    expectOk(ledger.free('a', [0, 1], { cache: true }));
    expectOk(ledger.free('a', [2]));
    const before = snapshot(ledger);
    expect(ledger.free('a', [3, UNKNOWN_ID]).ok).toBe(false);
    expect(ledger.access('a', [0, 1, 5], 'prefix_hit').ok).toBe(false);
    expect(ledger.confirmScrub(currentUse(ledger, [2, UNKNOWN_ID])).ok).toBe(false);
    expect(ledger.replayAllocate('a', [4, UNKNOWN_ID]).ok).toBe(false);
    expect(ledger.allocate('a', 9).ok).toBe(false);
    expect(snapshot(ledger)).toEqual(before);
  });
});

describe('dedicated pools (I5)', () => {
  test('a dedicated pool never serves another tenant, even when the shared pool is exhausted (I5)', () => {
    const ledger = newLedger();
    expectOk(ledger.allocate('a', 8));
    expectOk(ledger.allocate('b', 4));
    expect(ledger.allocate('c', 1)).toMatchObject({ ok: false, reason: 'pool_exhausted' });
    expect(ledger.poolStats('ent')).toMatchObject({ clean: 6, owned: 0, dedicatedTo: 'e' });

    const e = ids(expectOk(ledger.allocate('e', 6)));
    expect(e).toEqual([100, 101, 102, 103, 104, 105]);
    expectOk(ledger.free('e', e, { cache: true }));
    // Even cached (evictable) blocks of the dedicated pool stay out of everyone else's reach.
    expect(ledger.allocate('c', 1)).toMatchObject({ ok: false, reason: 'pool_exhausted' });
    expect(ledger.checkInvariants().ok).toBe(true);
  });

  test('no other tenant can be put on a dedicated pool, and its tenant cannot leave it (I5)', () => {
    const ledger = newLedger();
    expect(thrownCode(() => ledger.registerTenant({ id: 'x', priority: 3, quotaBlocks: 1, pool: 'ent' }))).toBe('TG_ERR_CONFLICT');
    expect(thrownCode(() => ledger.updateTenant('a', { pool: 'ent' }))).toBe('TG_ERR_CONFLICT');
    expect(thrownCode(() => ledger.updateTenant('e', { pool: 'shared' }))).toBe('TG_ERR_CONFLICT');
    const fresh = new BlockLedger({ pools: [{ name: 'shared', first: 0, last: 3 }, { name: 'ent', first: 10, last: 11, dedicatedTo: 'e' }] });
    expect(thrownCode(() => fresh.registerTenant({ id: 'e', priority: 1, quotaBlocks: 1, pool: 'shared' }))).toBe('TG_ERR_CONFLICT');
  });
});

describe('prefix cache (I6)', () => {
  test('a prefix hit on another tenant\'s cached block is a violation; the owner\'s hit makes it owned again (I6)', () => {
    const ledger = newLedger();
    const cached = ids(expectOk(ledger.allocate('a', 2)));
    expectOk(ledger.free('a', cached, { cache: true }));
    const before = snapshot(ledger);
    expect(ledger.access('b', cached, 'prefix_hit')).toEqual({
      ok: false,
      reason: 'blocks_denied',
      violation: true,
      blocks: cached.map((id) => ({ id, reason: 'not_owner' })),
    });
    expect(snapshot(ledger)).toEqual(before);
    expect(expectOk(ledger.access('a', cached, 'prefix_hit')).hits).toBe(2);
    for (const id of cached) expect(ledger.blockState(id)).toMatchObject({ state: 'owned', tenant: 'a', awaitingScrub: false });
    expect(ledger.usage('a')).toMatchObject({ owned: 2, cached: 0 });
  });

  test('a prefix hit on a dirty block is a violation, not a hit (I6)', () => {
    const ledger = newLedger();
    const [block] = ids(expectOk(ledger.allocate('a', 1)));
    expectOk(ledger.free('a', [block!]));
    expect(ledger.access('b', [block!], 'prefix_hit')).toMatchObject({ ok: false, violation: true });
  });
});

describe('allocation order and eviction', () => {
  test('sources are used in order: own dirty, clean, own cached, other tenants\' dirty (I2, I5)', () => {
    const ledger = newLedger();
    ledger.updateTenant('a', { quotaBlocks: 12 });
    expectOk(ledger.allocate('a', 8)); // 0..7
    expectOk(ledger.free('a', [0, 1])); // a's dirty
    expectOk(ledger.free('a', [2, 3], { cache: true })); // a's cached
    expectOk(ledger.allocate('b', 2)); // 8, 9
    expectOk(ledger.free('b', [8])); // b's dirty
    expect(grants(expectOk(ledger.allocate('a', 1)).blocks)).toEqual([{ id: 0, scrub: false }]);
    expect(grants(expectOk(ledger.allocate('a', 2)).blocks)).toEqual([{ id: 1, scrub: false }, { id: 10, scrub: false }]);
    expect(grants(expectOk(ledger.allocate('a', 2)).blocks)).toEqual([{ id: 11, scrub: false }, { id: 2, scrub: false }]);
    expect(grants(expectOk(ledger.allocate('a', 2)).blocks)).toEqual([{ id: 3, scrub: false }, { id: 8, scrub: true }]);
    expect(ledger.allocate('a', 1)).toEqual({ ok: false, reason: 'pool_exhausted', requested: 1, available: 0 });
  });

  test('contaminated blocks are used before other tenants\' dirty blocks (I2)', () => {
    const ledger = newLedger();
    ledger.updateTenant('a', { quotaBlocks: 12 });
    expectOk(ledger.allocate('a', 4)); // 0..3
    expectOk(ledger.allocate('b', 4)); // 4..7
    expectOk(ledger.allocate('c', 2)); // 8, 9
    expectOk(ledger.free('b', [4])); // b's dirty
    expect(ledger.removeTenant('c').contaminated).toBe(2); // 8, 9 contaminated
    expect(grants(expectOk(ledger.allocate('a', 4)).blocks)).toEqual([
      { id: 10, scrub: false },
      { id: 11, scrub: false },
      { id: 8, scrub: true },
      { id: 9, scrub: true },
    ]);
    expect(grants(expectOk(ledger.allocate('a', 1)).blocks)).toEqual([{ id: 4, scrub: true }]);
  });

  test('eviction takes other tenants\' cached blocks, least important first, and never owned blocks', () => {
    const ledger = newLedger();
    expectOk(ledger.allocate('a', 4)); // 0..3, priority 2
    expectOk(ledger.free('a', [0, 1, 2, 3], { cache: true }));
    expectOk(ledger.allocate('b', 4)); // 4..7, priority 4
    expectOk(ledger.free('b', [4, 5, 6, 7], { cache: true }));
    expectOk(ledger.allocate('c', 4)); // 8..11, priority 5, kept owned

    const c = expectOk(ledger.allocate('c', 2));
    expect(grants(c.blocks)).toEqual([{ id: 4, scrub: true }, { id: 5, scrub: true }]); // b (4) before a (2)
    expect(c.evicted).toEqual([4, 5]);
    expect(ledger.usage('b')).toMatchObject({ cached: 2 });

    // a needs 8: its own 4 cached + b's last 2 cached = 6; c's owned blocks are off limits.
    expect(ledger.allocate('a', 8)).toEqual({ ok: false, reason: 'pool_exhausted', requested: 8, available: 6 });
    const a = expectOk(ledger.allocate('a', 6));
    expect(a.reclaimed).toEqual([0, 1, 2, 3]);
    expect(a.evicted).toEqual([6, 7]);
    for (const id of [8, 9, 10, 11, 4, 5]) expect(ledger.blockState(id)).toMatchObject({ state: 'owned', tenant: 'c' });
    expect(ledger.checkInvariants().ok).toBe(true);
  });

  test('within one priority level the least recently cached block is evicted first, across tenants', () => {
    const ledger = newLedger();
    ledger.updateTenant('c', { priority: 4 }); // same level as b
    ledger.updateTenant('a', { quotaBlocks: 9 });
    expectOk(ledger.allocate('b', 4)); // 0..3
    expectOk(ledger.allocate('c', 2)); // 4, 5
    expectOk(ledger.free('b', [0, 1], { cache: true }));
    expectOk(ledger.free('c', [4, 5], { cache: true }));
    expectOk(ledger.free('b', [2, 3], { cache: true }));
    const a = expectOk(ledger.allocate('a', 9)); // 6 clean (6..11), then 3 evictions
    expect(a.evicted).toEqual([0, 1, 4]);
  });

  test('a priority change moves the tenant\'s cached blocks to the new level', () => {
    const ledger = newLedger();
    ledger.updateTenant('a', { quotaBlocks: 10 });
    expectOk(ledger.allocate('b', 2)); // 0, 1 (priority 4)
    expectOk(ledger.allocate('c', 2)); // 2, 3 (priority 5)
    expectOk(ledger.free('b', [0, 1], { cache: true }));
    expectOk(ledger.free('c', [2, 3], { cache: true }));
    ledger.updateTenant('b', { priority: 5 }); // b's blocks become the newest of level 5
    ledger.updateTenant('c', { priority: 1 });
    const a = expectOk(ledger.allocate('a', 10)); // 8 clean, then 2 evictions
    expect(a.evicted).toEqual([0, 1]);
  });
});

describe('scrub confirmation, tenants, queries', () => {
  test('confirmScrub cleans dirty, contaminated and cached blocks and clears pending flags', () => {
    const ledger = newLedger();
    expectOk(ledger.allocate('a', 8)); // 0..7
    expectOk(ledger.free('a', [0, 1, 2, 3, 4, 5, 6, 7]));
    expectOk(ledger.allocate('b', 6)); // 8..11 clean, 0 and 1 awaiting scrub
    expectOk(ledger.free('b', [1])); // contaminated
    expectOk(ledger.allocate('a', 2)); // own dirty 2, 3
    expectOk(ledger.free('a', [3], { cache: true })); // cached
    // 0: owned b awaiting · 1: contaminated · 2: owned a · 3: cached a · 4: dirty a · 8: owned b
    const done = expectOk(ledger.confirmScrub(currentUse(ledger, [0, 1, 2, 3, 4, 8, 4])));
    expect(done).toMatchObject({ cleaned: 3, cleared: 1 });
    expect(ledger.blockState(0)).toMatchObject({ state: 'owned', tenant: 'b', awaitingScrub: false });
    for (const id of [1, 3, 4]) expect(ledger.blockState(id)).toMatchObject({ state: 'clean' });
    expect(ledger.blockState(2)).toMatchObject({ state: 'owned', tenant: 'a' });
    expect(ledger.usage('a')).toMatchObject({ owned: 1, cached: 0 });
    expect(ledger.confirmScrub(currentUse(ledger, [UNKNOWN_ID]))).toEqual({
      ok: false,
      reason: 'blocks_denied',
      violation: false,
      blocks: [{ id: UNKNOWN_ID, reason: 'unknown_block' }],
    });
  });

  test('removing a tenant contaminates its blocks: a tenant re-registered under the same id gets them only with a scrub (I2)', () => {
    const ledger = newLedger();
    expectOk(ledger.allocate('a', 4)); // 0..3
    expectOk(ledger.free('a', [0]));
    expectOk(ledger.free('a', [1], { cache: true }));
    expect(ledger.removeTenant('a').contaminated).toBe(4);
    for (const id of [0, 1, 2, 3]) expect(ledger.blockState(id)).toMatchObject({ state: 'dirty', tenant: null });
    expect(thrownCode(() => ledger.usage('a'))).toBe('TG_ERR_UNKNOWN_TENANT');
    expect(ledger.tenant('a')).toBeUndefined();

    ledger.registerTenant({ id: 'a', priority: 2, quotaBlocks: 8, pool: 'shared' });
    expectOk(ledger.allocate('b', 6));
    expectOk(ledger.allocate('c', 2)); // no clean block left
    const again = expectOk(ledger.allocate('a', 4));
    expect(again.blocks.map((block) => block.id).sort()).toEqual([0, 1, 2, 3]);
    expect(again.blocks.every((block) => block.scrub)).toBe(true);
    expect(ledger.checkInvariants().ok).toBe(true);
  });

  test('moving a tenant to another pool turns its cached blocks dirty; later allocations come from the new pool', () => {
    const ledger = newLedger();
    expectOk(ledger.allocate('a', 4)); // 0..3
    expectOk(ledger.free('a', [0], { cache: true }));
    expect(ledger.updateTenant('a', { pool: 'spare' }).reclaimed).toEqual([0]);
    expect(ids(expectOk(ledger.allocate('a', 2)))).toEqual([200, 201]);
    expectOk(ledger.free('a', [1], { cache: true })); // outside its pool now: dirty, not cached
    expect(ledger.blockState(1)).toMatchObject({ state: 'dirty', tenant: 'a' });
    expect(ledger.checkInvariants().ok).toBe(true);
  });

  test('usage and pool statistics follow the blocks', () => {
    const ledger = newLedger();
    expectOk(ledger.allocate('a', 5));
    expectOk(ledger.free('a', [0, 1], { cache: true }));
    expectOk(ledger.free('a', [2]));
    expect(ledger.usage('a')).toEqual({ owned: 2, cached: 2, awaitingScrub: 0, quotaBlocks: 8, peakOwned: 5 });
    expect(ledger.poolStats('shared')).toEqual({
      name: 'shared',
      total: 12,
      clean: 7,
      owned: 2,
      cached: 2,
      dirty: 1,
      contaminated: 0,
      awaitingScrub: 0,
      dedicatedTo: null,
    });
    expect(ledger.blockState(UNKNOWN_ID)).toBeUndefined();
  });

  test('malformed input throws catalogue errors', () => {
    const ledger = newLedger();
    expect(thrownCode(() => ledger.allocate('a', -1))).toBe('TG_ERR_BAD_REQUEST');
    expect(thrownCode(() => ledger.allocate('a', 1.5))).toBe('TG_ERR_BAD_REQUEST');
    expect(thrownCode(() => ledger.allocate('nobody', 1))).toBe('TG_ERR_UNKNOWN_TENANT');
    expect(thrownCode(() => ledger.registerTenant({ id: 'a', priority: 2, quotaBlocks: 1, pool: 'shared' }))).toBe('TG_ERR_CONFLICT');
    expect(thrownCode(() => ledger.registerTenant({ id: 'z', priority: 6, quotaBlocks: 1, pool: 'shared' }))).toBe('TG_ERR_BAD_REQUEST');
    expect(thrownCode(() => ledger.registerTenant({ id: 'z', priority: 1, quotaBlocks: 1, pool: 'nope' }))).toBe('TG_ERR_BAD_REQUEST');
    expect(thrownCode(() => ledger.poolStats('nope'))).toBe('TG_ERR_NOT_FOUND');
    expect(thrownCode(() => new BlockLedger({ pools: [{ name: 'x', first: 0, last: 9 }, { name: 'y', first: 9, last: 12 }] }))).toBe(
      'TG_ERR_CONFIG_INVALID',
    );
    expect(thrownCode(() => new BlockLedger({ pools: [] }))).toBe('TG_ERR_CONFIG_INVALID');
  });

  test('pools may start anywhere and be listed in any order', () => {
    const ledger = new BlockLedger({
      pools: [
        { name: 'high', first: 1_000_000, last: 1_000_003 },
        { name: 'low', first: 7, last: 8 },
      ],
    });
    ledger.registerTenant({ id: 't', priority: 3, quotaBlocks: 10, pool: 'high' });
    expect(ids(expectOk(ledger.allocate('t', 4)))).toEqual([1_000_000, 1_000_001, 1_000_002, 1_000_003]);
    expect(ledger.blockState(6)).toBeUndefined();
    expect(ledger.blockState(9)).toBeUndefined();
    expect(ledger.blockState(8)).toEqual({ id: 8, pool: 'low', state: 'clean' });
    expect(ledger.size).toBe(6);
  });
});
