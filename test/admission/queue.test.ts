import { describe, expect, test } from 'vitest';
import { AdmissionController } from '../../src/admission/index.js';
import { expectAdmitted, flush, newController, tierTenant, track } from './helpers.js';

const usage = { inputTokens: 10, outputTokens: 10 };

describe('waiting for worker capacity', () => {
  test('a request waits while every slot is in use and is admitted when one frees, with waitedMs from the clock', async () => {
    const { controller, time } = newController({ capacitySlots: 2 }, [tierTenant('a', 'standard')]);
    expectAdmitted(await controller.admit('a', 'r1', 100));
    expectAdmitted(await controller.admit('a', 'r2', 100));
    const waiter = track(controller.admit('a', 'r3', 100));
    expect(controller.stats()).toMatchObject({ slotsInUse: 2, queued: 1, waitingTenants: 1 });
    time.advance(1_234);
    await flush();
    expect(waiter.settled).toBe(false);
    controller.complete('r1', usage);
    // The slot went to the waiter synchronously: nobody else can take it in between.
    expect(controller.stats()).toMatchObject({ slotsInUse: 2, queued: 0 });
    await flush();
    expect(waiter.result).toEqual({ ok: true, requestId: 'r3', waitedMs: 1_234, chargedTokens: 100 });
    expect(controller.usage('a')).toMatchObject({ inFlight: 2, queued: 0, admitted: 3, completed: 1 });
  });

  test('a newcomer never overtakes the queue: it waits behind queued requests even at the instant a slot frees', async () => {
    const { controller } = newController({ capacitySlots: 1 }, [tierTenant('a', 'standard')]);
    expectAdmitted(await controller.admit('a', 'r1', 1));
    const second = track(controller.admit('a', 'r2', 1));
    controller.complete('r1', usage);
    const third = track(controller.admit('a', 'r3', 1));
    await flush();
    expect(second.result?.ok).toBe(true);
    expect(third.settled).toBe(false);
  });

  test('a tenant\'s own requests are admitted in FIFO order', async () => {
    const { controller } = newController({ capacitySlots: 1 }, [tierTenant('a', 'standard')]);
    expectAdmitted(await controller.admit('a', 'first', 1));
    const order: string[] = [];
    const pending = ['q1', 'q2', 'q3', 'q4'].map((id) =>
      controller.admit('a', id, 1).then((result) => {
        if (result.ok) order.push(result.requestId);
      }),
    );
    for (const id of ['first', 'q1', 'q2', 'q3']) {
      await flush();
      controller.complete(id, usage);
    }
    await Promise.all(pending);
    expect(order).toEqual(['q1', 'q2', 'q3', 'q4']);
  });
});

describe('queue timeout', () => {
  test('a waiter still queued after maxQueueWaitMs resolves with queue_timeout; its charge is refunded and it never takes a slot', async () => {
    const { controller, time } = newController({ capacitySlots: 1, maxQueueWaitMs: 5_000 }, [tierTenant('a', 'standard'), tierTenant('free', 'free')]);
    expectAdmitted(await controller.admit('a', 'hog', 1));
    const waiter = track(controller.admit('free', 'w', 4_000));
    expect(controller.usage('free')).toMatchObject({ queued: 1, tokensInWindow: 4_000 });
    time.advance(4_999);
    await flush();
    expect(waiter.settled).toBe(false);
    time.advance(1); // the fake timer fires exactly at the deadline
    await flush();
    expect(waiter.result).toEqual({ ok: false, reason: 'queue_timeout', retryAfterMs: 1000 });
    expect(controller.usage('free')).toMatchObject({ queued: 0, inFlight: 0, tokensInWindow: 0, admitted: 0 });
    expect(controller.usage('free').rejectedByReason.queue_timeout).toBe(1);
    // Its concurrency place is free again, and the slot it never got is still the hog's.
    controller.complete('hog', usage);
    expect(controller.stats()).toMatchObject({ slotsInUse: 0, queued: 0 });
    expect(controller.usage('free').inFlight).toBe(0);
  });

  test('with no timer, a passed queue deadline is applied by the next call before anything else', async () => {
    const { controller, time } = newController({ capacitySlots: 1, maxQueueWaitMs: 5_000, timer: null }, [tierTenant('a', 'standard')]);
    expectAdmitted(await controller.admit('a', 'hog', 1));
    const waiter = track(controller.admit('a', 'w', 1));
    time.advance(6_000);
    await flush();
    expect(waiter.settled).toBe(false); // nobody looked yet
    // Completing the hog now must not hand the slot to a waiter whose deadline already passed.
    controller.complete('hog', usage);
    await flush();
    expect(waiter.result).toMatchObject({ ok: false, reason: 'queue_timeout' });
    expect(controller.stats()).toMatchObject({ slotsInUse: 0, queued: 0 });
  });

  test('maxQueueWaitMs 0 never queues: a full worker denies at once with queue_timeout, refunding the charge', async () => {
    const { controller } = newController({ capacitySlots: 1, maxQueueWaitMs: 0 }, [tierTenant('a', 'standard')]);
    expectAdmitted(await controller.admit('a', 'r1', 10));
    expect(await controller.admit('a', 'r2', 10)).toEqual({ ok: false, reason: 'queue_timeout', retryAfterMs: 1000 });
    expect(controller.usage('a')).toMatchObject({ queued: 0, tokensInWindow: 10 });
  });

  test('the default real timer fires queue timeouts on its own (a few ms), and is unref\'d', async () => {
    const controller = new AdmissionController({ capacitySlots: 1, maxQueueWaitMs: 3, requestTimeoutMs: 60_000 });
    controller.registerTenant(tierTenant('a', 'standard'));
    expectAdmitted(await controller.admit('a', 'hog', 1));
    const result = await controller.admit('a', 'w', 1);
    expect(result).toMatchObject({ ok: false, reason: 'queue_timeout' });
    controller.close();
  });
});

