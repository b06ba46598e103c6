/**
 * Random interleavings of admits, completes, clock moves and reclaims, many of them in the same
 * tick, against invariants checked after every single call and an outside view (what callers were
 * told) checked after every tick:
 * - capacity is never exceeded; someone queued implies every slot is in use (work conserving);
 * - per tenant, admitted + queued never exceeds its concurrency, tokens never exceed its limit;
 * - the requests callers hold as admitted are exactly the controller's slots in use;
 * - every queued promise settles, duplicates are refused exactly when the id is live, and the
 *   token window equals a naive model built from the results callers saw.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { AdmissionController, AdmitResult } from '../../src/admission/index.js';
import { flush, newController } from './helpers.js';

const CAPACITY = 4;
const TENANTS = [
  { id: 'a', priority: 1, concurrent: 6, tokensPerMinute: 600 },
  { id: 'b', priority: 3, concurrent: 4, tokensPerMinute: 400 },
  { id: 'c', priority: 5, concurrent: 3, tokensPerMinute: 250 },
] as const;

type IdKind = 'fresh' | 'live' | 'done';
interface AdmitOp {
  t: number;
  tokens: number;
  idKind: IdKind;
  pick: number;
}
type Op =
  | { kind: 'burst'; admits: AdmitOp[] }
  | { kind: 'complete'; picks: number[]; usedPermille: number; admits: AdmitOp[] }
  | { kind: 'completeUnknown'; pick: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'reclaim' }
  | { kind: 'priority'; t: number; priority: number };

const admitArb: fc.Arbitrary<AdmitOp> = fc.record({
  t: fc.integer({ min: 0, max: TENANTS.length - 1 }),
  tokens: fc.oneof(fc.integer({ min: 0, max: 120 }), fc.integer({ min: 100, max: 700 })),
  idKind: fc.constantFrom<IdKind>('fresh', 'fresh', 'fresh', 'live', 'done'),
  pick: fc.nat(),
});

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('burst' as const), admits: fc.array(admitArb, { minLength: 1, maxLength: 12 }) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('complete' as const),
      picks: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
      usedPermille: fc.integer({ min: 0, max: 1000 }),
      admits: fc.array(admitArb, { maxLength: 6 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('completeUnknown' as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: 0, max: 700 }), fc.integer({ min: 1_000, max: 30_000 })) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reclaim' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('priority' as const),
      t: fc.integer({ min: 0, max: TENANTS.length - 1 }),
      priority: fc.integer({ min: 1, max: 5 }),
    }),
  },
);

interface Charge {
  tenant: string;
  at: number;
  tokens: number;
}

/** What callers have been told, kept outside the controller. */
class OutsideView {
  readonly admitted = new Map<string, string>(); // id → tenant, resolved ok, not completed or reclaimed
  readonly pending = new Map<string, string>(); // id → tenant, promise not settled yet
  readonly done: string[] = []; // ids no longer live
  readonly charges = new Map<string, Charge>(); // by id, for live and completed/reclaimed requests
  private readonly chargeLog: Charge[] = [];
  /**
   * Reclaimed before the caller saw the admission: one clock jump covered both the admission (at
   * a reclaim instant) and the request's own reclaim deadline. onReclaim is synchronous, the
   * Admitted promise callback runs a microtask later.
   */
  private readonly reclaimedUnseen = new Set<string>();
  /** Ids admitted in the current tick: their outcome is unknown until the tick ends. */
  private readonly uncertain = new Set<string>();
  private next = 0;
  errors: unknown[] = [];

  constructor(private readonly controller: AdmissionController, private readonly now: () => number) {}

  admit(op: AdmitOp): void {
    const tenant = TENANTS[op.t]!.id;
    let id: string;
    let mustBeDuplicate = false;
    const live = [...this.admitted.keys(), ...this.pending.keys()].filter((known) => !this.uncertain.has(known));
    const done = this.done.filter((known) => !this.uncertain.has(known) && !this.admitted.has(known) && !this.pending.has(known));
    if (op.idKind === 'live' && live.length > 0) {
      id = live[op.pick % live.length]!;
      mustBeDuplicate = true;
    } else if (op.idKind === 'done' && done.length > 0) {
      id = done[op.pick % done.length]!; // a finished id may be reused
    } else {
      id = `r${this.next++}`;
    }
    const charge: Charge = { tenant, at: this.now(), tokens: op.tokens };
    const isNewCall = !mustBeDuplicate;
    if (isNewCall) {
      this.uncertain.add(id);
      this.pending.set(id, tenant);
      this.chargeLog.push(charge);
    }
    this.controller.admit(tenant, id, op.tokens).then(
      (result: AdmitResult) => {
        if (mustBeDuplicate) {
          if (result.ok || result.reason !== 'duplicate_request') this.errors.push(`expected duplicate for ${id}, got ${JSON.stringify(result)}`);
          return;
        }
        if (!result.ok && result.reason === 'duplicate_request') this.errors.push(`unexpected duplicate for ${id}`);
        this.pending.delete(id);
        if (result.ok) {
          if (result.chargedTokens !== op.tokens || result.waitedMs < 0 || result.waitedMs > 300) this.errors.push(`odd admission ${JSON.stringify(result)}`);
          this.charges.set(id, charge);
          if (this.reclaimedUnseen.delete(id)) this.done.push(id);
          else this.admitted.set(id, tenant);
        } else {
          charge.tokens = 0; // denied: never charged, or refunded (queue timeout)
          this.done.push(id);
          if (result.reason === 'token_limit' && (result.retryAfterMs <= 0 || result.retryAfterMs > 60_000)) this.errors.push(`odd retry ${JSON.stringify(result)}`);
        }
      },
      (error: unknown) => this.errors.push(error),
    );
    check(this.controller);
  }

