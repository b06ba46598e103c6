import type { DetailedPeerCertificate, PeerCertificate, TLSSocket } from 'node:tls';
import { Errors, TgError } from '../errors.js';
import { clientSvidProblem, normalizeSerial, parseSpiffeId } from '../pki/index.js';
import { PRINCIPAL_ROLES, type Principal, type PrincipalRole } from './principal.js';

type ErrorSpec = (typeof Errors)[keyof typeof Errors];

/**
 * A refused credential, with the principal it names when the CA's signature vouches for that
 * (a revoked or non-SVID certificate whose chain verified), else null. The principal is for the
 * refusal's audit record and log line (issue 20.7), never for the answer: `toBody` is TgError's.
 */
export class CredentialRefused extends TgError {
  constructor(
    spec: ErrorSpec,
    readonly principal: { readonly role: PrincipalRole; readonly id: string } | null,
    options: { reasons?: readonly string[] } = {},
  ) {
    super(spec, options);
  }
}

export interface CertificateCheck {
  readonly trustDomain: string;
  readonly isRevoked: (serial: string) => boolean;
}

/**
 * Turns the verified peer certificate of a TLS socket into a principal, or null when the client
 * sent no certificate (the caller may then try a bearer key). The server asks for a certificate
 * but lets unverified handshakes finish, so that a bad certificate is answered with a precise 401
 * instead of a bare TLS alert; a certificate that fails any check never falls back to an API key.
 */
export function principalFromTlsSocket(socket: TLSSocket, check: CertificateCheck): Principal | null {
  const cert: PeerCertificate | DetailedPeerCertificate = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return null;
  if (!socket.authorized) {
    const code = String(socket.authorizationError ?? '');
    // OpenSSL refuses an extended key usage without clientAuth as the wrong purpose (issue 20.10a).
    if (code === 'INVALID_PURPOSE' || code === 'UNSUPPORTED_CERTIFICATE_PURPOSE') throw new CredentialRefused(Errors.CERT_NOT_SVID, null, { reasons: ['missing_client_auth'] });
    throw new CredentialRefused(errorForVerification(code), null);
  }

  const serial = normalizeSerial(cert.serialNumber ?? '');
  if (serial === null) throw new CredentialRefused(Errors.CERT_UNTRUSTED, null);

  // X.509-SVID: exactly one URI SAN. Two would let one certificate speak as two principals.
  const uris = uriSans(cert.subjectaltname ?? '');
  const spiffe = uris.length === 1 ? parseSpiffeId(uris[0]!) : null;
  const named = spiffe && spiffe.trustDomain === check.trustDomain && isPrincipalRole(spiffe.role) ? { role: spiffe.role, id: spiffe.id } : null;
  if (check.isRevoked(serial)) throw new CredentialRefused(Errors.CERT_REVOKED, named);
  // The CA's signature is not enough: the leaf must be a client SVID (issue 20.10a, pki/svid.ts).
  const problem = clientSvidProblem(cert.raw);
  if (problem !== null) throw new CredentialRefused(Errors.CERT_NOT_SVID, named, { reasons: [problem] });
  if (named === null) throw new CredentialRefused(Errors.BAD_SPIFFE_ID, null);
  return { role: named.role, id: named.id, authn: 'mtls', spiffeId: uris[0]!, certSerial: serial };
}

function isPrincipalRole(role: string): role is PrincipalRole {
  return (PRINCIPAL_ROLES as readonly string[]).includes(role);
}

/** Node renders SANs as `URI:spiffe://a/b/c, DNS:x`; a value with a comma is JSON-quoted. */
function uriSans(subjectAltName: string): string[] {
  const entries = subjectAltName.match(/(?:[A-Za-z ]+):(?:"(?:[^"\\]|\\.)*"|[^,]*)/g) ?? [];
  return entries
    .map((entry) => entry.trim())
    .filter((entry) => entry.startsWith('URI:'))
    .map((entry) => {
      const value = entry.slice(4);
      return value.startsWith('"') ? (JSON.parse(value) as string) : value;
    });
}

function errorForVerification(code: string): ErrorSpec {
  switch (code) {
    case 'CERT_HAS_EXPIRED':
      return Errors.CERT_EXPIRED;
    case 'CERT_NOT_YET_VALID':
      return Errors.CERT_NOT_YET_VALID;
    default:
      return Errors.CERT_UNTRUSTED;
  }
}
