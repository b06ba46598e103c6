import { describe, expect, test } from 'vitest';
import { TIERS, TIER_NAMES } from '../../src/config/tiers.js';
import { admissionErrorFor } from '../../src/admission/index.js';
import { Errors } from '../../src/errors.js';
import { expectAdmitted, expectDenied, flush, newController, rejectionCode, thrownCode, tierTenant, track } from './helpers.js';

const MINUTE = 60_000;

describe('per-tenant concurrency limit', () => {
  test.each(TIER_NAMES)('a %s tenant gets exactly its tier concurrency in flight; the next request is denied at once with concurrent_limit', async (tier) => {
    const limits = TIERS[tier];
    const { controller } = newController({ capacitySlots: 1000 }, [tierTenant('t', tier)]);
    for (let i = 0; i < limits.concurrent; i++) expectAdmitted(await controller.admit('t', `r${i}`, 1));
    const denied = expectDenied(await controller.admit('t', 'one-more', 1));
    expect(denied).toEqual({ ok: false, reason: 'concurrent_limit', retryAfterMs: 1000, limit: limits.concurrent, current: limits.concurrent });
    expect(controller.usage('t')).toMatchObject({ inFlight: limits.concurrent, queued: 0, admitted: limits.concurrent });
    expect(controller.usage('t').rejectedByReason.concurrent_limit).toBe(1);
    // The denial did not queue and took no tokens.
    expect(controller.usage('t').tokensInWindow).toBe(limits.concurrent);
    expect(controller.stats()).toMatchObject({ slotsInUse: limits.concurrent, queued: 0 });
  });

  test('a completed request frees its concurrency place for the next one', async () => {
    const { controller } = newController({}, [tierTenant('free', 'free')]);
    for (let i = 0; i < 4; i++) expectAdmitted(await controller.admit('free', `r${i}`, 10));
    expectDenied(await controller.admit('free', 'r4', 10));
    expect(controller.complete('r0', { inputTokens: 1, outputTokens: 1 }).ok).toBe(true);
    expectAdmitted(await controller.admit('free', 'r4', 10));
  });

  test('queued requests count toward the concurrency limit, so a queue can never push a tenant past it', async () => {
    const { controller } = newController({ capacitySlots: 1 }, [tierTenant('free', 'free')]);
    expectAdmitted(await controller.admit('free', 'r0', 10));
    const queued = [1, 2, 3].map((i) => track(controller.admit('free', `r${i}`, 10)));
    await flush();
    expect(queued.every((q) => !q.settled)).toBe(true);
    expect(expectDenied(await controller.admit('free', 'r4', 10))).toMatchObject({ reason: 'concurrent_limit', limit: 4, current: 4 });
    expect(controller.usage('free')).toMatchObject({ inFlight: 1, queued: 3 });
  });

  test('another tenant at its limit does not affect this tenant', async () => {
    const { controller } = newController({}, [tierTenant('a', 'free'), tierTenant('b', 'free')]);
    for (let i = 0; i < 4; i++) expectAdmitted(await controller.admit('a', `a${i}`, 1));
    expectDenied(await controller.admit('a', 'a4', 1));
    expectAdmitted(await controller.admit('b', 'b0', 1));
  });
});

