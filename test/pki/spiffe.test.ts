import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { CERTIFICATE_ROLES, formatSpiffeId, parseSpiffeId } from '../../src/pki/index.js';

const segmentChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-');
const validId = fc.string({ unit: segmentChar, minLength: 1, maxLength: 128 }).filter((s) => s !== '.' && s !== '..');
const label = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_'), minLength: 1, maxLength: 20 });
const trustDomain = fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join('.'));
const role = fc.constantFrom(...CERTIFICATE_ROLES);

describe('SPIFFE IDs (the one grammar shared by issuance and identity)', () => {
  test('every valid trust domain, role and id round-trips through format and parse', () => {
    fc.assert(
      fc.property(trustDomain, role, validId, (td, r, id) => {
        const uri = formatSpiffeId(td, r, id);
        expect(uri).toBe(`spiffe://${td}/${r}/${id}`);
        expect(parseSpiffeId(uri)).toEqual({ trustDomain: td, role: r, id });
      }),
    );
  });

  test.each([
    ['another scheme', 'https://cluster.test/tenant/acme'],
    ['an upper-case scheme', 'SPIFFE://cluster.test/tenant/acme'],
    ['an upper-case trust domain', 'spiffe://Cluster.test/tenant/acme'],
    ['a port', 'spiffe://cluster.test:8443/tenant/acme'],
    ['userinfo', 'spiffe://operator@cluster.test/tenant/acme'],
    ['a trust domain only', 'spiffe://cluster.test'],
    ['a missing id', 'spiffe://cluster.test/tenant'],
    ['an empty id', 'spiffe://cluster.test/tenant/'],
    ['an extra segment', 'spiffe://cluster.test/tenant/acme/extra'],
    ['a dot-dot id', 'spiffe://cluster.test/tenant/..'],
    ['a dot id', 'spiffe://cluster.test/tenant/.'],
    ['an unknown role', 'spiffe://cluster.test/admin/acme'],
    ['percent-encoding', 'spiffe://cluster.test/tenant/ac%6De'],
    ['a query', 'spiffe://cluster.test/tenant/acme?x=1'],
    ['a fragment', 'spiffe://cluster.test/tenant/acme#x'],
    ['a leading-dot trust domain (would widen the CA name constraint)', 'spiffe://.cluster.test/tenant/acme'],
    ['an empty trust-domain label', 'spiffe://cluster..test/tenant/acme'],
  ])('parseSpiffeId refuses an ID with %s', (_why, uri) => {
    expect(parseSpiffeId(uri)).toBeNull();
  });

  test('formatSpiffeId refuses any id containing a character outside the SPIFFE segment grammar', () => {
    const bad = fc
      .tuple(validId, fc.string({ minLength: 1, maxLength: 3 }), validId)
      .filter(([, mid]) => /[^A-Za-z0-9._-]/.test(mid))
      .map(([a, mid, b]) => `${a}${mid}${b}`);
    fc.assert(
      fc.property(bad, (id) => {
        expect(() => formatSpiffeId('cluster.test', 'tenant', id)).toThrow(RangeError);
        expect(parseSpiffeId(`spiffe://cluster.test/tenant/${id}`)).toBeNull();
      }),
    );
  });
});
