import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { isTgError } from '../../src/errors.js';
import type { BlockId, BlockLedger, LedgerTenant, OpId, TenantPatch } from '../../src/ledger/index.js';
import { currentUse, type Op, TENANTS, newLedger, opsArb, resolvePicks, snapshot, tenantSpec } from './helpers.js';

/** One concrete ledger call, as the lead would record it in the audit log. */
type Call =
  | { kind: 'allocate'; tenant: string; n: number }
  | { kind: 'replayAllocate'; tenant: string; ids: BlockId[] }
  | { kind: 'free'; tenant: string; ids: BlockId[]; cache: boolean }
  | { kind: 'confirmScrub'; ids: BlockId[] }
  | { kind: 'access'; tenant: string; ids: BlockId[]; mode: 'read' | 'prefix_hit' }
  | { kind: 'updateTenant'; tenant: string; patch: TenantPatch }
  | { kind: 'removeTenant'; tenant: string }
  | { kind: 'registerTenant'; spec: LedgerTenant };

interface Performed {
  /** The result without its opId, or the error code thrown. */
  outcome: unknown;
  /** Set when the call succeeded (and so would be audited and replayed). */
  opId: OpId | undefined;
  /** What to replay: allocate becomes replayAllocate of the ids it returned. */
  replay: Call;
}

function perform(ledger: BlockLedger, call: Call): Performed {
  let result: object;
  try {
    result = invoke(ledger, call);
  } catch (error) {
    return { outcome: { threw: isTgError(error) ? error.code : String(error) }, opId: undefined, replay: call };
  }
  const { opId, ...outcome } = result as { opId?: OpId; ok?: boolean };
  const succeeded = outcome.ok !== false && opId !== undefined;
  let replay = call;
  if (call.kind === 'allocate' && succeeded) {
    const blocks = (result as { blocks: Array<{ id: BlockId }> }).blocks;
    replay = { kind: 'replayAllocate', tenant: call.tenant, ids: blocks.map((block) => block.id) };
  }
  return { outcome, opId: succeeded ? opId : undefined, replay };
}

function invoke(ledger: BlockLedger, call: Call): object {
  switch (call.kind) {
    case 'allocate':
      return ledger.allocate(call.tenant, call.n);
    case 'replayAllocate':
      return ledger.replayAllocate(call.tenant, call.ids);
    case 'free':
      return ledger.free(call.tenant, call.ids, { cache: call.cache });
    case 'confirmScrub':
      return ledger.confirmScrub(currentUse(ledger, call.ids));
    case 'access':
      return ledger.access(call.tenant, call.ids, call.mode);
    case 'updateTenant':
      return ledger.updateTenant(call.tenant, call.patch);
    case 'removeTenant':
      return ledger.removeTenant(call.tenant);
    case 'registerTenant':
      return ledger.registerTenant(call.spec);
  }
}

function toCall(ledger: BlockLedger, op: Op): Call | undefined {
  const ids = resolvePicks(ledger, op);
  switch (op.kind) {
    case 'allocate':
      return { kind: 'allocate', tenant: tenantSpec(op.t).id, n: op.n };
    case 'free':
      return { kind: 'free', tenant: tenantSpec(op.t).id, ids, cache: op.cache };
    case 'scrub':
      return { kind: 'confirmScrub', ids };
    case 'access':
      return { kind: 'access', tenant: tenantSpec(op.t).id, ids, mode: op.mode };
    case 'update': {
      const patch: TenantPatch = {};
      if (op.priority !== undefined) patch.priority = op.priority;
      if (op.quota !== undefined) patch.quotaBlocks = op.quota;
      if (op.pool !== undefined) patch.pool = op.pool;
      return { kind: 'updateTenant', tenant: tenantSpec(op.t).id, patch };
    }
    case 'remove':
      return { kind: 'removeTenant', tenant: tenantSpec(op.t).id };
    case 'register':
      return { kind: 'registerTenant', spec: tenantSpec(op.t) };
    default:
      return undefined;
  }
}

/**
 * A fixed burst of calls run on two ledgers that should be indistinguishable: equal outcomes
 * prove equal *internal* order too (which blocks come next, which cached block is evicted next).
 */
