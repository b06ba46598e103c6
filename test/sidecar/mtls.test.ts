import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  createCertificateAuthority,
  issueCertificate,
  loadCertificateAuthority,
  revokeCertificate,
  type CertificateAuthority,
} from '../../src/pki/index.js';
import { forgeClientCert } from '../support/certs.js';
import { startTestSidecar, type ClientCredential, type TestSidecar } from '../support/sidecar.js';

let tg: TestSidecar;
let ca: CertificateAuthority;

beforeAll(async () => {
  tg = await startTestSidecar();
  ca = await loadCertificateAuthority(tg.setup.dir + '/pki');
});
afterAll(async () => tg.close());

const allocate = { tenant: 'free-demo', request_id: 'r1', count: 1 };

async function errorCode(credential: ClientCredential, method: string, path: string, body?: unknown): Promise<[number, string]> {
  const res = await tg.call(credential, method, path, body);
  const code = (res.body as { error?: { code?: string } }).error?.code ?? '';
  return [res.status, code];
}

describe('each role works on its own routes over real mTLS (N1)', () => {
  test('the operator certificate reads the tenant registry and the policy', async () => {
    const tenants = await tg.call(tg.operator, 'GET', '/v1/tenants');
    expect(tenants.status).toBe(200);
    expect((tenants.body as { tenants: { id: string }[] }).tenants.map((t) => t.id)).toContain('enterprise-demo');
    expect((await tg.call(tg.operator, 'GET', '/v1/policy')).status).toBe(200);
  });

  test('the worker certificate allocates blocks', async () => {
    const res = await tg.call(tg.worker, 'POST', '/v1/blocks/allocate', allocate);
    expect(res.status).toBe(200);
  });

  test('a tenant certificate and a tenant API key read their own usage', async () => {
    expect((await tg.call(tg.tenantCert('standard-demo'), 'GET', '/v1/usage')).status).toBe(200);
    expect((await tg.call(tg.tenantKey('free-demo'), 'GET', '/v1/usage')).status).toBe(200);
  });

  test('an enterprise tenant with its certificate is accepted', async () => {
    expect((await tg.call(tg.tenantCert('enterprise-demo'), 'GET', '/v1/usage')).status).toBe(200);
  });
});

describe('principals are refused outside their role', () => {
  test('a tenant certificate on a worker route is 403', async () => {
    expect(await errorCode(tg.tenantCert('free-demo'), 'POST', '/v1/blocks/allocate', allocate)).toEqual([403, 'TG_ERR_ROLE_DENIED']);
  });

  test('a worker certificate on an operator route is 403', async () => {
    expect(await errorCode(tg.worker, 'GET', '/v1/tenants')).toEqual([403, 'TG_ERR_ROLE_DENIED']);
  });

  test('a tenant API key on an operator route is 403', async () => {
    expect(await errorCode(tg.tenantKey('free-demo'), 'GET', '/v1/policy')).toEqual([403, 'TG_ERR_ROLE_DENIED']);
  });

  test('an enterprise tenant using only its API key is refused (mTLS required)', async () => {
    expect(await errorCode(tg.tenantKey('enterprise-demo'), 'GET', '/v1/usage')).toEqual([403, 'TG_ERR_MTLS_REQUIRED']);
  });
});

describe('unauthenticated callers get a precise 401', () => {
  test('no certificate and no key', async () => {
    expect(await errorCode({}, 'GET', '/v1/tenants')).toEqual([401, 'TG_ERR_NO_CREDENTIALS']);
  });

  test('a wrong API key', async () => {
    expect(await errorCode({ bearer: 'tg_' + 'x'.repeat(43) }, 'GET', '/v1/usage')).toEqual([401, 'TG_ERR_UNKNOWN_API_KEY']);
  });

  test('a certificate from another CA', async () => {
    const other = await createCertificateAuthority({ trustDomain: 'tenantguard.local' });
    const cert = await issueCertificate(other, { role: 'operator', id: 'admin' });
    expect(await errorCode({ cert: cert.certPem, key: cert.keyPem }, 'GET', '/v1/tenants')).toEqual([401, 'TG_ERR_CERT_UNTRUSTED']);
  });

  test('an expired certificate', async () => {
    const cert = await issueCertificate(ca, { role: 'operator', id: 'admin', validityDays: 1, now: new Date(Date.now() - 3 * 86_400_000) });
    expect(await errorCode({ cert: cert.certPem, key: cert.keyPem }, 'GET', '/v1/tenants')).toEqual([401, 'TG_ERR_CERT_EXPIRED']);
  });

  test('a not-yet-valid certificate', async () => {
    const cert = await issueCertificate(ca, { role: 'operator', id: 'admin', validityDays: 30, now: new Date(Date.now() + 3 * 86_400_000) });
    expect(await errorCode({ cert: cert.certPem, key: cert.keyPem }, 'GET', '/v1/tenants')).toEqual([401, 'TG_ERR_CERT_NOT_YET_VALID']);
  });

  test('a certificate with two URI SANs', async () => {
    const cert = forgeClientCert(ca, ['spiffe://tenantguard.local/operator/admin', 'spiffe://tenantguard.local/tenant/free-demo']);
    expect(await errorCode(cert, 'GET', '/v1/tenants')).toEqual([401, 'TG_ERR_BAD_SPIFFE_ID']);
  });

  test('a certificate of the server role used as a client', async () => {
    const cert = forgeClientCert(ca, ['spiffe://tenantguard.local/server/tenantguard']);
    expect(await errorCode(cert, 'GET', '/v1/tenants')).toEqual([401, 'TG_ERR_BAD_SPIFFE_ID']);
  });

  test('a certificate from another trust domain', async () => {
    // The CA's name constraint makes OpenSSL refuse it at verification; either way it is a 401.
    const cert = forgeClientCert(ca, ['spiffe://evil.example/operator/admin']);
    const [status] = await errorCode(cert, 'GET', '/v1/tenants');
    expect(status).toBe(401);
  });

  test('a certificate revoked while the server runs is refused from then on', async () => {
    const cert = await issueCertificate(ca, { role: 'operator', id: 'soon-revoked' });
    const credential = { cert: cert.certPem, key: cert.keyPem };
    expect((await tg.call(credential, 'GET', '/v1/tenants')).status).toBe(200);
    await revokeCertificate(tg.setup.dir + '/pki', cert.serialNumber);
    let last: [number, string] = [0, ''];
    for (let i = 0; i < 50; i++) {
      last = await errorCode(credential, 'GET', '/v1/tenants');
      if (last[0] === 401) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(last).toEqual([401, 'TG_ERR_CERT_REVOKED']);
  });

  test('a TLS 1.2-only client cannot complete a handshake', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: tg.sidecar.port, ca: tg.ca, servername: 'localhost', maxVersion: 'TLSv1.2' });
      socket.once('secureConnect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    expect(outcome).not.toBe('connected');
  });

  test('error bodies carry no stack trace', async () => {
    const res = await tg.call({}, 'GET', '/v1/tenants');
    expect(JSON.stringify(res.body)).not.toMatch(/\bat .*\.(js|ts):\d+/);
  });
});

describe('health', () => {
  test('/readyz is 200 with the loaded policy revision, without credentials', async () => {
    const res = await tg.call({}, 'GET', '/readyz');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ready', policy_revision: expect.stringMatching(/^[0-9a-f]{16}$/) });
  });
});