describe('per-tenant tokens per minute (sliding 60 s window)', () => {
  test('a request that would overflow the window is denied with retryAfterMs = time until enough tokens leave it', async () => {
    const { controller, time } = newController({}, [{ ...tierTenant('free', 'free'), concurrent: 100 }]);
    expectAdmitted(await controller.admit('free', 'a', 6_000)); // t = 0
    time.advance(10_000);
    expectAdmitted(await controller.admit('free', 'b', 3_000)); // t = 10 s
    time.advance(10_000); // t = 20 s, window holds 9,000 of 10,000
    expect(expectDenied(await controller.admit('free', 'c', 2_000))).toEqual({
      ok: false,
      reason: 'token_limit',
      retryAfterMs: 40_000, // 1,000 must leave: 'a' (6,000) does, at t = 60 s
      limit: 10_000,
      current: 9_000,
    });
    expectAdmitted(await controller.admit('free', 'small', 1_000)); // exactly fills the window
    expect(expectDenied(await controller.admit('free', 'c', 1))).toMatchObject({ retryAfterMs: 40_000, current: 10_000 });
    time.advance(39_999);
    expect(expectDenied(await controller.admit('free', 'c', 2_000))).toMatchObject({ retryAfterMs: 1 });
    time.advance(1); // t = 60 s: 'a' has left the window
    expect(controller.usage('free').tokensInWindow).toBe(4_000);
    expectAdmitted(await controller.admit('free', 'c', 2_000));
  });

  test('retryAfterMs waits for as many old charges as it takes, not just the oldest', async () => {
    const { controller, time } = newController({}, [{ ...tierTenant('free', 'free'), concurrent: 100 }]);
    for (let i = 0; i < 5; i++) {
      expectAdmitted(await controller.admit('free', `r${i}`, 2_000)); // t = 0, 5, 10, 15, 20 s
      time.advance(5_000);
    }
    // t = 25 s, window full. 5,000 tokens need three charges gone: the third leaves at 70 s.
    expect(expectDenied(await controller.admit('free', 'big', 5_000))).toMatchObject({ reason: 'token_limit', retryAfterMs: 45_000 });
    time.advance(45_000);
    expectAdmitted(await controller.admit('free', 'big', 5_000));
  });

  test.each(TIER_NAMES)('a %s tenant can charge its tier limit once per minute; one token more waits for the window', async (tier) => {
    const tokens = TIERS[tier].tokensPerMinute;
    const { controller, time } = newController({}, [tierTenant('t', tier)]);
    expectAdmitted(await controller.admit('t', 'all', tokens));
    time.advance(15_000);
    expect(expectDenied(await controller.admit('t', 'extra', 1))).toEqual({
      ok: false,
      reason: 'token_limit',
      retryAfterMs: 45_000,
      limit: tokens,
      current: tokens,
    });
    time.advance(45_000);
    expectAdmitted(await controller.admit('t', 'extra', 1));
  });

  test('a single request larger than the whole limit is denied with retryAfterMs of a full minute, even with an empty window', async () => {
    const { controller } = newController({}, [tierTenant('free', 'free')]);
    expect(expectDenied(await controller.admit('free', 'huge', 10_001))).toEqual({
      ok: false,
      reason: 'token_limit',
      retryAfterMs: MINUTE,
      limit: 10_000,
      current: 0,
    });
    expect(controller.usage('free')).toMatchObject({ tokensInWindow: 0, inFlight: 0 });
  });

  test('completion corrects the charge: a request estimated at 10k that used 1k frees 9k', async () => {
    const { controller, time } = newController({}, [tierTenant('free', 'free')]);
    expectAdmitted(await controller.admit('free', 'est', 10_000));
    expect(expectDenied(await controller.admit('free', 'next', 9_000)).reason).toBe('token_limit');
    time.advance(2_000);
    expect(controller.complete('est', { inputTokens: 600, outputTokens: 400 })).toEqual({
      ok: true,
      requestId: 'est',
      tenant: 'free',
      estimatedTokens: 10_000,
      usedTokens: 1_000,
      windowCorrected: true,
      heldMs: 2_000,
    });
    expect(controller.usage('free').tokensInWindow).toBe(1_000);
    expectAdmitted(await controller.admit('free', 'next', 9_000));
    // The corrected charge stays at its original timestamp: it leaves the window at t = 60 s.
    expect(expectDenied(await controller.admit('free', 'one', 1))).toMatchObject({ retryAfterMs: MINUTE - 2_000, current: 10_000 });
  });

  test('a request that used more than its estimate is charged the difference at its original timestamp', async () => {
    const { controller, time } = newController({}, [tierTenant('free', 'free')]);
    expectAdmitted(await controller.admit('free', 'under', 1_000));
    time.advance(5_000);
    expect(controller.complete('under', { inputTokens: 3_000, outputTokens: 4_000 })).toMatchObject({ usedTokens: 7_000 });
    expect(controller.usage('free').tokensInWindow).toBe(7_000);
    expect(expectDenied(await controller.admit('free', 'next', 4_000))).toMatchObject({ retryAfterMs: 55_000, current: 7_000 });
  });

  test('a correction after the charge has left the window changes nothing', async () => {
    const { controller, time } = newController({}, [tierTenant('free', 'free')]);
    expectAdmitted(await controller.admit('free', 'long', 8_000));
    time.advance(MINUTE + 1);
    expectAdmitted(await controller.admit('free', 'later', 9_000));
    expect(controller.complete('long', { inputTokens: 100, outputTokens: 100 })).toMatchObject({ ok: true, windowCorrected: false });
    expect(controller.usage('free').tokensInWindow).toBe(9_000);
  });

  test('a queued request holds its token charge, so queued requests cannot jointly overrun the window', async () => {
    const { controller } = newController({ capacitySlots: 1 }, [tierTenant('busy', 'standard'), tierTenant('free', 'free')]);
    expectAdmitted(await controller.admit('busy', 'hog', 1));
    const first = track(controller.admit('free', 'q1', 6_000));
    expect(expectDenied(await controller.admit('free', 'q2', 6_000))).toMatchObject({ reason: 'token_limit', current: 6_000 });
    await flush();
    expect(first.settled).toBe(false);
    expect(controller.usage('free')).toMatchObject({ queued: 1, tokensInWindow: 6_000 });
  });

  test('raising or lowering limits applies to new requests only', async () => {
    const { controller } = newController({}, [tierTenant('t', 'free')]);
    for (let i = 0; i < 4; i++) expectAdmitted(await controller.admit('t', `r${i}`, 1_000));
    controller.updateTenant('t', { concurrent: 2, tokensPerMinute: 3_000 });
    expect(controller.usage('t').inFlight).toBe(4);
    expect(expectDenied(await controller.admit('t', 'x', 1))).toMatchObject({ reason: 'concurrent_limit', limit: 2, current: 4 });
    controller.updateTenant('t', { concurrent: 10 });
    expect(expectDenied(await controller.admit('t', 'x', 1))).toMatchObject({ reason: 'token_limit', limit: 3_000 });
    controller.updateTenant('t', { tokensPerMinute: 5_000 });
    expectAdmitted(await controller.admit('t', 'x', 1_000));
    expect(controller.tenant('t')).toEqual({ id: 't', priority: 5, concurrent: 10, tokensPerMinute: 5_000 });
  });
});

