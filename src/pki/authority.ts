import { X509Certificate, createPrivateKey, generateKeyPair, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { Errors, TgError } from '../errors.js';
import { type CertificateRole, formatSpiffeId, isValidIdSegment, isValidTrustDomain } from './spiffe.js';

/** A dev certificate authority for one trust domain. Plain PEM data, so it can be saved and reloaded. */
export interface CertificateAuthority {
  readonly trustDomain: string;
  readonly certPem: string;
  /** PKCS#8 PEM, unencrypted. Key material: never log it (L1). */
  readonly keyPem: string;
  readonly notAfter: Date;
}

export interface CreateCaOptions {
  readonly trustDomain: string;
  /** Default 1825 (five years). */
  readonly validityDays?: number;
  /** Issue as if the clock read this; tests use it to make expired or not-yet-valid material. */
  readonly now?: Date;
}

export interface IssueRequest {
  readonly role: CertificateRole;
  readonly id: string;
  /** DNS SANs; `server` role only. Default for a server: ['localhost']. */
  readonly dnsNames?: readonly string[];
  /** IP SANs; `server` role only. Default for a server: ['127.0.0.1', '::1']. */
  readonly ipAddresses?: readonly string[];
  /** Default 90. Clamped so the certificate never outlives its CA. */
  readonly validityDays?: number;
  readonly now?: Date;
}

export interface IssuedCertificate {
  readonly role: CertificateRole;
  readonly id: string;
  readonly spiffeId: string;
  readonly certPem: string;
  /** PKCS#8 PEM, unencrypted. Key material: never log it (L1). */
  readonly keyPem: string;
  /** Lower-case hex without leading zeros, the form the revocation list stores. */
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Same format as Node's `getPeerCertificate().fingerprint256`, so it can be pinned directly. */
  readonly fingerprint256: string;
}

const DAY_MS = 86_400_000;
// Certificates start a little in the past so a peer whose clock lags ours does not reject a
// certificate issued a moment ago as not yet valid.
const CLOCK_SKEW_MS = 5 * 60_000;
const CA_KEY_BITS = 3072;
const LEAF_KEY_BITS = 2048;
const DEFAULT_CA_DAYS = 1825;
const DEFAULT_LEAF_DAYS = 90;
const MAX_DAYS = 36_500;
const OID_NAME_CONSTRAINTS = '2.5.29.30';
const SPIFFE_SCHEME = 'spiffe://';
const DNS_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

const generateKeyPairAsync = promisify(generateKeyPair);

interface KeyPair {
  readonly keyPem: string;
  readonly forgePublic: forge.pki.rsa.PublicKey;
}

/**
 * node-forge can only sign with RSA keys, and its pure-JS key generation takes seconds; Node's
 * native generator takes milliseconds and does not block the event loop.
 */
async function generateRsaKeyPair(bits: number): Promise<KeyPair> {
  const { publicKey, privateKey } = await generateKeyPairAsync('rsa', {
    modulusLength: bits,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { keyPem: privateKey, forgePublic: forge.pki.publicKeyFromPem(publicKey) };
}

/**
 * 128 random bits (CA/Browser Forum asks for at least 64), with the top bit cleared so the DER
 * INTEGER is positive and the next bit set so the hex form has no leading zero and a fixed length.
 */
function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return bytes.toString('hex');
}

/** X.509 times have whole seconds; returning the truncated value keeps our dates equal to the cert's. */
function wholeSeconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

function checkValidityDays(days: number): void {
  if (!Number.isFinite(days) || days <= 0 || days > MAX_DAYS) {
    throw new TgError(Errors.BAD_REQUEST, { reasons: [`validity must be more than 0 and at most ${MAX_DAYS} days`] });
  }
}

/**
 * The URI name constraint is the trust domain itself (an exact host match in RFC 5280), so even
 * with this CA's key nobody can mint a certificate for another trust domain that a verifier
 * trusting this CA would accept. Only URI names are constrained: server certificates still need
 * DNS and IP names.
 */
function uriNameConstraint(trustDomain: string): forge.asn1.Asn1 {
  const { asn1 } = forge;
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
        asn1.create(asn1.Class.CONTEXT_SPECIFIC, 6, false, trustDomain),
      ]),
    ]),
  ]);
}

