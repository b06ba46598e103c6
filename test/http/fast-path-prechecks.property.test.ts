import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { precheckAccess, precheckAllocate, precheckFree, precheckScrubbed } from '../../src/http/prechecks.js';
import { blockSchemas } from '../../src/http/schemas.js';

/**
 * The block fast path accepts a body with a hand-written precheck and never runs zod for it; a
 * body the precheck declines goes to zod. So the precheck may be stricter than the schema, never
 * looser, and what it accepts must be exactly the value zod would produce (issue 13).
 */
const MAX = 64;
const PRECHECKS = { allocate: precheckAllocate, free: precheckFree, scrubbed: precheckScrubbed, access: precheckAccess } as const;
const schemas = blockSchemas(MAX);

const tenant = fc.oneof({ arbitrary: fc.constantFrom('free-demo', 'a', 'x'.repeat(63)), weight: 6 }, { arbitrary: fc.constantFrom('', 'Bad_Id', '-lead', 'x'.repeat(64), 'a b'), weight: 1 }, { arbitrary: fc.string(), weight: 1 });
const requestId = fc.oneof({ arbitrary: fc.constantFrom('r1', 'cmpl-1:2.3', 'x'.repeat(128)), weight: 6 }, { arbitrary: fc.constantFrom('', 'r 1', 'x'.repeat(129), 'ü'), weight: 1 });
const num = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: MAX + 2 }), weight: 8 },
  { arbitrary: fc.constantFrom(-1, 0.5, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER + 1, Number.NaN, -0), weight: 2 },
);
const ids = fc.array(num, { maxLength: MAX + 2 });
const odd = fc.oneof(fc.constant(null), fc.string(), fc.boolean(), fc.constant([]), fc.constant({}));
const mostly = <T>(good: fc.Arbitrary<T>) => fc.oneof({ arbitrary: good, weight: 10 }, { arbitrary: odd, weight: 1 });
const withExtra = <T extends Record<string, unknown>>(body: fc.Arbitrary<T>) =>
  fc.tuple(body, fc.integer({ min: 0, max: 9 })).map(([b, dice]) => (dice === 0 ? { ...b, extra: 1 } : b));

const bodies = {
  allocate: withExtra(fc.record({ tenant: mostly(tenant), request_id: mostly(requestId), count: mostly(num) }, { requiredKeys: [] })),
  free: withExtra(fc.record({ tenant: mostly(tenant), blocks: mostly(ids), cache: mostly(fc.boolean()) }, { requiredKeys: ['tenant', 'blocks'] })),
  scrubbed: withExtra(
    fc.oneof(
      ids.chain((blocks) => fc.record({ blocks: fc.constant(blocks), epochs: fc.array(num, { minLength: blocks.length, maxLength: blocks.length }) })),
      fc.record({ blocks: mostly(ids), epochs: mostly(ids) }, { requiredKeys: [] }),
    ),
  ),
  access: withExtra(fc.record({ tenant: mostly(tenant), blocks: mostly(ids), mode: mostly(fc.constantFrom('read', 'prefix_hit', 'write')) }, { requiredKeys: [] })),
} as const;

describe('block fast-path prechecks agree with the zod schemas (issue 13)', () => {
  test.each(Object.keys(PRECHECKS) as Array<keyof typeof PRECHECKS>)('%s: whatever the precheck accepts, the schema accepts with the same value', (route) => {
    let accepted = 0;
    fc.assert(
      fc.property(bodies[route], (body) => {
        const fast = PRECHECKS[route](body, MAX);
        if (fast === null) return;
        accepted++;
        const parsed = schemas[route].safeParse(body);
        expect(parsed.success).toBe(true);
        expect(fast).toEqual(parsed.data);
      }),
      { numRuns: 2000 },
    );
    expect(accepted).toBeGreaterThan(50);
  });
});
