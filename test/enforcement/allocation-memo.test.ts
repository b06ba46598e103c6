import { describe, expect, test } from 'vitest';
import { AllocationMemo } from '../../src/enforcement/index.js';
import { BlockLedger, type Allocation } from '../../src/ledger/index.js';

/** The memo behind idempotent allocations (issue 17.5), against a real ledger. */
const ledgerOf = (blocks: number): BlockLedger => {
  const ledger = new BlockLedger({ pools: [{ name: 'p', first: 0, last: blocks - 1 }] });
  for (const id of ['a', 'b']) ledger.commit(ledger.registerTenant({ id, priority: 3, quotaBlocks: blocks, pool: 'p' }).opId);
  return ledger;
};
const allocate = (ledger: BlockLedger, tenant: string, count: number): Allocation => {
  const result = ledger.allocate(tenant, count);
  if (!result.ok) throw new Error(result.reason);
  ledger.commit(result.opId);
  return result;
};
const remember = (memo: AllocationMemo, key: string, tenant: string, a: Allocation): void =>
  memo.remember(key, { tenant, count: a.blocks.length, blocks: a.blocks, reclaimed: a.reclaimed });

describe('AllocationMemo: what a retry is answered with, and how much it keeps (issue 17.5)', () => {
  test('an allocation is remembered while its blocks are owned in that use: a committed free ends it, a rolled-back free does not', () => {
    const ledger = ledgerOf(8);
    const memo = new AllocationMemo();
    const a = allocate(ledger, 'a', 3);
    remember(memo, 'k', 'a', a);
    expect(memo.lookup('k', ledger)?.blocks).toEqual(a.blocks);
    const undone = ledger.free('a', [a.blocks[0]!.id]);
    if (!undone.ok) throw new Error('free refused');
    ledger.rollbackFrom(undone.opId); // its audit record failed: the free never happened
    expect(memo.lookup('k', ledger)?.blocks).toEqual(a.blocks);
    const freed = ledger.free('a', [a.blocks[0]!.id]);
    if (!freed.ok) throw new Error('free refused');
    ledger.commit(freed.opId);
    expect(memo.lookup('k', ledger)).toBeUndefined();
  });

  test('a block freed and handed out again to the same tenant is another use: the old allocation is forgotten', () => {
    const ledger = ledgerOf(4);
    const memo = new AllocationMemo();
    const a = allocate(ledger, 'a', 4);
    remember(memo, 'old', 'a', a);
    ledger.commit((ledger.free('a', a.blocks.map((b) => b.id)) as { opId: number }).opId);
    const again = allocate(ledger, 'a', 4); // the same 4 blocks: the tenant's own dirty ones
    expect(again.blocks.map((b) => b.id).sort()).toEqual(a.blocks.map((b) => b.id).sort());
    expect(memo.lookup('old', ledger)).toBeUndefined();
    remember(memo, 'new', 'a', again);
    expect(memo.lookup('new', ledger)?.blocks).toEqual(again.blocks);
    expect(memo.lookup('old', ledger)).toBeUndefined();
  });

  test('memory is bounded by the ledger, not by traffic: 20,000 allocations with distinct ids on a 64-block pool keep at most 64 entries, and every held one is still answered', () => {
    const ledger = ledgerOf(64);
    const memo = new AllocationMemo();
    const held: Array<{ key: string; tenant: string; ids: number[] }> = [];
    let seed = 7;
    const random = (n: number): number => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
    let peak = 0;
    for (let i = 0; i < 20_000; i++) {
      const tenant = random(2) === 0 ? 'a' : 'b';
      const count = 1 + random(4);
      const result = ledger.allocate(tenant, count);
      if (result.ok) {
        ledger.commit(result.opId);
        remember(memo, `r${i}`, tenant, result);
        held.push({ key: `r${i}`, tenant, ids: result.blocks.map((b) => b.id) });
      }
      if (!result.ok || random(3) === 0) {
        const victim = held.splice(random(Math.max(1, held.length)), 1)[0];
        if (victim) ledger.commit((ledger.free(victim.tenant, victim.ids) as { opId: number }).opId);
      }
      peak = Math.max(peak, memo.size);
    }
    expect(peak).toBeLessThanOrEqual(64);
    // Every allocation still held is still answered with its own blocks.
    expect(held.length).toBeGreaterThan(0);
    for (const h of held) expect(memo.lookup(h.key, ledger)?.blocks.map((b) => b.id)).toEqual(h.ids);
  });
});