/** Creates a self-signed CA for `trustDomain` that may sign leaf certificates only (path length 0). */
export async function createCertificateAuthority(options: CreateCaOptions): Promise<CertificateAuthority> {
  const { trustDomain } = options;
  if (!isValidTrustDomain(trustDomain)) {
    throw new TgError(Errors.BAD_REQUEST, { reasons: ['trust domain must be lowercase letters, digits, ".", "-" or "_"'] });
  }
  const validityDays = options.validityDays ?? DEFAULT_CA_DAYS;
  checkValidityDays(validityDays);
  const now = (options.now ?? new Date()).getTime();
  const { keyPem, forgePublic } = await generateRsaKeyPair(CA_KEY_BITS);

  const cert = forge.pki.createCertificate();
  cert.publicKey = forgePublic;
  cert.serialNumber = randomSerialHex();
  cert.validity.notBefore = wholeSeconds(now - CLOCK_SKEW_MS);
  cert.validity.notAfter = wholeSeconds(now + validityDays * DAY_MS);
  // A random tag makes every CA's name unique, so a verifier never picks another dev CA with the
  // same subject as a candidate issuer.
  const subject = [
    { name: 'organizationName', value: 'tenantguard' },
    { name: 'commonName', value: `tenantguard dev CA ${randomBytes(4).toString('hex')}` },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', critical: true, cA: true, pathLenConstraint: 0 },
    { name: 'keyUsage', critical: true, keyCertSign: true, cRLSign: true },
    // SPIFFE X.509-SVID §4: a signing certificate may name its trust domain as `spiffe://<td>`.
    // loadCertificateAuthority reads the trust domain back from here.
    { name: 'subjectAltName', altNames: [{ type: 6, value: `${SPIFFE_SCHEME}${trustDomain}` }] },
    { name: 'nameConstraints', id: OID_NAME_CONSTRAINTS, critical: true, value: uriNameConstraint(trustDomain) },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());

  return {
    trustDomain,
    certPem: forge.pki.certificateToPem(cert),
    keyPem,
    notAfter: cert.validity.notAfter,
  };
}

/**
 * Re-creates a CertificateAuthority from PEM files, checking that the certificate is a CA, that it
 * names exactly one trust domain, and that the key belongs to it. Anything else is PKI_INVALID:
 * issuing from a mismatched key would produce certificates nobody can verify.
 */