describe('reclaiming requests never completed', () => {
  test('after requestTimeoutMs the slot and concurrency place are freed, the token charge stays, and a late complete is unknown_request', async () => {
    const { controller, time, reclaimed } = newController({ capacitySlots: 4, requestTimeoutMs: 30_000, timer: null }, [tierTenant('free', 'free')]);
    for (let i = 0; i < 4; i++) expectAdmitted(await controller.admit('free', `r${i}`, 1_000));
    time.advance(10_000);
    controller.complete('r0', usage);
    time.advance(19_999);
    expect(controller.reclaimExpired()).toEqual([]);
    time.advance(1);
    expect(controller.reclaimExpired()).toEqual(['r1', 'r2', 'r3']);
    expect(reclaimed.map((event) => event.requestId)).toEqual(['r1', 'r2', 'r3']);
    expect(reclaimed[0]).toMatchObject({ tenant: 'free', chargedTokens: 1_000 });
    expect(controller.stats()).toMatchObject({ slotsInUse: 0 });
    expect(controller.usage('free')).toMatchObject({ inFlight: 0, reclaimed: 3, completed: 1, tokensInWindow: 3_020 });
    expect(controller.complete('r1', usage)).toEqual({ ok: false, reason: 'unknown_request' });
    expect(controller.reclaimExpired()).toEqual([]);
    // Freed concurrency: four more fit (and a reclaimed id may be reused).
    for (const id of ['r1', 'a', 'b', 'c']) expectAdmitted(await controller.admit('free', id, 1));
  });

  test('the timer reclaims on its own and reports through onReclaim; reclaimExpired then has nothing left', async () => {
    const { controller, time, reclaimed } = newController({ capacitySlots: 1, requestTimeoutMs: 30_000 }, [tierTenant('a', 'standard')]);
    expectAdmitted(await controller.admit('a', 'stuck', 1));
    expect(time.pendingTimers).toBe(1);
    time.advance(30_000);
    expect(reclaimed.map((event) => event.requestId)).toEqual(['stuck']);
    expect(controller.reclaimExpired()).toEqual([]);
    expect(controller.stats().slotsInUse).toBe(0);
  });

  test('a slot freed by a reclaim goes to the queue at the reclaim time, even when noticed late', async () => {
    const { controller, time, reclaimed } = newController(
      { capacitySlots: 1, requestTimeoutMs: 1_000, maxQueueWaitMs: 5_000, timer: null },
      [tierTenant('a', 'standard')],
    );
    expectAdmitted(await controller.admit('a', 'A', 1)); // t = 0
    time.advance(500);
    const b = track(controller.admit('a', 'B', 1)); // queued at t = 500
    time.advance(1_700); // t = 2,200: A was due at 1,000, B (admitted at 1,000) at 2,000
    expect(controller.reclaimExpired()).toEqual(['A', 'B']);
    await flush();
    expect(b.result).toEqual({ ok: true, requestId: 'B', waitedMs: 500, chargedTokens: 1 });
    expect(reclaimed.map((event) => event.admittedAt - reclaimed[0]!.admittedAt)).toEqual([0, 1_000]);
  });

  test('deadlines apply in timestamp order: a waiter whose wait expired before a reclaim freed a slot times out', async () => {
    const { controller, time } = newController(
      { capacitySlots: 1, requestTimeoutMs: 5_000, maxQueueWaitMs: 1_000, timer: null },
      [tierTenant('a', 'standard')],
    );
    expectAdmitted(await controller.admit('a', 'A', 1)); // reclaim due at 5,000
    time.advance(100);
    const b = track(controller.admit('a', 'B', 1)); // wait expires at 1,100
    time.advance(10_000);
    expect(controller.reclaimExpired()).toEqual(['A']);
    await flush();
    expect(b.result).toMatchObject({ ok: false, reason: 'queue_timeout' });
    expect(controller.stats()).toMatchObject({ slotsInUse: 0, queued: 0 });
  });
});

