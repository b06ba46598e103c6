import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';
import type { CertificateAuthority } from '../../src/pki/index.js';

/** What a hand-made leaf carries besides its URI SANs; each field replaces the SVID default. */
export interface ForgedCertOptions {
  /** basicConstraints cA (default false). */
  readonly ca?: boolean;
  /** keyUsage bits, or null for no keyUsage extension (default: digitalSignature + keyEncipherment). */
  readonly keyUsage?: { digitalSignature?: boolean; keyEncipherment?: boolean; keyAgreement?: boolean; keyCertSign?: boolean; cRLSign?: boolean } | null;
  /** extKeyUsage purposes, or null for no EKU extension (default: clientAuth). */
  readonly extKeyUsage?: { clientAuth?: boolean; serverAuth?: boolean; codeSigning?: boolean } | null;
  /** Extra SANs after the URIs: DNS names, IP addresses, e-mail addresses. */
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly emails?: readonly string[];
}

/**
 * A leaf signed directly with the CA key, bypassing issueCertificate, for certificates the real
 * issuer refuses to make (two URI SANs, a server role used as a client, DNS SANs on a client, no
 * clientAuth EKU, a CA leaf): what a holder of the CA key, or a buggy issuer, could produce.
 * With no options it is a well-formed X.509-SVID client certificate, as issueCertificate makes.
 */
export function forgeClientCert(ca: CertificateAuthority, uris: readonly string[], options: ForgedCertOptions = {}): { key: string; cert: string } {
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(pair.publicKey.export({ type: 'spki', format: 'pem' }).toString());
  cert.serialNumber = '4' + randomBytes(8).toString('hex');
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  cert.setSubject([{ name: 'commonName', value: 'hand-made' }]);
  cert.setIssuer(caCert.subject.attributes);
  const keyUsage = options.keyUsage === undefined ? { digitalSignature: true, keyEncipherment: true } : options.keyUsage;
  const extKeyUsage = options.extKeyUsage === undefined ? { clientAuth: true } : options.extKeyUsage;
  cert.setExtensions([
    { name: 'basicConstraints', critical: true, cA: options.ca ?? false },
    ...(keyUsage ? [{ name: 'keyUsage', critical: true, ...keyUsage }] : []),
    ...(extKeyUsage ? [{ name: 'extKeyUsage', ...extKeyUsage }] : []),
    {
      name: 'subjectAltName',
      altNames: [
        ...uris.map((value) => ({ type: 6, value })),
        ...(options.dnsNames ?? []).map((value) => ({ type: 2, value })),
        ...(options.ipAddresses ?? []).map((ip) => ({ type: 7, ip })),
        ...(options.emails ?? []).map((value) => ({ type: 1, value })),
      ],
    },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(ca.keyPem), forge.md.sha256.create());
  return { key: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), cert: forge.pki.certificateToPem(cert) };
}