export function certificateAuthorityFromPem(certPem: string, keyPem: string): CertificateAuthority {
  let x509: X509Certificate;
  let cert: forge.pki.Certificate;
  try {
    x509 = new X509Certificate(certPem);
    cert = forge.pki.certificateFromPem(certPem);
  } catch {
    throw new TgError(Errors.PKI_INVALID, { reasons: ['ca_cert_unreadable'] });
  }
  if (!x509.ca) throw new TgError(Errors.PKI_INVALID, { reasons: ['ca_cert_not_a_ca'] });
  let keyMatches = false;
  try {
    keyMatches = x509.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    throw new TgError(Errors.PKI_INVALID, { reasons: ['ca_key_unreadable'] });
  }
  if (!keyMatches) throw new TgError(Errors.PKI_INVALID, { reasons: ['ca_key_mismatch'] });
  const uris = uriAltNames(cert);
  const onlyUri = uris.length === 1 ? uris[0] : undefined;
  const trustDomain = onlyUri?.startsWith(SPIFFE_SCHEME) ? onlyUri.slice(SPIFFE_SCHEME.length) : undefined;
  if (trustDomain === undefined || !isValidTrustDomain(trustDomain)) {
    throw new TgError(Errors.PKI_INVALID, { reasons: ['ca_cert_trust_domain_missing'] });
  }
  return { trustDomain, certPem, keyPem, notAfter: cert.validity.notAfter };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function uriAltNames(cert: forge.pki.Certificate): string[] {
  const ext: unknown = cert.getExtension('subjectAltName');
  if (!isRecord(ext) || !Array.isArray(ext.altNames)) return [];
  const uris: string[] = [];
  for (const altName of ext.altNames as unknown[]) {
    if (isRecord(altName) && altName.type === 6 && typeof altName.value === 'string') uris.push(altName.value);
  }
  return uris;
}

function subjectKeyIdentifierBytes(cert: forge.pki.Certificate): string {
  const ext: unknown = cert.getExtension('subjectKeyIdentifier');
  if (isRecord(ext) && typeof ext.subjectKeyIdentifier === 'string') {
    return forge.util.hexToBytes(ext.subjectKeyIdentifier);
  }
  return cert.generateSubjectKeyIdentifier().getBytes();
}

function checkServerNames(dnsNames: readonly string[], ipAddresses: readonly string[]): void {
  const reasons: string[] = [];
  if (!dnsNames.every((name) => DNS_NAME.test(name))) reasons.push('dns names must be plain host names');
  if (!ipAddresses.every((ip) => isIP(ip) !== 0)) reasons.push('ip addresses must be IPv4 or IPv6 literals');
  if (dnsNames.length + ipAddresses.length === 0) reasons.push('a server certificate needs at least one DNS or IP name');
  if (reasons.length > 0) throw new TgError(Errors.BAD_REQUEST, { reasons });
}

/**
 * Issues a leaf X.509-SVID for `spiffe://<ca trust domain>/<role>/<id>` with a fresh key.
 *
 * Each certificate carries exactly one URI SAN (SPIFFE rule; identity/ refuses more) and one
 * extended key usage: clientAuth for operator, worker and tenant, serverAuth for server. SPIFFE
 * would allow both, but a single purpose means a tenant certificate cannot serve TLS and the
 * sidecar's server certificate cannot log in as a client (N1). The trust domain always comes from
 * the CA, so a request cannot name another one.
 */
export async function issueCertificate(ca: CertificateAuthority, request: IssueRequest): Promise<IssuedCertificate> {
  const { role, id } = request;
  if (!isValidIdSegment(id)) {
    throw new TgError(Errors.BAD_REQUEST, { reasons: ['id must be 1-128 characters of A-Z a-z 0-9 . - _ and not "." or ".."'] });
  }
  const isServer = role === 'server';
  const dnsNames = request.dnsNames ?? (isServer ? ['localhost'] : []);
  const ipAddresses = request.ipAddresses ?? (isServer ? ['127.0.0.1', '::1'] : []);
  if (isServer) {
    checkServerNames(dnsNames, ipAddresses);
  } else if (dnsNames.length + ipAddresses.length > 0) {
    // A client certificate with host names would be one step from serving TLS; keep clients minimal.
    throw new TgError(Errors.BAD_REQUEST, { reasons: ['only server certificates carry DNS or IP names'] });
  }
  const spiffeId = formatSpiffeId(ca.trustDomain, role, id);
  const validityDays = request.validityDays ?? DEFAULT_LEAF_DAYS;
  checkValidityDays(validityDays);

  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const now = (request.now ?? new Date()).getTime();
  const notBefore = wholeSeconds(now - CLOCK_SKEW_MS);
  // A certificate that outlives its CA only fails later and more confusingly; clamp it.
  const notAfter = wholeSeconds(Math.min(now + validityDays * DAY_MS, caCert.validity.notAfter.getTime()));
  if (notAfter.getTime() <= notBefore.getTime()) {
    throw new TgError(Errors.PKI_INVALID, { reasons: ['ca_expired'] });
  }

  const { keyPem, forgePublic } = await generateRsaKeyPair(LEAF_KEY_BITS);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forgePublic;
  const serialNumber = randomSerialHex();
  cert.serialNumber = serialNumber;
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  // The subject is informational; identity comes from the URI SAN only. CN is limited to 64 chars.
  cert.setSubject([
    { name: 'organizationName', value: 'tenantguard' },
    { name: 'organizationalUnitName', value: role },
    ...(id.length <= 64 ? [{ name: 'commonName', value: id }] : []),
  ]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', critical: true, cA: false },
    { name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: isServer, clientAuth: !isServer },
    {
      name: 'subjectAltName',
      altNames: [
        { type: 6, value: spiffeId },
        ...dnsNames.map((value) => ({ type: 2, value })),
        ...ipAddresses.map((ip) => ({ type: 7, ip })),
      ],
    },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: subjectKeyIdentifierBytes(caCert) },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  const certPem = forge.pki.certificateToPem(cert);

  return {
    role,
    id,
    spiffeId,
    certPem,
    keyPem,
    serialNumber,
    notBefore,
    notAfter,
    fingerprint256: new X509Certificate(certPem).fingerprint256,
  };
}
