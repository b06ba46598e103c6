/**
 * Claim mode: the engine chooses the blocks (vLLM, SGLang), the ledger judges each choice with the
 * same state machine as allocator mode (I1–I6), and replays it exactly.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { BlockLedger, ClaimResult } from '../../src/ledger/index.js';
import { currentUse, grants, newLedger, snapshot } from './helpers.js';

function ok<R extends { ok: boolean }>(result: R): Extract<R, { ok: true }> {
  if (!result.ok) throw new Error(`expected success, got ${JSON.stringify(result)}`);
  return result as Extract<R, { ok: true }>;
}

function reasons(result: ClaimResult | { ok: boolean }): string[] {
  if (result.ok || !('blocks' in result)) return [];
  return result.blocks.map((d) => `${d.reason}:${d.id}`);
}

describe('claim: engine-chosen blocks', () => {
  test('a clean block is claimed without scrub; the request holds it', () => {
    const ledger = newLedger();
    const claimed = ok(ledger.claim('a', 'r1', [3, 4]));
    expect(grants(claimed.blocks)).toEqual([{ id: 3, scrub: false }, { id: 4, scrub: false }]);
    expect(ledger.requestBlocks('a', 'r1')).toEqual([3, 4]);
    expect(ledger.blockState(3)).toMatchObject({ state: 'owned', tenant: 'a', awaitingScrub: false });
  });

  test('I1: a block another tenant holds is refused as a violation, nothing changes', () => {
    const ledger = newLedger();
    ok(ledger.claim('a', 'r1', [3]));
    const before = snapshot(ledger);
    const result = ledger.claim('b', 'r2', [5, 3]);
    expect(result).toMatchObject({ ok: false, reason: 'blocks_denied', violation: true });
    expect(reasons(result)).toEqual(['not_owner:3']);
    expect(snapshot(ledger)).toEqual(before);
  });

  test('I2: a block whose last data was another tenant\'s is listed for scrub; own reuse is not', () => {
    const ledger = newLedger();
    ok(ledger.claim('a', 'r1', [3, 4]));
    ok(ledger.release('a', 'r1', [3, 4], { cache: true }));
    const other = ok(ledger.claim('b', 'r2', [3]));
    expect(grants(other.blocks)).toEqual([{ id: 3, scrub: true }]);
    expect(other.evicted).toEqual([3]);
    const own = ok(ledger.claim('a', 'r3', [4]));
    expect(grants(own.blocks)).toEqual([{ id: 4, scrub: false }]);
    expect(own.reclaimed).toEqual([4]);
    // Reading 3 before the scrub is confirmed is refused (I2), then allowed.
    expect(ledger.access('b', [3], 'read').ok).toBe(false);
    ok(ledger.confirmScrub(currentUse(ledger, [3])));
    expect(ledger.access('b', [3], 'read').ok).toBe(true);
  });

  test('I6: a prefix hit on another tenant\'s cached block is refused as a violation', () => {
    const ledger = newLedger();
    ok(ledger.claim('a', 'r1', [3]));
    ok(ledger.release('a', 'r1', [3], { cache: true }));
    const forged = ledger.claim('b', 'r2', [5], [3]);
    expect(forged).toMatchObject({ ok: false, violation: true });
    expect(reasons(forged)).toEqual(['not_owner:3']);
    expect(ledger.blockState(5)).toMatchObject({ state: 'clean' });
  });

  test('prefix hits on own cached, dirty and shared blocks; a shared block stays owned until its last holder releases', () => {
    const ledger = newLedger();
    ok(ledger.claim('a', 'r1', [1, 2]));
    ok(ledger.release('a', 'r1', [1], { cache: true }));
    ok(ledger.release('a', 'r1', [2], { cache: false }));
    ok(ledger.claim('a', 'r2', [6]));
    const hit = ok(ledger.claim('a', 'r3', [7], [1, 2, 6]));
    expect(hit.hits).toBe(3);
    expect(grants(hit.blocks)).toEqual([{ id: 7, scrub: false }]);
    const released = ok(ledger.release('a', 'r2', [6], { cache: true }));
    expect(released.shared).toBe(1);
    expect(ledger.blockState(6)).toMatchObject({ state: 'owned', tenant: 'a' });
    ok(ledger.release('a', 'r3', [1, 2, 6, 7], { cache: true }));
    expect(ledger.blockState(6)).toMatchObject({ state: 'cached', tenant: 'a' });
    expect(ledger.liveRequests('a')).toEqual([]);
    expect(ledger.checkInvariants()).toEqual({ ok: true, violations: [] });
  });

  test('I2: a prefix hit on a block still awaiting its scrub is refused', () => {
    const ledger = newLedger();
    ok(ledger.claim('a', 'r1', [3]));
    ok(ledger.release('a', 'r1', [3], { cache: true }));
    ok(ledger.claim('b', 'r2', [3])); // scrub pending
    expect(reasons(ledger.claim('b', 'r3', [], [3]))).toEqual(['scrub_pending:3']);
  });

  test('I3: owned after the claim may not exceed the quota; cached blocks are demoted to stay within it', () => {
    const ledger = newLedger(); // b: quota 6
    ok(ledger.claim('b', 'r1', [0, 1, 2, 3]));
    ok(ledger.release('b', 'r1', [0, 1, 2, 3], { cache: true }));
    const claimed = ok(ledger.claim('b', 'r2', [4, 5, 6]));
    expect(claimed.reclaimed).toEqual([0]); // oldest cached block, now dirty(b)
    expect(ledger.usage('b')).toMatchObject({ owned: 3, cached: 3 });
    expect(ledger.claim('b', 'r3', [7, 8, 9, 10])).toMatchObject({ ok: false, reason: 'quota_exceeded', owned: 3, quota: 6 });
    // The demoted block is still b's data: a valid prefix hit without scrub.
    expect(ok(ledger.claim('b', 'r4', [], [0])).hits).toBe(1);
  });

  test('I5: blocks outside the tenant\'s pool are refused; another tenant\'s dedicated pool is a violation', () => {
    const ledger = newLedger();
    expect(reasons(ledger.claim('a', 'r1', [200]))).toEqual(['wrong_pool:200']);
    expect(ledger.claim('a', 'r1', [100])).toMatchObject({ ok: false, violation: true });
    expect(grants(ok(ledger.claim('e', 'r1', [100])).blocks)).toEqual([{ id: 100, scrub: false }]);
  });

  test('I4: only the holding request releases; another tenant\'s release is a violation', () => {
    const ledger = newLedger();
    ok(ledger.claim('a', 'r1', [3]));
    expect(ledger.release('b', 'r1', [3])).toMatchObject({ ok: false, violation: true });
    expect(ledger.release('a', 'r2', [3])).toMatchObject({ ok: false, violation: false, blocks: [{ id: 3, reason: 'not_held' }] });
    expect(ledger.free('a', [3])).toMatchObject({ ok: false, blocks: [{ id: 3, reason: 'claimed' }] });
    ok(ledger.release('a', 'r1', [3]));
    expect(ledger.release('a', 'r1', [3])).toMatchObject({ ok: false, blocks: [{ id: 3, reason: 'not_held' }] });
  });

  test('a block released before its scrub was confirmed is contaminated, scrubbed before anyone gets it', () => {
    const ledger = newLedger();
    ok(ledger.claim('a', 'r1', [3]));
    ok(ledger.release('a', 'r1', [3], { cache: true }));
    ok(ledger.claim('b', 'r2', [3]));
    expect(ok(ledger.release('b', 'r2', [3], { cache: true })).contaminated).toBe(1);
    expect(grants(ok(ledger.claim('a', 'r3', [3])).blocks)).toEqual([{ id: 3, scrub: true }]);
  });

  test('removing a tenant drops its live requests and contaminates their blocks', () => {
    const ledger = newLedger();
    ok(ledger.claim('a', 'r1', [3, 4]));
    ledger.removeTenant('a');
    expect(ledger.checkInvariants()).toEqual({ ok: true, violations: [] });
    expect(grants(ok(ledger.claim('b', 'r1', [3])).blocks)).toEqual([{ id: 3, scrub: true }]);
  });
});

/** Random claim/release/scrub steps over the shared pool, as an engine with prefix caching drives them. */
const stepArb = fc.array(
  fc.oneof(
    fc.record({ op: fc.constant('claim' as const), tenant: fc.constantFrom('a', 'b', 'c'), req: fc.integer({ min: 0, max: 4 }), blocks: fc.uniqueArray(fc.integer({ min: 0, max: 11 }), { maxLength: 4 }), hits: fc.uniqueArray(fc.integer({ min: 0, max: 11 }), { maxLength: 3 }) }),
    fc.record({ op: fc.constant('release' as const), tenant: fc.constantFrom('a', 'b', 'c'), req: fc.integer({ min: 0, max: 4 }), cache: fc.boolean() }),
    fc.record({ op: fc.constant('scrubbed' as const), blocks: fc.uniqueArray(fc.integer({ min: 0, max: 11 }), { minLength: 1, maxLength: 4 }) }),
  ),
  { maxLength: 40 },
);