describe('duplicate request ids', () => {
  test('an id in flight or queued is denied with duplicate_request (for any tenant); a completed id may be reused', async () => {
    const { controller } = newController({ capacitySlots: 1 }, [tierTenant('a', 'standard'), tierTenant('b', 'standard')]);
    expectAdmitted(await controller.admit('a', 'same', 10));
    expect(expectDenied(await controller.admit('a', 'same', 10))).toEqual({ ok: false, reason: 'duplicate_request', retryAfterMs: 0 });
    expect(expectDenied(await controller.admit('b', 'same', 10)).reason).toBe('duplicate_request');
    const queued = track(controller.admit('b', 'waiting', 10));
    expect(expectDenied(await controller.admit('a', 'waiting', 10)).reason).toBe('duplicate_request');
    // The duplicates took nothing: no concurrency place, no tokens.
    expect(controller.usage('a')).toMatchObject({ inFlight: 1, queued: 0, tokensInWindow: 10 });
    expect(controller.usage('b')).toMatchObject({ inFlight: 0, queued: 1, tokensInWindow: 10 });

    expect(controller.complete('same', { inputTokens: 1, outputTokens: 1 }).ok).toBe(true);
    await flush();
    expect(queued.result).toMatchObject({ ok: true, requestId: 'waiting' });
    expect(controller.complete('waiting', { inputTokens: 1, outputTokens: 1 }).ok).toBe(true);
    expectAdmitted(await controller.admit('b', 'same', 10));
    expect(controller.usage('a').rejectedByReason.duplicate_request).toBe(2);
  });

  test('completing an id twice, or an id never admitted, is unknown_request and frees nothing', async () => {
    const { controller } = newController({ capacitySlots: 2 }, [tierTenant('a', 'standard')]);
    expectAdmitted(await controller.admit('a', 'r1', 10));
    expectAdmitted(await controller.admit('a', 'r2', 10));
    const queued = track(controller.admit('a', 'r3', 10));
    expect(controller.complete('r1', { inputTokens: 1, outputTokens: 1 }).ok).toBe(true);
    await flush();
    expect(queued.result?.ok).toBe(true);
    expect(controller.complete('r1', { inputTokens: 1, outputTokens: 1 })).toEqual({ ok: false, reason: 'unknown_request' });
    expect(controller.complete('never', { inputTokens: 1, outputTokens: 1 })).toEqual({ ok: false, reason: 'unknown_request' });
    expect(controller.stats()).toMatchObject({ slotsInUse: 2, queued: 0 });
  });

  test('a queued id cannot be completed before it is admitted', async () => {
    const { controller } = newController({ capacitySlots: 1 }, [tierTenant('a', 'standard')]);
    expectAdmitted(await controller.admit('a', 'r1', 10));
    const queued = track(controller.admit('a', 'r2', 10));
    expect(controller.complete('r2', { inputTokens: 1, outputTokens: 1 })).toEqual({ ok: false, reason: 'unknown_request' });
    expect(controller.usage('a')).toMatchObject({ inFlight: 1, queued: 1 });
    await flush();
    expect(queued.settled).toBe(false);
  });
});

