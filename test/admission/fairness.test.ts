import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { AdmissionController, AdmissionDenied } from '../../src/admission/index.js';
import { flush, newController } from './helpers.js';

/** Limits high enough that only worker capacity binds. */
function saturating(id: string, priority: number): { id: string; priority: number; concurrent: number; tokensPerMinute: number } {
  return { id, priority, concurrent: 100_000, tokensPerMinute: 1_000_000_000 };
}

/**
 * Keeps every tenant's queue topped up and completes admitted requests oldest first, one at a
 * time, recording which tenant each admission went to, in the order admissions resolved.
 */
class SaturationDriver {
  readonly sequence: string[] = [];
  readonly denials: AdmissionDenied[] = [];
  private readonly inFlight: string[] = [];
  private readonly submitted = new Map<string, number>();
  private nextId = 0;

  constructor(
    private readonly controller: AdmissionController,
    private readonly keepQueued: number,
  ) {}

  /** Submits requests for `tenant` until it has `keepQueued` waiting (in the same tick). */
  topUp(tenant: string): void {
    const missing = this.keepQueued - this.controller.usage(tenant).queued;
    for (let i = 0; i < missing; i++) this.submit(tenant);
  }

  submit(tenant: string): void {
    const id = `${tenant}-${this.nextId++}`;
    this.submitted.set(tenant, (this.submitted.get(tenant) ?? 0) + 1);
    void this.controller.admit(tenant, id, 1).then((result) => {
      if (result.ok) {
        this.sequence.push(tenant);
        this.inFlight.push(result.requestId);
      } else {
        this.denials.push(result);
      }
    });
  }

  /** Completes the oldest admitted request and lets the admission it triggers resolve. */
  async completeOldest(): Promise<void> {
    const id = this.inFlight.shift();
    if (id === undefined) throw new Error('nothing in flight');
    const completed = this.controller.complete(id, { inputTokens: 1, outputTokens: 0 });
    expect(completed.ok).toBe(true);
    await flush();
  }
}

function counts(sequence: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const tenant of sequence) out.set(tenant, (out.get(tenant) ?? 0) + 1);
  return out;
}

/** Largest number of admissions from one admission of `tenant` to its next (and from the window's edges). */
function maxGap(sequence: readonly string[], tenant: string): number {
  let gap = 0;
  let last = -1;
  sequence.forEach((t, i) => {
    if (t === tenant) {
      gap = Math.max(gap, i - last);
      last = i;
    }
  });
  return Math.max(gap, sequence.length - last);
}

