import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { TokenWindow } from '../../src/admission/token-window.js';

type Op =
  | { kind: 'charge'; dt: number; tokens: number; repeat: number }
  | { kind: 'set'; pick: number; tokens: number }
  | { kind: 'query'; dt: number; fraction: number };

const WINDOW = 1_000;

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({
      kind: fc.constant('charge' as const),
      dt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 120 })),
      tokens: fc.integer({ min: 0, max: 1_000 }),
      repeat: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 40 })),
    }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('set' as const), pick: fc.nat(), tokens: fc.integer({ min: 0, max: 2_000 }) }) },
  { weight: 2, arbitrary: fc.record({
      kind: fc.constant('query' as const),
      dt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 1_500 })),
      fraction: fc.double({ min: 0, max: 1, noNaN: true }),
    }) },
);

describe('token window (Fenwick tree over time-ordered charges)', () => {
  test('sum, corrections and time-until-freed match a naive list, across growth, compaction and resets (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 150, size: 'max' }), (ops) => {
        const window = new TokenWindow(WINDOW);
        const naive: Array<{ at: number; tokens: number; ticket: number }> = [];
        let now = 0;
        let expiredBefore = -Infinity; // charges at or before this left the window at the last expire
        const expire = (): void => {
          window.expire(now);
          expiredBefore = now - WINDOW;
        };
        const live = (): typeof naive => naive.filter((c) => c.at > now - WINDOW);
        for (const op of ops) {
          if (op.kind === 'charge') {
            // A burst: each charge 1 ms apart, so that a later partial expiry leaves any count.
            for (let i = 0; i < op.repeat; i++) {
              now += i === 0 ? op.dt : 1;
              expire();
              naive.push({ at: now, tokens: op.tokens + i, ticket: window.charge(now, op.tokens + i) });
            }
          } else if (op.kind === 'set') {
            if (naive.length === 0) continue;
            const charge = naive[op.pick % naive.length]!;
            const inWindow = charge.at > expiredBefore;
            expect(window.set(charge.ticket, op.tokens)).toBe(inWindow);
            if (inWindow) charge.tokens = op.tokens;
          } else {
            now += op.dt;
            expire();
            const inWindow = live();
            const sum = inWindow.reduce((s, c) => s + c.tokens, 0);
            expect(window.sum).toBe(sum);
            expect(window.length).toBe(inWindow.length);
            const amount = Math.ceil(sum * op.fraction);
            let freed = 0;
            let expected = 0;
            for (const c of inWindow) {
              if (amount <= 0) break;
              freed += c.tokens;
              if (freed >= amount) {
                expected = c.at + WINDOW - now;
                break;
              }
            }
            expect(window.timeUntilFreed(now, amount)).toBe(expected);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  test('a charge leaves the window exactly windowMs after it was made', () => {
    const window = new TokenWindow(60_000);
    window.charge(0, 100);
    window.expire(59_999);
    expect(window.sum).toBe(100);
    expect(window.timeUntilFreed(59_999, 1)).toBe(1);
    window.expire(60_000);
    expect(window.sum).toBe(0);
  });

  test('100,000 charges in one window: each operation stays logarithmic (no walk over the window)', () => {
    const window = new TokenWindow(60_000);
    for (let i = 0; i < 100_000; i++) window.charge(i * 0.5, 1);
    window.expire(49_999.5);
    expect(window.sum).toBe(100_000);
    // A walk over the window would cost 100,000 × 50,000 steps here; a Fenwick descent ~17 each.
    let wrong = 0;
    for (let i = 0; i < 100_000; i++) if (window.timeUntilFreed(49_999.5, 50_000) !== 24_999.5 + 60_000 - 49_999.5) wrong++;
    expect(wrong).toBe(0);
  });
});
