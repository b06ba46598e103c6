import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, test } from 'vitest';
import { clientSvidProblem, createCertificateAuthority, issueCertificate, type CertificateAuthority } from '../../src/pki/index.js';
import { forgeClientCert } from '../support/certs.js';

const der = (pem: string): Buffer => new X509Certificate(pem).raw;

let ca: CertificateAuthority;
beforeAll(async () => {
  ca = await createCertificateAuthority({ trustDomain: 'svid.test' });
});

describe('clientSvidProblem: the X.509-SVID client rules on a DER certificate (issue 20.10a)', () => {
  test('every client role issueCertificate makes passes', async () => {
    for (const role of ['operator', 'worker', 'tenant'] as const) {
      const issued = await issueCertificate(ca, { role, id: 'a' });
      expect(clientSvidProblem(der(issued.certPem))).toBeNull();
    }
  });

  test('the server certificate (serverAuth, DNS and IP SANs) and the CA certificate are not client SVIDs', async () => {
    const server = await issueCertificate(ca, { role: 'server', id: 'tenantguard' });
    expect(clientSvidProblem(der(server.certPem))).toBe('missing_client_auth');
    expect(clientSvidProblem(der(ca.certPem))).toBe('leaf_is_ca');
  });

  test('a certificate whose only SAN is a DNS name is caught', () => {
    const cert = forgeClientCert(ca, [], { dnsNames: ['a.example'] });
    expect(clientSvidProblem(der(cert.cert))).toBe('extra_san:dns');
  });

  test('bytes that are not a DER certificate (empty, truncated, garbage, an oversized length) are unparseable, never a pass', async () => {
    const good = der((await issueCertificate(ca, { role: 'worker', id: 'b' })).certPem);
    for (const bytes of [Buffer.alloc(0), good.subarray(0, good.length - 10), Buffer.from('not a certificate'), Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff])]) {
      expect(clientSvidProblem(bytes)).toBe('unparseable');
    }
  });
});