function probe(ledger: BlockLedger): unknown[] {
  const outcomes: unknown[] = [];
  for (const tenant of TENANTS) {
    if (ledger.tenant(tenant.id) === undefined) continue;
    for (const n of [1, 2, 3]) outcomes.push(perform(ledger, { kind: 'allocate', tenant: tenant.id, n }).outcome);
    outcomes.push(perform(ledger, { kind: 'updateTenant', tenant: tenant.id, patch: { quotaBlocks: 0 } }).outcome);
  }
  outcomes.push(snapshot(ledger));
  return outcomes;
}

describe('rollback (failed durable write)', () => {
  test('rollbackFrom restores exact block states, counters, tenants and list order', () => {
    const live = newLedger();
    const reference = newLedger();
    for (const ledger of [live, reference]) {
      ledger.allocate('a', 6);
      ledger.free('a', [0, 1], { cache: true });
      ledger.free('a', [2]);
      ledger.allocate('b', 4);
      ledger.free('b', [6, 7], { cache: true });
    }
    const mark = live.allocate('c', 6); // clean 10, 11, then contaminated/dirty/evictions
    expect(mark.ok).toBe(true);
    if (!mark.ok) return;
    live.confirmScrub(mark.blocks);
    live.access('a', [3], 'read');
    live.access('a', [1], 'prefix_hit');
    live.free('c', mark.blocks.slice(0, 3).map((block) => block.id), { cache: true });
    live.updateTenant('b', { priority: 1, quotaBlocks: 3 });
    live.updateTenant('a', { pool: 'spare' });
    live.removeTenant('e');
    live.registerTenant({ id: 'x', priority: 5, quotaBlocks: 2, pool: 'shared' });
    live.removeTenant('c');
    live.registerTenant({ id: 'c', priority: 3, quotaBlocks: 4, pool: 'spare' });
    live.allocate('c', 4);
    expect(snapshot(live)).not.toEqual(snapshot(reference));

    expect(live.rollbackFrom(mark.opId).reverted).toHaveLength(12);
    expect(snapshot(live)).toEqual(snapshot(reference));
    expect(live.tenant('x')).toBeUndefined();
    expect(live.checkInvariants()).toEqual({ ok: true, violations: [] });
    expect(live.uncommittedCount).toBe(9); // 4 registrations + 5 setup operations
    expect(probe(live)).toEqual(probe(reference));
  });

  test('rolling back an operation also reverts every later one, newest first', () => {
    const ledger = newLedger();
    const first = ledger.allocate('a', 1);
    const second = ledger.allocate('b', 1);
    const third = ledger.allocate('c', 1);
    if (!first.ok || !second.ok || !third.ok) throw new Error('setup failed');
    expect(ledger.rollbackFrom(second.opId)).toEqual({ reverted: [third.opId, second.opId] });
    expect(ledger.usage('a').owned).toBe(1);
    expect(ledger.usage('b').owned).toBe(0);
    expect(ledger.usage('c').owned).toBe(0);
  });

  test('commit is prefix-closed: a committed operation and everything before it can no longer be rolled back', () => {
    const ledger = newLedger();
    const first = ledger.allocate('a', 1);
    const second = ledger.allocate('b', 1);
    const third = ledger.allocate('c', 1);
    if (!first.ok || !second.ok || !third.ok) throw new Error('setup failed');
    ledger.commit(second.opId);
    expect(ledger.uncommittedCount).toBe(1);
    for (const opId of [first.opId, second.opId]) {
      expect(() => ledger.rollbackFrom(opId)).toThrow(expect.objectContaining({ code: 'TG_ERR_CONFLICT' }));
    }
    expect(() => ledger.rollbackFrom(9_999)).toThrow(expect.objectContaining({ code: 'TG_ERR_NOT_FOUND' }));
    expect(() => ledger.commit(9_999)).toThrow(expect.objectContaining({ code: 'TG_ERR_NOT_FOUND' }));
    ledger.commit(first.opId); // already committed: nothing to do
    expect(ledger.rollbackFrom(third.opId).reverted).toEqual([third.opId]);
    expect(() => ledger.rollbackFrom(third.opId)).toThrow(expect.objectContaining({ code: 'TG_ERR_CONFLICT' }));
    expect(ledger.uncommittedCount).toBe(0);
    expect(ledger.usage('b').owned).toBe(1);
  });

  test('denials create no operation to commit or roll back (atomicity)', () => {
    const ledger = newLedger();
    const before = ledger.uncommittedCount; // the four registrations
    expect(ledger.allocate('a', 99).ok).toBe(false);
    expect(ledger.free('a', [0]).ok).toBe(false);
    expect(ledger.access('a', [0], 'read').ok).toBe(false);
    expect(() => ledger.registerTenant(tenantSpec(0))).toThrow();
    expect(ledger.uncommittedCount).toBe(before);
  });

  test('a long stream of committed operations keeps the undo journal bounded', () => {
    const ledger = newLedger();
    let previous: OpId | undefined;
    for (let round = 0; round < 3_000; round++) {
      const got = ledger.allocate('a', 8);
      if (!got.ok) throw new Error('allocation failed');
      const freed = ledger.free('a', got.blocks.map((block) => block.id), { cache: round % 2 === 0 });
      if (!freed.ok) throw new Error('free failed');
      // One operation always in flight, as with a group-committing audit log.
      if (previous !== undefined) ledger.commit(previous);
      previous = freed.opId;
    }
    expect(ledger.uncommittedCount).toBeLessThanOrEqual(2);
    expect(ledger.checkInvariants().ok).toBe(true);
  });
});

