import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import {
  type InitializedPki,
  initPkiDirectory,
  issueCertificate,
  loadCertificateAuthority,
  pkiPaths,
  saveCertificateAuthority,
  saveIssuedCertificate,
} from '../../src/pki/index.js';
import { TgError } from '../../src/errors.js';
import { handshake } from './tls-handshake.js';
import { rejection, tempDirs } from './helpers.js';

const freshDir = tempDirs('tg-pki-');

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

describe('PKI directory', () => {
  // One initialised directory, copied per test where a test changes it; CA keys cost ~0.5 s each.
  let initialized: InitializedPki;
  let initDir: string;

  beforeAll(async () => {
    initDir = await mkdtemp(join(tmpdir(), 'tg-pki-init-'));
    initialized = await initPkiDirectory(join(initDir, 'pki'), { trustDomain: 'cluster.test' });
    return async () => rm(initDir, { recursive: true, force: true });
  });

  test('init writes the CA, a server and an operator certificate in the documented layout', async () => {
    const { paths } = initialized;
    expect(paths.caCert).toBe(join(initDir, 'pki', 'ca.crt'));
    expect(await readFile(paths.caCert, 'utf8')).toBe(initialized.ca.certPem);
    expect(await readFile(paths.certificate('server', 'tenantguard'), 'utf8')).toBe(initialized.server.certPem);
    expect(await readFile(paths.privateKey('operator', 'admin'), 'utf8')).toBe(initialized.operator.keyPem);
    expect(initialized.server.spiffeId).toBe('spiffe://cluster.test/server/tenantguard');
    expect(initialized.operator.spiffeId).toBe('spiffe://cluster.test/operator/admin');
    // Durable writes leave no temporary files behind; issued.json remembers every serial (issue 17.8).
    expect((await readdir(paths.dir)).sort()).toEqual(['ca.crt', 'ca.key', 'issued.json', 'operator', 'server']);
    expect((await readdir(join(paths.dir, 'operator'))).sort()).toEqual(['admin.crt', 'admin.key']);
  });

  test('private keys are 0600 and their directories 0700; certificates are world-readable (L1)', async () => {
    const { paths } = initialized;
    expect(await mode(paths.caKey)).toBe(0o600);
    expect(await mode(paths.privateKey('server', 'tenantguard'))).toBe(0o600);
    expect(await mode(paths.privateKey('operator', 'admin'))).toBe(0o600);
    expect(await mode(paths.dir)).toBe(0o700);
    expect(await mode(join(paths.dir, 'operator'))).toBe(0o700);
    expect(await mode(paths.caCert)).toBe(0o644);
    expect(await mode(paths.certificate('operator', 'admin'))).toBe(0o644);
  });

  test('the files init wrote complete a real mTLS handshake with the operator certificate', async () => {
    const { paths } = initialized;
    const read = (path: string): Promise<string> => readFile(path, 'utf8');
    const result = await handshake(
      {
        key: await read(paths.privateKey('server', 'tenantguard')),
        cert: await read(paths.certificate('server', 'tenantguard')),
        ca: await read(paths.caCert),
      },
      {
        key: await read(paths.privateKey('operator', 'admin')),
        cert: await read(paths.certificate('operator', 'admin')),
        ca: await read(paths.caCert),
      },
    );
    expect(result.serverError).toBeNull();
    expect(result.clientError).toBeNull();
    expect(result.clientUris).toEqual(['spiffe://cluster.test/operator/admin']);
  });

  test('a reloaded CA keeps its trust domain and issues certificates that verify against the saved ca.crt', async () => {
    const loaded = await loadCertificateAuthority(initialized.paths.dir);
    expect(loaded.trustDomain).toBe('cluster.test');
    expect(loaded.notAfter.getTime()).toBe(initialized.ca.notAfter.getTime());
    const tenant = await issueCertificate(loaded, { role: 'tenant', id: 'acme' });
    const savedCa = new X509Certificate(await readFile(initialized.paths.caCert, 'utf8'));
    expect(new X509Certificate(tenant.certPem).verify(savedCa.publicKey)).toBe(true);
  });

  test('init refuses to replace an existing CA unless forced, and leaves it untouched', async () => {
    const dir = await freshDir();
    const { ca } = initialized;
    const paths = await saveCertificateAuthority(dir, ca);
    const error = await rejection(initPkiDirectory(dir, { trustDomain: 'cluster.test' }));
    expect(error.code).toBe('TG_ERR_PKI_EXISTS');
    expect(error.status).toBe(409);
    expect(await readFile(paths.caKey, 'utf8')).toBe(ca.keyPem);
    expect((await rejection(saveCertificateAuthority(dir, ca))).code).toBe('TG_ERR_PKI_EXISTS');

    const replaced = await initPkiDirectory(dir, { trustDomain: 'other.test', force: true });
    expect(await readFile(paths.caKey, 'utf8')).toBe(replaced.ca.keyPem);
    expect((await loadCertificateAuthority(dir)).trustDomain).toBe('other.test');
  });

  test('a lone ca.crt without its key also counts as an existing CA', async () => {
    const dir = await freshDir();
    await writeFile(pkiPaths(dir).caCert, initialized.ca.certPem);
    expect((await rejection(initPkiDirectory(dir, { trustDomain: 'cluster.test' }))).code).toBe('TG_ERR_PKI_EXISTS');
  });

  test('loading refuses a directory whose CA key does not belong to its certificate', async () => {
    const dir = await freshDir();
    const paths = pkiPaths(dir);
    await writeFile(paths.caCert, initialized.ca.certPem);
    await writeFile(paths.caKey, initialized.server.keyPem); // a real key, just not the CA's
    const error = await rejection(loadCertificateAuthority(dir));
    expect(error.code).toBe('TG_ERR_PKI_INVALID');
    expect(error.reasons).toEqual(['ca_key_mismatch']);
    // L1: key material never ends up in an error.
    expect(JSON.stringify(error.toBody())).not.toContain('PRIVATE KEY');
  });

  test('loading refuses a missing CA and a leaf certificate posing as the CA', async () => {
    const dir = await freshDir();
    expect((await rejection(loadCertificateAuthority(dir))).reasons).toEqual(['ca_files_missing']);
    const paths = pkiPaths(dir);
    await writeFile(paths.caCert, initialized.operator.certPem);
    await writeFile(paths.caKey, initialized.operator.keyPem);
    expect((await rejection(loadCertificateAuthority(dir))).reasons).toEqual(['ca_cert_not_a_ca']);
  });

  test('re-issuing a certificate for the same id replaces both files and leaves no temporary files', async () => {
    const dir = await freshDir();
    const first = await issueCertificate(initialized.ca, { role: 'worker', id: 'w1' });
    const second = await issueCertificate(initialized.ca, { role: 'worker', id: 'w1' });
    await saveIssuedCertificate(dir, first);
    const written = await saveIssuedCertificate(dir, second);
    expect(written).toEqual({ certificate: join(dir, 'worker', 'w1.crt'), privateKey: join(dir, 'worker', 'w1.key') });
    expect(await readFile(written.certificate, 'utf8')).toBe(second.certPem);
    expect(await readFile(written.privateKey, 'utf8')).toBe(second.keyPem);
    expect((await readdir(join(dir, 'worker'))).sort()).toEqual(['w1.crt', 'w1.key']);
  });

  test('paths for ids that could escape the directory are refused', () => {
    const paths = pkiPaths('/srv/pki');
    expect(paths.certificate('tenant', 'acme')).toBe('/srv/pki/tenant/acme.crt');
    for (const id of ['..', '.', '../ca', 'a/b', '']) {
      expect(() => paths.privateKey('tenant', id)).toThrow(TgError);
    }
  });
});
