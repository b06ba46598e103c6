import { beforeAll, describe, expect, test } from 'vitest';
import { type CertificateAuthority, type IssuedCertificate, createCertificateAuthority, issueCertificate } from '../../src/pki/index.js';
import { forgeClientCert } from '../support/certs.js';
import { handshake } from './tls-handshake.js';

// Real OpenSSL handshakes decide these, not our own parsing: what the sidecar will actually accept.
describe('certificates in real mTLS handshakes', () => {
  let ca: CertificateAuthority;
  let server: IssuedCertificate;
  let worker: IssuedCertificate;
  let serverEnd: { key: string; cert: string; ca: string };

  beforeAll(async () => {
    ca = await createCertificateAuthority({ trustDomain: 'cluster.test' });
    [server, worker] = await Promise.all([
      issueCertificate(ca, { role: 'server', id: 'sidecar' }),
      issueCertificate(ca, { role: 'worker', id: 'w1' }),
    ]);
    serverEnd = { key: server.keyPem, cert: server.certPem, ca: ca.certPem };
  });

  test('a worker certificate is accepted and presents exactly its own SPIFFE ID', async () => {
    const result = await handshake(serverEnd, { key: worker.keyPem, cert: worker.certPem, ca: ca.certPem });
    expect(result.serverError).toBeNull();
    expect(result.serverAccepted).toBe(true);
    expect(result.clientUris).toEqual(['spiffe://cluster.test/worker/w1']);
  });

  test('the server certificate is valid for localhost, 127.0.0.1 and ::1 by default', async () => {
    const client = { key: worker.keyPem, cert: worker.certPem, ca: ca.certPem };
    for (const name of ['localhost', '127.0.0.1', '::1']) {
      const result = await handshake(serverEnd, client, name);
      expect(result.clientError, name).toBeNull();
    }
    const wrongHost = await handshake(serverEnd, client, 'elsewhere.test');
    expect(wrongHost.clientAccepted).toBe(false);
    expect(wrongHost.clientError).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  test("the sidecar's server certificate cannot log in as a client (serverAuth only, N1)", async () => {
    const result = await handshake(serverEnd, { key: server.keyPem, cert: server.certPem, ca: ca.certPem });
    expect(result.serverAccepted).toBe(false);
    expect(result.serverError).toBe('INVALID_PURPOSE');
  });

  test('a tenant certificate cannot serve TLS (clientAuth only, N1)', async () => {
    const tenant = await issueCertificate(ca, { role: 'tenant', id: 'acme' });
    const result = await handshake(
      { key: tenant.keyPem, cert: tenant.certPem, ca: ca.certPem },
      { key: worker.keyPem, cert: worker.certPem, ca: ca.certPem },
    );
    expect(result.clientAccepted).toBe(false);
    expect(result.clientError).toBe('INVALID_PURPOSE');
  });

  test('a certificate from another CA, even for the same trust domain, is refused', async () => {
    const otherCa = await createCertificateAuthority({ trustDomain: 'cluster.test' });
    const impostor = await issueCertificate(otherCa, { role: 'operator', id: 'admin' });
    const result = await handshake(serverEnd, { key: impostor.keyPem, cert: impostor.certPem, ca: ca.certPem });
    expect(result.serverAccepted).toBe(false);
    expect(result.serverError).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  test('a certificate issued with a past clock is refused as expired, one with a future clock as not yet valid', async () => {
    const day = 86_400_000;
    const [expired, early] = await Promise.all([
      issueCertificate(ca, { role: 'worker', id: 'old', validityDays: 1, now: new Date(Date.now() - 3 * day) }),
      issueCertificate(ca, { role: 'worker', id: 'early', now: new Date(Date.now() + day) }),
    ]);
    const late = await handshake(serverEnd, { key: expired.keyPem, cert: expired.certPem, ca: ca.certPem });
    expect(late.serverError).toBe('CERT_HAS_EXPIRED');
    const soon = await handshake(serverEnd, { key: early.keyPem, cert: early.certPem, ca: ca.certPem });
    expect(soon.serverError).toBe('CERT_NOT_YET_VALID');
  });

  test("the CA's name constraint refuses a certificate for another trust domain even if signed with the CA key", async () => {
    // issueCertificate cannot do this (the trust domain always comes from the CA), so build the
    // certificates by hand with the real CA key: what a holder of a leaked key would try.
    const inDomain = forgeClientCert(ca, ['spiffe://cluster.test/operator/admin']);
    const control = await handshake(serverEnd, { ...inDomain, ca: ca.certPem });
    expect(control.serverError).toBeNull(); // the hand-made certificate is otherwise acceptable

    const otherDomain = forgeClientCert(ca, ['spiffe://other.test/operator/admin']);
    const rogue = await handshake(serverEnd, { ...otherDomain, ca: ca.certPem });
    expect(rogue.serverAccepted).toBe(false);
    // Node has no name for X509_V_ERR_PERMITTED_VIOLATION and reports it as UNSPECIFIED.
    expect(rogue.serverError).toBe('UNSPECIFIED');
  });
});
