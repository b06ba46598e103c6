import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadCertificateAuthority, type CertificateAuthority } from '../../src/pki/index.js';
import { forgeClientCert, type ForgedCertOptions } from '../support/certs.js';
import { startTestSidecar, type ClientCredential, type TestSidecar } from '../support/sidecar.js';

// Issue 20.10a: the CA's signature alone made a certificate a principal. These certificates are
// signed with the real test CA's key (what a leaked CA key or a buggy issuer produces) and sent in
// a real mTLS handshake; the X.509-SVID rules are enforced at verification, on both dispatchers.

let tg: TestSidecar;
let ca: CertificateAuthority;

beforeAll(async () => {
  tg = await startTestSidecar();
  ca = await loadCertificateAuthority(tg.setup.dir + '/pki');
});
afterAll(async () => tg?.close());

const OPERATOR = 'spiffe://tenantguard.local/operator/admin';
const WORKER = 'spiffe://tenantguard.local/worker/gpu-0';

/** The Express routes (an operator route) and the block fast path (a worker route). */
const dispatchers = [
  { name: 'Express (GET /v1/tenants)', uri: OPERATOR, method: 'GET', path: '/v1/tenants', body: undefined },
  { name: 'fast path (POST /v1/blocks/allocate)', uri: WORKER, method: 'POST', path: '/v1/blocks/allocate', body: { tenant: 'free-demo', request_id: 'svid-1', count: 1 } },
] as const;

async function answer(credential: ClientCredential, d: (typeof dispatchers)[number]): Promise<{ status: number; code: string; reasons: string[] }> {
  const res = await tg.call(credential, d.method, d.path, d.body);
  const error = (res.body as { error?: { code?: string; reasons?: string[] } }).error;
  return { status: res.status, code: error?.code ?? '', reasons: error?.reasons ?? [] };
}

const notSvid: Array<[string, ForgedCertOptions, string]> = [
  ['no extended key usage at all', { extKeyUsage: null }, 'missing_client_auth'],
  ['an extended key usage without clientAuth (codeSigning)', { extKeyUsage: { codeSigning: true } }, 'missing_client_auth'],
  ['a DNS SAN beside its SPIFFE id', { dnsNames: ['evil.example'] }, 'extra_san:dns'],
  ['an IP SAN beside its SPIFFE id', { ipAddresses: ['10.0.0.1'] }, 'extra_san:ip'],
  ['an e-mail SAN beside its SPIFFE id', { emails: ['a@b.example'] }, 'extra_san:email'],
  ['basicConstraints cA: true (a leaf that is a CA)', { ca: true, keyUsage: { digitalSignature: true, keyCertSign: true } }, 'leaf_is_ca'],
  ['no keyUsage extension', { keyUsage: null }, 'missing_digital_signature'],
  ['keyUsage without digitalSignature (keyAgreement only)', { keyUsage: { keyAgreement: true } }, 'missing_digital_signature'],
  ['keyUsage keyCertSign on a leaf', { keyUsage: { digitalSignature: true, keyCertSign: true } }, 'key_cert_sign'],
  ['keyUsage cRLSign on a leaf', { keyUsage: { digitalSignature: true, cRLSign: true } }, 'crl_sign'],
];

describe('X.509-SVID rules are enforced when a client certificate is verified, not only at issuance (issue 20.10a)', () => {
  test.each(dispatchers)('control: a hand-made certificate that follows the SVID rules is accepted on the $name', async (d) => {
    const cert = forgeClientCert(ca, [d.uri]);
    expect((await answer(cert, d)).status).toBe(200);
  });

  for (const d of dispatchers) {
    test.each(notSvid)(`${d.name}: a CA-signed certificate with %s is refused with 401 TG_ERR_CERT_NOT_SVID`, async (_what, options, reason) => {
      const cert = forgeClientCert(ca, [d.uri], options);
      expect(await answer(cert, d)).toEqual({ status: 401, code: 'TG_ERR_CERT_NOT_SVID', reasons: [reason] });
    });
  }

  test.each(dispatchers)('a refused certificate is not rescued by a valid API key on the $name', async (d) => {
    const cert = forgeClientCert(ca, [d.uri], { dnsNames: ['evil.example'] });
    const res = await answer({ ...cert, bearer: tg.setup.apiKeys['free-demo']! }, d);
    expect(res.status).toBe(401);
    expect(res.code).toBe('TG_ERR_CERT_NOT_SVID');
  });
});
