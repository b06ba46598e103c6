import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { auditEventSchema, validateAuditEvent } from '../../src/audit/index.js';

/**
 * validateAuditEvent skips zod for the common valid event with a hand-written check (every append
 * runs it). The two must agree on every input, or the fast path could let through what the schema
 * (the L1 enforcement point) refuses: this property holds them to each other (issue 13).
 */

// Values near each pattern's edge: valid ids, ones with a space, too long, empty, odd types.
const idLike = fc.oneof(
  { arbitrary: fc.constantFrom('free-demo', 'spiffe://td/worker/w-1', 'h.AbC_-12', 'a'.repeat(128)), weight: 6 },
  { arbitrary: fc.constantFrom('a'.repeat(129), '', 'with space', 'ünï', 'x\n'), weight: 1 },
  { arbitrary: fc.stringMatching(/^[A-Za-z0-9._:/-]{1,130}$/), weight: 2 },
);
const reason = fc.oneof({ arbitrary: fc.constantFrom('quota_exceeded', 'not_owner:17'), weight: 8 }, { arbitrary: fc.constantFrom('Upper', 'a b', '', 'x'.repeat(97)), weight: 1 }, { arbitrary: fc.stringMatching(/^[a-z0-9_:.-]{1,98}$/), weight: 2 });
const key = fc.oneof({ arbitrary: fc.constantFrom('requested', 'request_id', 'a.b', 'constructor', 'toString'), weight: 6 }, { arbitrary: fc.constantFrom('__proto__', 'Upper', '9lead', 'k'.repeat(65)), weight: 1 }, { arbitrary: fc.stringMatching(/^[a-z][a-z0-9_.]{0,65}$/), weight: 2 });
const num = fc.oneof({ arbitrary: fc.integer(), weight: 6 }, { arbitrary: fc.double(), weight: 2 }, { arbitrary: fc.constantFrom(Number.NaN, Infinity, -0, 2 ** 53, -1), weight: 1 });
const odd = fc.oneof(fc.constant(null), fc.constant(undefined), fc.string(), fc.boolean(), fc.array(fc.integer(), { maxLength: 3 }), fc.object({ maxDepth: 1 }));
const blockIds = fc.array(fc.oneof({ arbitrary: fc.nat(), weight: 20 }, { arbitrary: fc.constantFrom(-1, 1.5, Number.MAX_SAFE_INTEGER + 2), weight: 1 }), { maxLength: 5 });
const effectValue = fc.oneof({ arbitrary: blockIds, weight: 3 }, { arbitrary: idLike, weight: 3 }, { arbitrary: num, weight: 3 }, { arbitrary: fc.boolean(), weight: 2 }, { arbitrary: odd, weight: 1 });
const map = <T>(value: fc.Arbitrary<T>) => fc.dictionary(key, value, { maxKeys: 4 });
/** Mostly a value of the right shape, now and then anything else. */
const mostly = <T>(good: fc.Arbitrary<T>) => fc.oneof({ arbitrary: good, weight: 12 }, { arbitrary: odd, weight: 1 });

const event = fc.record(
  {
    type: mostly(fc.constantFrom('decision', 'violation', 'admin', 'lifecycle')),
    severity: mostly(fc.constantFrom('info', 'warning', 'critical')),
    principal: mostly(fc.record({ role: mostly(fc.constantFrom('operator', 'worker', 'tenant', 'system')), id: idLike })),
    action: fc.oneof({ arbitrary: fc.constant('blocks.allocate'), weight: 8 }, { arbitrary: fc.constantFrom('Bad.Action', 'a b'), weight: 1 }, { arbitrary: fc.stringMatching(/^[a-z0-9_.]{1,66}$/), weight: 2 }),
    tenant: mostly(idLike),
    decision: mostly(fc.constantFrom('allow', 'deny')),
    reasons: mostly(fc.array(reason, { maxLength: 3 })),
    counts: mostly(map(num)),
    blocks: mostly(blockIds),
    effects: mostly(map(effectValue)),
    policyRevision: mostly(idLike),
    prompt: fc.string(),
  },
  // Most fields usually present, so many events are valid and the interesting cases are near misses.
  { requiredKeys: ['type', 'severity', 'principal', 'action', 'decision', 'reasons'] },
);
// Unknown keys (`prompt`) only sometimes; undefined-valued optional keys are part of the space.
const events = fc.tuple(event, fc.integer({ min: 0, max: 9 })).map(([e, dice]) => {
  const keepUnknown = dice === 0;
  if (!keepUnknown) delete (e as Record<string, unknown>)['prompt'];
  return e;
});

const acceptedBy = (candidate: unknown): boolean => {
  try {
    validateAuditEvent(candidate);
    return true;
  } catch {
    return false;
  }
};

describe('the audit event validator and the zod schema agree (issue 13)', () => {
  test('validateAuditEvent accepts exactly what auditEventSchema accepts', () => {
    let valid = 0;
    fc.assert(
      fc.property(events, (candidate) => {
        const schemaSays = auditEventSchema.safeParse(candidate).success;
        if (schemaSays) valid++;
        expect(acceptedBy(candidate)).toBe(schemaSays);
      }),
      { numRuns: 3000 },
    );
    // The generator reaches both sides of the boundary, or the property proves nothing.
    expect(valid).toBeGreaterThan(100);
  });
});