type Step = typeof stepArb extends fc.Arbitrary<Array<infer S>> ? S : never;

/** Applies a step; returns its opId and a closure that replays it, or null when refused. */
function apply(ledger: BlockLedger, step: Step): { opId: number; replay: (target: BlockLedger) => void } | null {
  if (step.op === 'claim') {
    const hits = step.hits.filter((h) => !step.blocks.includes(h));
    const result = ledger.claim(step.tenant, `r${step.req}`, step.blocks, hits);
    if (!result.ok) return null;
    return { opId: result.opId, replay: (target) => ok(target.claim(step.tenant, `r${step.req}`, step.blocks, hits)) };
  }
  if (step.op === 'release') {
    const held = ledger.requestBlocks(step.tenant, `r${step.req}`);
    if (held.length === 0) return null;
    const { opId } = ok(ledger.release(step.tenant, `r${step.req}`, held, { cache: step.cache }));
    return { opId, replay: (target) => ok(target.release(step.tenant, `r${step.req}`, held, { cache: step.cache })) };
  }
  const confirmations = currentUse(ledger, step.blocks);
  const result = ledger.confirmScrub(confirmations);
  if (!result.ok) return null;
  return { opId: result.opId, replay: (target) => ok(target.confirmScrub(confirmations)) };
}