describe('replay (crash recovery)', () => {
  test('replaying the successful operations of a random run, with rollbacks, rebuilds an identical ledger', () => {
    fc.assert(
      fc.property(opsArb(true), (ops) => {
        const live = newLedger();
        const log: Array<{ opId: OpId; call: Call; replay: Call; outcome: unknown }> = [];
        let committed = 0; // log entries before this index are committed
        for (const op of ops) {
          if (op.kind === 'commit') {
            const last = log[log.length - 1];
            if (last !== undefined) live.commit(last.opId);
            committed = log.length;
            continue;
          }
          if (op.kind === 'rollback') {
            const uncommitted = log.length - committed;
            if (uncommitted === 0) continue;
            const from = log.length - 1 - (op.back % uncommitted);
            live.rollbackFrom(log[from]!.opId);
            log.length = from; // the failed audit write never made it into the log
            continue;
          }
          const call = toCall(live, op);
          if (call === undefined) continue;
          const done = perform(live, call);
          if (done.opId !== undefined) log.push({ opId: done.opId, call, replay: done.replay, outcome: done.outcome });
        }
        expect(live.checkInvariants().violations).toEqual([]);

        // Crash recovery: replay the log, allocations by their recorded ids.
        const replayed = newLedger();
        for (const entry of log) expect(perform(replayed, entry.replay).opId).toBeDefined();
        // And a ledger that simply ran the surviving calls: rollback must leave no trace.
        const reference = newLedger();
        for (const entry of log) expect(perform(reference, entry.call).outcome).toEqual(entry.outcome);

        expect(snapshot(replayed)).toEqual(snapshot(live));
        expect(snapshot(reference)).toEqual(snapshot(live));
        const expected = probe(live);
        expect(probe(replayed)).toEqual(expected);
        expect(probe(reference)).toEqual(expected);
      }),
      { numRuns: 150 },
    );
  });

  test('replayAllocate assigns exactly the recorded ids with the scrub flags allocate gave', () => {
    const live = newLedger();
    const replayed = newLedger();
    const calls: Call[] = [
      { kind: 'allocate', tenant: 'a', n: 8 },
      { kind: 'free', tenant: 'a', ids: [0, 1, 2, 3, 4, 5, 6, 7], cache: false },
      { kind: 'allocate', tenant: 'b', n: 6 },
    ];
    for (const call of calls) {
      const done = perform(live, call);
      const again = perform(replayed, done.replay);
      expect(again.outcome).toEqual(done.outcome);
    }
    expect(snapshot(replayed)).toEqual(snapshot(live));
  });

  test('replayAllocate refuses ids outside the tenant\'s pool or already owned (log and ledger diverged)', () => {
    const ledger = newLedger();
    ledger.allocate('a', 1); // block 0
    const before = snapshot(ledger);
    expect(ledger.replayAllocate('b', [0, 100, 200, 1, 1])).toEqual({
      ok: false,
      reason: 'replay_mismatch',
      blocks: [
        { id: 0, reason: 'in_use' },
        { id: 100, reason: 'wrong_pool' },
        { id: 200, reason: 'wrong_pool' },
        { id: 1, reason: 'duplicate' },
      ],
    });
    expect(ledger.replayAllocate('b', [1, 2, 3, 4, 5, 6, 7])).toMatchObject({ ok: false, reason: 'quota_exceeded' });
    expect(snapshot(ledger)).toEqual(before);
  });
});