describe('malformed input and the error catalogue', () => {
  test('malformed input rejects with a TgError; policy denials never reject', async () => {
    const { controller } = newController({}, [tierTenant('a', 'free')]);
    expect(await rejectionCode(controller.admit('nobody', 'r', 1))).toBe('TG_ERR_UNKNOWN_TENANT');
    expect(await rejectionCode(controller.admit('a', '', 1))).toBe('TG_ERR_BAD_REQUEST');
    expect(await rejectionCode(controller.admit('a', 'r', -1))).toBe('TG_ERR_BAD_REQUEST');
    expect(await rejectionCode(controller.admit('a', 'r', 1.5))).toBe('TG_ERR_BAD_REQUEST');
    expect(await rejectionCode(controller.admit('a', 'r', Number.NaN))).toBe('TG_ERR_BAD_REQUEST');
    expect(await rejectionCode(controller.admit('a', 'huge', 1_000_000))).toBeUndefined(); // a denial value
    expect(thrownCode(() => controller.complete('r', { inputTokens: -1, outputTokens: 0 }))).toBe('TG_ERR_BAD_REQUEST');
    expect(thrownCode(() => controller.usage('nobody'))).toBe('TG_ERR_UNKNOWN_TENANT');
    expect(thrownCode(() => controller.registerTenant(tierTenant('a', 'free')))).toBe('TG_ERR_CONFLICT');
    expect(thrownCode(() => controller.registerTenant({ id: 'p', priority: 6, concurrent: 1, tokensPerMinute: 1 }))).toBe('TG_ERR_BAD_REQUEST');
    expect(thrownCode(() => controller.registerTenant({ id: 'p', priority: 0, concurrent: 1, tokensPerMinute: 1 }))).toBe('TG_ERR_BAD_REQUEST');
    expect(thrownCode(() => controller.registerTenant({ id: '', priority: 1, concurrent: 1, tokensPerMinute: 1 }))).toBe('TG_ERR_BAD_REQUEST');
    expect(thrownCode(() => controller.updateTenant('a', { concurrent: -1 }))).toBe('TG_ERR_BAD_REQUEST');
    expect(thrownCode(() => controller.updateTenant('nobody', { concurrent: 1 }))).toBe('TG_ERR_UNKNOWN_TENANT');
    expect(thrownCode(() => newController({ capacitySlots: 0 }))).toBe('TG_ERR_CONFIG_INVALID');
    expect(thrownCode(() => newController({ requestTimeoutMs: 0 }))).toBe('TG_ERR_CONFIG_INVALID');
    expect(thrownCode(() => newController({ maxQueueWaitMs: -1 }))).toBe('TG_ERR_CONFIG_INVALID');
    expect(controller.usage('a').inFlight).toBe(0);
  });

  test('every denial reason maps to its catalogue entry', () => {
    expect(admissionErrorFor('concurrent_limit')).toBe(Errors.CONCURRENCY_LIMIT);
    expect(admissionErrorFor('token_limit')).toBe(Errors.TOKEN_LIMIT);
    expect(admissionErrorFor('queue_timeout')).toBe(Errors.QUEUE_TIMEOUT);
    expect(admissionErrorFor('duplicate_request')).toBe(Errors.DUPLICATE_REQUEST);
    expect(admissionErrorFor('shutting_down')).toBe(Errors.SHUTTING_DOWN);
    expect(admissionErrorFor('tenant_removed')).toBe(Errors.UNKNOWN_TENANT);
    expect(admissionErrorFor('unknown_request')).toBe(Errors.UNKNOWN_REQUEST);
    expect(Errors.CONCURRENCY_LIMIT.status).toBe(429);
    expect(Errors.TOKEN_LIMIT.status).toBe(429);
  });

  test('usage reports only the asking tenant\'s own figures, with every denial reason present (M1)', async () => {
    const { controller } = newController({}, [tierTenant('a', 'free'), tierTenant('b', 'free')]);
    expectAdmitted(await controller.admit('b', 'b1', 500));
    expect(controller.usage('a')).toEqual({
      inFlight: 0,
      queued: 0,
      tokensInWindow: 0,
      admitted: 0,
      completed: 0,
      reclaimed: 0,
      rejectedByReason: {
        concurrent_limit: 0,
        token_limit: 0,
        queue_timeout: 0,
        duplicate_request: 0,
        shutting_down: 0,
        tenant_removed: 0,
      },
    });
  });
});
