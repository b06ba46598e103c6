import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { TENANTS, newLedger, opsArb } from './helpers.js';
import { LedgerModel } from './model.js';

describe('model-based property test', () => {
  test('random operation sequences over four tenants keep I1–I5 after every step and match a naive reference model', () => {
    fc.assert(
      fc.property(opsArb(false), (ops) => {
        const ledger = newLedger();
        const model = new LedgerModel(TENANTS);
        model.verify(ledger);
        for (const op of ops) {
          model.step(ledger, op);
          model.verify(ledger);
        }
      }),
      { numRuns: 300 },
    );
  }, 120_000); // ~1.5 s alone; a generous bound so a machine busy with other suites does not fail it

  test('the reference model notices any ledger change it did not predict (sanity check of the oracle)', () => {
    const ledger = newLedger();
    const model = new LedgerModel(TENANTS);
    model.step(ledger, { kind: 'allocate', t: 0, n: 2 });
    model.verify(ledger);
    ledger.free('a', [0]); // behind the model's back
    expect(() => model.verify(ledger)).toThrow();
  });
});