describe('shutdown and tenant removal', () => {
  test('close denies every queued request with shutting_down and every later admit; in-flight requests can still complete; the timer stops', async () => {
    const { controller, time } = newController({ capacitySlots: 1 }, [tierTenant('a', 'standard'), tierTenant('b', 'free')]);
    expectAdmitted(await controller.admit('a', 'running', 1));
    const queued = [track(controller.admit('a', 'qa', 5)), track(controller.admit('b', 'qb', 7))];
    controller.close();
    await flush();
    for (const q of queued) expect(q.result).toEqual({ ok: false, reason: 'shutting_down', retryAfterMs: 1000 });
    expect(controller.usage('b')).toMatchObject({ queued: 0, tokensInWindow: 0 });
    expect(await controller.admit('a', 'late', 1)).toMatchObject({ ok: false, reason: 'shutting_down' });
    expect(controller.complete('running', usage).ok).toBe(true);
    expect(controller.stats()).toEqual({ slotsInUse: 0, capacitySlots: 1, queued: 0, waitingTenants: 0, closed: true });
    expect(time.pendingTimers).toBe(0);
    controller.close(); // idempotent
  });

  test('removing a tenant denies its queued requests with tenant_removed; its in-flight requests keep their slots until they complete', async () => {
    const { controller } = newController({ capacitySlots: 2 }, [tierTenant('gone', 'standard'), tierTenant('stay', 'standard')]);
    expectAdmitted(await controller.admit('gone', 'g1', 1));
    expectAdmitted(await controller.admit('gone', 'g2', 1));
    const gQueued = track(controller.admit('gone', 'g3', 1));
    const sQueued = track(controller.admit('stay', 's1', 1));
    controller.removeTenant('gone');
    await flush();
    expect(gQueued.result).toMatchObject({ ok: false, reason: 'tenant_removed' });
    expect(sQueued.settled).toBe(false);
    expect(controller.stats()).toMatchObject({ slotsInUse: 2, queued: 1 });
    expect(controller.tenant('gone')).toBeUndefined();
    // A tenant registered again under the same id starts from zero.
    controller.registerTenant(tierTenant('gone', 'free'));
    expect(controller.usage('gone')).toMatchObject({ inFlight: 0, queued: 0 });
    expect(controller.complete('g1', usage)).toMatchObject({ ok: true, tenant: 'gone' });
    await flush();
    expect(sQueued.result?.ok).toBe(true);
    expect(controller.usage('gone').inFlight).toBe(0);
  });
});

describe('onReclaim', () => {
  test('a throwing onReclaim surfaces from the call that noticed the reclaim, before that call changed anything', async () => {
    let fail = true;
    const { controller, time } = newController(
      {
        capacitySlots: 1,
        requestTimeoutMs: 1_000,
        timer: null,
        onReclaim: () => {
          if (fail) throw new Error('audit down');
        },
      },
      [tierTenant('a', 'standard')],
    );
    expectAdmitted(await controller.admit('a', 'A', 1));
    time.advance(1_000);
    await expect(controller.admit('a', 'B', 1)).rejects.toThrow('audit down');
    expect(controller.usage('a')).toMatchObject({ inFlight: 0, queued: 0, reclaimed: 1, tokensInWindow: 1 });
    fail = false;
    expectAdmitted(await controller.admit('a', 'B', 1));
  });
});