/** Snapshot plus what claim mode adds: each live request's blocks. */
function fullSnapshot(ledger: BlockLedger): unknown {
  const requests = ['a', 'b', 'c'].map((t) => ledger.liveRequests(t).sort().map((r) => [r, ledger.requestBlocks(t, r)]));
  return { base: snapshot(ledger), requests };
}

describe('claim mode under random engine steps', () => {
  test('invariants hold after every step, foreign data is never owned without a scrub flag, and replay reproduces the state', () => {
    fc.assert(
      fc.property(stepArb, (steps) => {
        const ledger = newLedger();
        const replayers: Array<(target: BlockLedger) => void> = [];
        for (const step of steps) {
          const lastData = new Map<number, string | null>();
          for (let id = 0; id <= 11; id++) {
            const state = ledger.blockState(id)!;
            lastData.set(id, state.state === 'clean' ? 'clean' : state.tenant);
          }
          const applied = apply(ledger, step);
          if (applied) replayers.push(applied.replay);
          expect(ledger.checkInvariants().violations).toEqual([]);
          if (step.op === 'claim' && applied) {
            for (const id of step.blocks) {
              const before = lastData.get(id);
              // I2: anyone else's (or contaminated) data ⇒ the claim flagged the block for scrub.
              if (before !== 'clean' && before !== step.tenant) expect(ledger.blockState(id)).toMatchObject({ awaitingScrub: true });
            }
          }
        }
        const rebuilt = newLedger();
        for (const replay of replayers) replay(rebuilt);
        expect(fullSnapshot(rebuilt)).toEqual(fullSnapshot(ledger));
      }),
      { numRuns: 300 },
    );
  });

  test('rolling back claims and releases restores the state exactly', () => {
    fc.assert(
      fc.property(stepArb, stepArb, (prefix, suffix) => {
        const ledger = newLedger();
        for (const step of prefix) apply(ledger, step);
        const before = fullSnapshot(ledger);
        let first: number | null = null;
        for (const step of suffix) first ??= apply(ledger, step)?.opId ?? null;
        if (first !== null) ledger.rollbackFrom(first);
        expect(fullSnapshot(ledger)).toEqual(before);
        expect(ledger.checkInvariants().violations).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});
