import { X509Certificate, createPrivateKey } from 'node:crypto';
import forge from 'node-forge';
import { beforeAll, describe, expect, test } from 'vitest';
import { TgError } from '../../src/errors.js';
import {
  type CertificateAuthority,
  type CertificateRole,
  type IssuedCertificate,
  createCertificateAuthority,
  issueCertificate,
} from '../../src/pki/index.js';

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const DAY = 86_400_000;

function extension(pem: string, name: string): Record<string, unknown> {
  const ext: unknown = forge.pki.certificateFromPem(pem).getExtension(name);
  expect(ext, name).toBeDefined();
  return ext as Record<string, unknown>;
}

function sanEntries(pem: string): string[] {
  return (new X509Certificate(pem).subjectAltName ?? '').split(', ');
}

async function expectTgError(promise: Promise<unknown>, code: string): Promise<TgError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TgError);
  expect((error as TgError).code).toBe(code);
  return error as TgError;
}

describe('certificate authority and issued certificates', () => {
  let ca: CertificateAuthority;
  const issued = new Map<CertificateRole, IssuedCertificate>();

  beforeAll(async () => {
    ca = await createCertificateAuthority({ trustDomain: 'cluster.test' });
    const roles: CertificateRole[] = ['operator', 'worker', 'tenant', 'server'];
    const certs = await Promise.all(roles.map((role) => issueCertificate(ca, { role, id: `${role}-1` })));
    for (const cert of certs) issued.set(cert.role, cert);
  });

  test('the CA is a self-signed, critical CA:TRUE with path length 0 that may only sign certificates', () => {
    const x509 = new X509Certificate(ca.certPem);
    expect(x509.ca).toBe(true);
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(x509.checkPrivateKey(createPrivateKey(ca.keyPem))).toBe(true);
    expect(extension(ca.certPem, 'basicConstraints')).toMatchObject({ critical: true, cA: true, pathLenConstraint: 0 });
    const usage = extension(ca.certPem, 'keyUsage');
    expect(usage).toMatchObject({ critical: true, keyCertSign: true, cRLSign: true });
    expect(usage.digitalSignature).toBeFalsy();
    expect(ca.trustDomain).toBe('cluster.test');
  });

  test('the CA names its trust domain and is name-constrained to exactly that trust domain', () => {
    expect(sanEntries(ca.certPem)).toEqual(['URI:spiffe://cluster.test']);
    const constraints = extension(ca.certPem, 'nameConstraints');
    expect(constraints.critical).toBe(true);
    expect(constraints.permittedSubtrees).toEqual([{ type: 6, value: 'cluster.test' }]);
    expect(constraints.excludedSubtrees).toEqual([]);
  });

  test('two CAs never share a subject name, so a verifier cannot mistake one for the other', async () => {
    const other = await createCertificateAuthority({ trustDomain: 'cluster.test' });
    expect(new X509Certificate(other.certPem).subject).not.toBe(new X509Certificate(ca.certPem).subject);
  });

  test.each(['operator', 'worker', 'tenant', 'server'] as const)(
    'a %s certificate carries exactly one URI SAN, its own SPIFFE ID (X.509-SVID rule)',
    (role) => {
      const cert = issued.get(role);
      if (!cert) throw new Error('not issued');
      const uris = sanEntries(cert.certPem).filter((entry) => entry.startsWith('URI:'));
      expect(uris).toEqual([`URI:spiffe://cluster.test/${role}/${role}-1`]);
      expect(cert.spiffeId).toBe(`spiffe://cluster.test/${role}/${role}-1`);
    },
  );

  test.each(['operator', 'worker', 'tenant'] as const)(
    'a %s certificate is a clientAuth-only leaf without host names (N1)',
    (role) => {
      const cert = issued.get(role);
      if (!cert) throw new Error('not issued');
      const x509 = new X509Certificate(cert.certPem);
      expect(x509.keyUsage).toEqual([CLIENT_AUTH]);
      expect(x509.ca).toBe(false);
      expect(sanEntries(cert.certPem)).toHaveLength(1);
    },
  );

  test('the server certificate is a serverAuth-only leaf naming localhost and loopback addresses', () => {
    const server = issued.get('server');
    if (!server) throw new Error('not issued');
    expect(new X509Certificate(server.certPem).keyUsage).toEqual([SERVER_AUTH]);
    expect(sanEntries(server.certPem)).toEqual([
      'URI:spiffe://cluster.test/server/server-1',
      'DNS:localhost',
      'IP Address:127.0.0.1',
      'IP Address:0:0:0:0:0:0:0:1',
    ]);
  });

  test('every leaf is a critical CA:FALSE signed by the CA, with its own matching key and the CA as authority', () => {
    const caX509 = new X509Certificate(ca.certPem);
    for (const cert of issued.values()) {
      const x509 = new X509Certificate(cert.certPem);
      expect(x509.verify(caX509.publicKey)).toBe(true);
      // checkIssued also matches the leaf's authority key identifier against the CA's key id.
      expect(x509.checkIssued(caX509)).toBe(true);
      expect(x509.checkPrivateKey(createPrivateKey(cert.keyPem))).toBe(true);
      expect(extension(cert.certPem, 'basicConstraints')).toMatchObject({ critical: true, cA: false });
      const usage = extension(cert.certPem, 'keyUsage');
      expect(usage).toMatchObject({ critical: true, digitalSignature: true });
      expect(usage.keyCertSign).toBeFalsy();
      expect(forge.pki.certificateFromPem(cert.certPem).getExtension('authorityKeyIdentifier')).toBeDefined();
      expect(x509.fingerprint256).toBe(cert.fingerprint256);
    }
  });

  test('serial numbers are 128-bit, positive, unique, and reported as the certificate spells them', () => {
    const serials = [...issued.values()].map((cert) => cert.serialNumber);
    expect(new Set(serials).size).toBe(serials.length);
    for (const cert of issued.values()) {
      expect(cert.serialNumber).toMatch(/^[4-7][0-9a-f]{31}$/);
      expect(new X509Certificate(cert.certPem).serialNumber.toLowerCase()).toBe(cert.serialNumber);
    }
  });

  test('a leaf is valid from five minutes before issuance (clock skew) for 90 days by default', async () => {
    const now = new Date('2027-01-01T00:00:00Z');
    const cert = await issueCertificate(ca, { role: 'worker', id: 'w-clock', now });
    expect(cert.notBefore.getTime()).toBe(now.getTime() - 5 * 60_000);
    expect(cert.notAfter.getTime()).toBe(now.getTime() + 90 * DAY);
    const x509 = new X509Certificate(cert.certPem);
    expect(new Date(x509.validFrom).getTime()).toBe(cert.notBefore.getTime());
    expect(new Date(x509.validTo).getTime()).toBe(cert.notAfter.getTime());
  });

  test('a leaf never outlives its CA: a longer validity is clamped to the CA expiry', async () => {
    const shortCa = await createCertificateAuthority({ trustDomain: 'short.test', validityDays: 10 });
    const cert = await issueCertificate(shortCa, { role: 'tenant', id: 'acme', validityDays: 365 });
    expect(cert.notAfter.getTime()).toBe(new Date(new X509Certificate(shortCa.certPem).validTo).getTime());
    expect(cert.notAfter.getTime()).toBeLessThan(Date.now() + 11 * DAY);
  });

  test('an expired CA issues nothing', async () => {
    const oldCa = await createCertificateAuthority({
      trustDomain: 'old.test',
      validityDays: 1,
      now: new Date(Date.now() - 3 * DAY),
    });
    const error = await expectTgError(issueCertificate(oldCa, { role: 'tenant', id: 'acme' }), 'TG_ERR_PKI_INVALID');
    expect(error.reasons).toEqual(['ca_expired']);
  });

  test.each([
    ['an id outside the SPIFFE grammar', { role: 'tenant', id: 'acme/../operator' }],
    ['a dot-dot id', { role: 'tenant', id: '..' }],
    ['an empty id', { role: 'worker', id: '' }],
    ['a host name on a client certificate', { role: 'tenant', id: 'acme', dnsNames: ['acme.example'] }],
    ['an IP address on a client certificate', { role: 'worker', id: 'w1', ipAddresses: ['10.0.0.1'] }],
    ['a malformed server host name', { role: 'server', id: 's', dnsNames: ['bad host'] }],
    ['a malformed server IP address', { role: 'server', id: 's', ipAddresses: ['10.0.0.300'] }],
    ['a server certificate without names', { role: 'server', id: 's', dnsNames: [], ipAddresses: [] }],
    ['a zero validity', { role: 'tenant', id: 'acme', validityDays: 0 }],
    ['an endless validity', { role: 'tenant', id: 'acme', validityDays: Number.POSITIVE_INFINITY }],
  ] as const)('issuing is refused as a bad request for %s', async (_why, request) => {
    const error = await expectTgError(issueCertificate(ca, request), 'TG_ERR_BAD_REQUEST');
    // L1: the refusal explains the rule without echoing what was sent.
    const text = JSON.stringify(error.toBody());
    expect(text).not.toContain('acme/../operator');
    expect(text).not.toContain('bad host');
  });

  test('an invalid trust domain is refused before any key is generated', async () => {
    for (const trustDomain of ['Cluster.test', '.cluster.test', 'cluster.test/x', '']) {
      await expectTgError(createCertificateAuthority({ trustDomain }), 'TG_ERR_BAD_REQUEST');
    }
  });

  test('a server certificate can name other hosts and addresses', async () => {
    const cert = await issueCertificate(ca, {
      role: 'server',
      id: 'edge',
      dnsNames: ['sidecar.cluster.internal'],
      ipAddresses: ['10.1.2.3'],
    });
    expect(sanEntries(cert.certPem)).toEqual([
      'URI:spiffe://cluster.test/server/edge',
      'DNS:sidecar.cluster.internal',
      'IP Address:10.1.2.3',
    ]);
  });
});
