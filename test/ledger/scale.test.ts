import { expect, test } from 'vitest';
import { BlockLedger } from '../../src/ledger/index.js';
import { currentUse } from './helpers.js';

test('a 1,000,000-block ledger constructs, allocates, evicts, frees, scrubs and rolls back (cost is per block touched)', () => {
  const ledger = new BlockLedger({
    pools: [
      { name: 'shared', first: 0, last: 899_999 },
      { name: 'dedicated', first: 900_000, last: 999_999, dedicatedTo: 'enterprise' },
    ],
  });
  expect(ledger.size).toBe(1_000_000);
  ledger.registerTenant({ id: 'free-tier', priority: 5, quotaBlocks: 1_000_000, pool: 'shared' });
  ledger.registerTenant({ id: 'standard', priority: 3, quotaBlocks: 600_000, pool: 'shared' });
  ledger.registerTenant({ id: 'enterprise', priority: 1, quotaBlocks: 100_000, pool: 'dedicated' });

  const first = ledger.allocate('free-tier', 600_000);
  if (!first.ok) throw new Error('allocation failed');
  ledger.commit(first.opId);
  const cached = ledger.free('free-tier', first.blocks.map((block) => block.id), { cache: true });
  if (!cached.ok) throw new Error('free failed');
  ledger.commit(cached.opId);

  // 300,000 clean blocks, then 200,000 evicted from the free tier's cache (with scrub).
  const second = ledger.allocate('standard', 500_000);
  if (!second.ok) throw new Error('allocation failed');
  expect(second.evicted).toHaveLength(200_000);
  expect(second.blocks.filter((block) => block.scrub)).toHaveLength(200_000);
  expect(ledger.usage('free-tier')).toMatchObject({ owned: 0, cached: 400_000 });

  // A failed audit write: roll the half-million-block allocation back, exactly.
  ledger.rollbackFrom(second.opId);
  expect(ledger.usage('free-tier')).toMatchObject({ cached: 600_000 });
  expect(ledger.poolStats('shared')).toMatchObject({ clean: 300_000, cached: 600_000, owned: 0 });
  const again = ledger.allocate('standard', 500_000);
  if (!again.ok) throw new Error('allocation failed');
  expect(again.blocks.map((block) => block.id)).toEqual(second.blocks.map((block) => block.id));
  ledger.commit(again.opId);

  const scrub = ledger.confirmScrub(currentUse(ledger, again.evicted));
  if (!scrub.ok) throw new Error('scrub failed');
  expect(scrub.cleared).toBe(200_000);
  ledger.commit(ledger.removeTenant('free-tier').opId);
  expect(ledger.poolStats('shared')).toMatchObject({ owned: 500_000, contaminated: 400_000, cached: 0 });

  const enterprise = ledger.allocate('enterprise', 100_000);
  if (!enterprise.ok) throw new Error('allocation failed');
  expect(enterprise.blocks.every((block) => block.id >= 900_000 && !block.scrub)).toBe(true);
  ledger.commit(enterprise.opId);

  // A single-block operation on the full ledger touches one block.
  const freed = ledger.free('standard', [again.blocks[0]!.id]);
  expect(freed.ok).toBe(true);
  expect(ledger.checkInvariants()).toEqual({ ok: true, violations: [] });
});
