import type { DetailedPeerCertificate, PeerCertificate, TLSSocket } from 'node:tls';
import { Errors, TgError } from '../errors.js';
import { normalizeSerial, parseSpiffeId } from '../pki/index.js';
import { PRINCIPAL_ROLES, type Principal, type PrincipalRole } from './principal.js';

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
  if (!socket.authorized) throw new TgError(errorForVerification(String(socket.authorizationError ?? '')));

  const serial = normalizeSerial(cert.serialNumber ?? '');
  if (serial === null) throw new TgError(Errors.CERT_UNTRUSTED);
  if (check.isRevoked(serial)) throw new TgError(Errors.CERT_REVOKED);

  // X.509-SVID: exactly one URI SAN. Two would let one certificate speak as two principals.
  const uris = uriSans(cert.subjectaltname ?? '');
  if (uris.length !== 1) throw new TgError(Errors.BAD_SPIFFE_ID);
  const spiffe = parseSpiffeId(uris[0]!);
  if (!spiffe || spiffe.trustDomain !== check.trustDomain || !isPrincipalRole(spiffe.role)) {
    throw new TgError(Errors.BAD_SPIFFE_ID);
  }
  return { role: spiffe.role, id: spiffe.id, authn: 'mtls', spiffeId: uris[0]!, certSerial: serial };
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

function errorForVerification(code: string): (typeof Errors)[keyof typeof Errors] {
  switch (code) {
    case 'CERT_HAS_EXPIRED':
      return Errors.CERT_EXPIRED;
    case 'CERT_NOT_YET_VALID':
      return Errors.CERT_NOT_YET_VALID;
    default:
      return Errors.CERT_UNTRUSTED;
  }
}