  complete(pick: number, usedPermille: number): void {
    const ids = [...this.admitted.keys()];
    if (ids.length === 0) return;
    const id = ids[pick % ids.length]!;
    const charge = this.charges.get(id)!;
    const used = Math.floor((charge.tokens * usedPermille) / 1000);
    const result = this.controller.complete(id, { inputTokens: Math.floor(used / 2), outputTokens: used - Math.floor(used / 2) });
    expect(result).toMatchObject({ ok: true, requestId: id, estimatedTokens: charge.tokens, usedTokens: used });
    charge.tokens = used;
    this.admitted.delete(id);
    this.done.push(id);
    check(this.controller);
  }

  reclaimed(id: string): void {
    if (this.admitted.delete(id)) this.done.push(id);
    else if (this.pending.has(id)) this.reclaimedUnseen.add(id);
    else this.errors.push(`reclaimed ${id}, which is neither admitted nor queued`);
  }

  /** After a tick: the outside view and the controller agree. */
  verify(): void {
    this.uncertain.clear();
    expect(this.errors).toEqual([]);
    expect([...this.reclaimedUnseen]).toEqual([]);
    const stats = this.controller.stats();
    expect(this.admitted.size).toBe(stats.slotsInUse);
    expect(this.pending.size).toBe(stats.queued);
    const cutoff = this.now() - 60_000;
    for (const tenant of TENANTS) {
      const expected = this.chargeLog.filter((c) => c.tenant === tenant.id && c.at > cutoff).reduce((sum, c) => sum + c.tokens, 0);
      expect(this.controller.usage(tenant.id).tokensInWindow, `tokens of ${tenant.id}`).toBe(expected);
    }
  }
}

/** Invariants of the controller alone, checked after every call. */
function check(controller: AdmissionController): void {
  const stats = controller.stats();
  expect(stats.slotsInUse).toBeLessThanOrEqual(CAPACITY);
  if (stats.queued > 0) expect(stats.slotsInUse).toBe(CAPACITY);
  let inFlight = 0;
  let queued = 0;
  for (const tenant of TENANTS) {
    const usage = controller.usage(tenant.id);
    expect(usage.inFlight + usage.queued).toBeLessThanOrEqual(tenant.concurrent);
    expect(usage.tokensInWindow).toBeLessThanOrEqual(tenant.tokensPerMinute);
    inFlight += usage.inFlight;
    queued += usage.queued;
  }
  expect(inFlight).toBe(stats.slotsInUse);
  expect(queued).toBe(stats.queued);
}

describe('capacity under random interleavings', () => {
  test('capacity is never exceeded and callers\' view matches the controller, under random same-tick bursts of admits and completes (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 40, size: 'max' }), async (ops) => {
        let view: OutsideView | undefined;
        const harness = newController({
          capacitySlots: CAPACITY,
          maxQueueWaitMs: 300,
          requestTimeoutMs: 1_000,
          onReclaim: (event) => view!.reclaimed(event.requestId),
        });
        const { controller, time } = harness;
        for (const tenant of TENANTS) controller.registerTenant({ ...tenant });
        view = new OutsideView(controller, () => time.now());
        for (const op of ops) {
          switch (op.kind) {
            case 'burst':
              for (const admit of op.admits) view.admit(admit);
              break;
            case 'complete':
              for (const pick of op.picks) view.complete(pick, op.usedPermille);
              for (const admit of op.admits) view.admit(admit);
              break;
            case 'completeUnknown': {
              const id = view.done.length > 0 ? view.done[op.pick % view.done.length]! : 'never-seen';
              if (!view.admitted.has(id)) expect(controller.complete(id, { inputTokens: 1, outputTokens: 1 })).toEqual({ ok: false, reason: 'unknown_request' });
              break;
            }
            case 'advance':
              time.advance(op.ms); // fires queue timeouts and reclaims at their own times
              break;
            case 'reclaim':
              expect(controller.reclaimExpired()).toEqual([]); // the timer got there first
              break;
            case 'priority':
              controller.updateTenant(TENANTS[op.t]!.id, { priority: op.priority });
              break;
          }
          check(controller);
          await flush();
          view.verify();
        }
        // Everything queued settles: by its deadline, or at close.
        controller.close();
        await flush();
        expect(view.pending.size).toBe(0);
        expect(view.errors).toEqual([]);
      }),
      { numRuns: 150, ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED), path: process.env.FC_PATH, endOnFailure: true } : {}) },
    );
  });
});
