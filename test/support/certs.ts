import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';
import type { CertificateAuthority } from '../../src/pki/index.js';

/**
 * A clientAuth leaf signed directly with the CA key, bypassing issueCertificate, for certificates
 * the real issuer refuses to make (two URI SANs, a server role used as a client).
 */
export function forgeClientCert(ca: CertificateAuthority, uris: readonly string[]): { key: string; cert: string } {
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(pair.publicKey.export({ type: 'spki', format: 'pem' }).toString());
  cert.serialNumber = '4' + randomBytes(8).toString('hex');
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  cert.setSubject([{ name: 'commonName', value: 'hand-made' }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', critical: true, cA: false },
    { name: 'extKeyUsage', clientAuth: true },
    { name: 'subjectAltName', altNames: uris.map((value) => ({ type: 6, value })) },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(ca.keyPem), forge.md.sha256.create());
  return { key: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), cert: forge.pki.certificateToPem(cert) };
}
