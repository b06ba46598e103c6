import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { deriveKey, lengthPrefixed } from '../../src/keys/index.js';

describe('length-prefixed derivation inputs', () => {
  const ikm = Buffer.alloc(32, 7);

  test('("ab","c") and ("a","bc") derive different keys', () => {
    expect(lengthPrefixed(['ab', 'c']).equals(lengthPrefixed(['a', 'bc']))).toBe(false);
    const left = deriveKey(ikm, ['ab', 'c']);
    const right = deriveKey(ikm, ['a', 'bc']);
    expect(left).toHaveLength(32);
    expect(left.equals(right)).toBe(false);
    // And the naive concatenation they would both collapse to is a third, different key.
    expect(deriveKey(ikm, ['abc']).equals(left)).toBe(false);
  });

  test('each part is a 4-byte big-endian length followed by its UTF-8 bytes', () => {
    expect(lengthPrefixed(['ab', 'c']).toString('hex')).toBe('00000002' + '6162' + '00000001' + '63');
    expect(lengthPrefixed(['', 'é']).toString('hex')).toBe('00000000' + '00000002' + 'c3a9');
    expect(lengthPrefixed([Buffer.from([1, 2])], lengthPrefixed(['x'])).equals(lengthPrefixed(['x', Buffer.from([1, 2])]))).toBe(true);
  });

  test('the encoding is injective: different part lists never give the same bytes', () => {
    const parts = fc.array(fc.string({ maxLength: 6 }), { maxLength: 4 });
    fc.assert(
      fc.property(parts, parts, (a, b) => {
        fc.pre(JSON.stringify(a) !== JSON.stringify(b));
        expect(lengthPrefixed(a).equals(lengthPrefixed(b))).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  test('derivation is deterministic and depends on the input key', () => {
    expect(deriveKey(ikm, ['label', 'tenant']).equals(deriveKey(ikm, ['label', 'tenant']))).toBe(true);
    expect(deriveKey(Buffer.alloc(32, 8), ['label', 'tenant']).equals(deriveKey(ikm, ['label', 'tenant']))).toBe(false);
  });
});