describe('weighted fair queueing across tenants', () => {
  test('three saturating tenants with priorities 1, 3, 5 get admitted shares 5:3:1 (within 10%), and the priority-5 tenant is never starved', async () => {
    const capacity = 12;
    const { controller } = newController({ capacitySlots: capacity, maxQueueWaitMs: 1e12, requestTimeoutMs: 1e12 }, [
      saturating('p1', 1),
      saturating('p3', 3),
      saturating('p5', 5),
    ]);
    const tenants = ['p1', 'p3', 'p5'];
    const driver = new SaturationDriver(controller, 30);
    for (const tenant of tenants) driver.topUp(tenant);
    await flush();
    expect(driver.sequence).toHaveLength(capacity); // the first ones found free slots
    for (const tenant of tenants) driver.topUp(tenant);

    const warmUp = 90;
    const window = 900;
    while (driver.sequence.length < capacity + warmUp + window) {
      await driver.completeOldest();
      // Capacity is full and never exceeded, and every tenant still has plenty queued.
      expect(controller.stats()).toMatchObject({ slotsInUse: capacity });
      for (const tenant of tenants) expect(controller.usage(tenant).queued).toBeGreaterThanOrEqual(29);
      for (const tenant of tenants) driver.topUp(tenant);
    }
    expect(driver.denials).toEqual([]);

    const measured = driver.sequence.slice(capacity + warmUp, capacity + warmUp + window);
    const shares = counts(measured);
    const weights: Record<string, number> = { p1: 5, p3: 3, p5: 1 };
    const report = tenants.map((t) => `${t}=${shares.get(t) ?? 0}`).join(' ');
    console.log(`fairness: admissions over ${window}: ${report} (expected 500/300/100); max gap p5=${maxGap(measured, 'p5')} p3=${maxGap(measured, 'p3')} p1=${maxGap(measured, 'p1')}`);
    for (const tenant of tenants) {
      const expected = (window * weights[tenant]!) / 9;
      const got = shares.get(tenant) ?? 0;
      expect(Math.abs(got - expected) / expected, `${tenant}: ${report}`).toBeLessThanOrEqual(0.1);
    }
    // Stride bound: between two p5 admissions, p1 gets at most 60/12 + 1 and p3 at most 60/20 + 1.
    expect(maxGap(measured, 'p5')).toBeLessThanOrEqual(11);
    expect(maxGap(driver.sequence.slice(capacity), 'p5')).toBeLessThanOrEqual(11);
  });

  test('random priority mixes under saturation get shares proportional to weight 6 - priority', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 2, maxLength: 5 }), fc.integer({ min: 1, max: 16 }), async (priorities, capacity) => {
        const tenants = priorities.map((priority, i) => saturating(`t${i}`, priority));
        const { controller } = newController({ capacitySlots: capacity, maxQueueWaitMs: 1e12, requestTimeoutMs: 1e12 }, tenants);
        const driver = new SaturationDriver(controller, 8);
        for (const tenant of tenants) driver.topUp(tenant.id);
        await flush();
        const totalWeight = priorities.reduce((sum, p) => sum + (6 - p), 0);
        const window = totalWeight * 40;
        while (driver.sequence.length < capacity + totalWeight * 4 + window) {
          await driver.completeOldest();
          for (const tenant of tenants) driver.topUp(tenant.id);
        }
        const measured = counts(driver.sequence.slice(capacity + totalWeight * 4, capacity + totalWeight * 4 + window));
        tenants.forEach((tenant) => {
          const expected = (window * (6 - tenant.priority)) / totalWeight;
          expect(Math.abs((measured.get(tenant.id) ?? 0) - expected) / expected).toBeLessThanOrEqual(0.1);
        });
      }),
      { numRuns: 25 },
    );
  });

  test('a tenant that was idle banks no credit: when it returns it gets its weight share, not a burst', async () => {
    const capacity = 6;
    const { controller } = newController({ capacitySlots: capacity, maxQueueWaitMs: 1e12, requestTimeoutMs: 1e12 }, [
      saturating('p1', 1),
      saturating('p3', 3),
      saturating('p5', 5),
    ]);
    const driver = new SaturationDriver(controller, 20);
    driver.topUp('p3');
    driver.topUp('p5');
    await flush();
    while (driver.sequence.length < 400) {
      await driver.completeOldest();
      driver.topUp('p3');
      driver.topUp('p5');
    }
    const joinedAt = driver.sequence.length;
    driver.topUp('p1');
    while (driver.sequence.length < joinedAt + 180) {
      await driver.completeOldest();
      for (const tenant of ['p1', 'p3', 'p5']) driver.topUp(tenant);
    }
    const after = driver.sequence.slice(joinedAt);
    const shares = counts(after);
    expect(shares.get('p1')).toBeGreaterThanOrEqual(90);
    expect(shares.get('p1')).toBeLessThanOrEqual(110); // 5/9 of 180 = 100
    expect(maxGap(after, 'p5')).toBeLessThanOrEqual(11);
    expect(maxGap(after, 'p3')).toBeLessThanOrEqual(6);
  });

  test('a lone queued request of the lowest priority is admitted within a bounded number of admissions, whatever the load', async () => {
    const capacity = 4;
    const hogs = ['h1', 'h2', 'h3', 'h4', 'h5'];
    const { controller } = newController({ capacitySlots: capacity, maxQueueWaitMs: 1e12, requestTimeoutMs: 1e12 }, [
      ...hogs.map((id) => saturating(id, 1)),
      saturating('low', 5),
    ]);
    const driver = new SaturationDriver(controller, 50);
    for (const hog of hogs) driver.topUp(hog);
    await flush();
    while (driver.sequence.length < 300) {
      await driver.completeOldest();
      for (const hog of hogs) driver.topUp(hog);
    }
    const before = driver.sequence.length;
    driver.submit('low');
    while (!driver.sequence.slice(before).includes('low')) {
      await driver.completeOldest();
      for (const hog of hogs) driver.topUp(hog);
      expect(driver.sequence.length - before).toBeLessThanOrEqual(hogs.length + 1);
    }
  });

  test('equal priorities take turns: with 2,000 waiting tenants, each gets one slot before any gets a second', async () => {
    const capacity = 64;
    const tenantCount = 2_000;
    const ids = Array.from({ length: tenantCount }, (_, i) => `t${i}`);
    const { controller } = newController(
      { capacitySlots: capacity, maxQueueWaitMs: 1e12, requestTimeoutMs: 1e12 },
      ids.map((id) => saturating(id, 3)),
    );
    const driver = new SaturationDriver(controller, 0);
    for (const id of ids) for (let i = 0; i < 3; i++) driver.submit(id);
    await flush();
    expect(controller.stats()).toMatchObject({ slotsInUse: capacity, queued: tenantCount * 3 - capacity });
    // Every queued tenant is active; drain everything one completion at a time (the heap works per
    // admission in O(log tenants)).
    for (let i = 0; i < tenantCount * 3; i++) await driver.completeOldest();
    expect(driver.sequence).toHaveLength(tenantCount * 3);
    expect(controller.stats()).toMatchObject({ slotsInUse: 0, queued: 0, waitingTenants: 0 });
    const queuedPhase = driver.sequence.slice(capacity);
    const activeAtStart = new Set(queuedPhase.slice(0, tenantCount - Math.floor(capacity / 3)));
    expect(activeAtStart.size).toBe(tenantCount - Math.floor(capacity / 3));
  });
});
