/**
 * SPIFFE ID grammar, in one place so that what pki/ issues is exactly what identity/ accepts.
 * An X.509-SVID names its workload with one URI SAN `spiffe://<trust-domain>/<role>/<id>`; the role
 * segment is what N1 ("a principal acts only in its role") keys on, so it is fixed at issuance.
 */
import { TRUST_DOMAIN_PATTERN } from '../ids.js';

/** Roles a tenantguard certificate can carry. `server` is the sidecar itself and is never a client. */
export type CertificateRole = 'operator' | 'worker' | 'tenant' | 'server';

export const CERTIFICATE_ROLES: readonly CertificateRole[] = ['operator', 'worker', 'tenant', 'server'];

export interface SpiffeId {
  readonly trustDomain: string;
  readonly role: CertificateRole;
  readonly id: string;
}

// SPIFFE ID spec §2.2: path segments are [A-Za-z0-9._-]; '.' and '..' are forbidden because they
// would let one ID normalise into another. The id also names files in a PKI directory, so this
// grammar is what keeps `<role>/<id>.crt` inside that directory.
const SEGMENT = /^[A-Za-z0-9._-]{1,128}$/;
const SPIFFE_PREFIX = 'spiffe://';

export function isValidTrustDomain(value: string): boolean {
  return TRUST_DOMAIN_PATTERN.test(value);
}

export function isValidIdSegment(value: string): boolean {
  return SEGMENT.test(value) && value !== '.' && value !== '..';
}

function isRole(value: string): value is CertificateRole {
  return (CERTIFICATE_ROLES as readonly string[]).includes(value);
}

/** Builds `spiffe://<td>/<role>/<id>`; throws RangeError on a malformed part (callers validate first). */
export function formatSpiffeId(trustDomain: string, role: CertificateRole, id: string): string {
  if (!isValidTrustDomain(trustDomain)) throw new RangeError('invalid SPIFFE trust domain');
  if (!isRole(role)) throw new RangeError('invalid certificate role');
  if (!isValidIdSegment(id)) throw new RangeError('invalid SPIFFE path segment');
  return `${SPIFFE_PREFIX}${trustDomain}/${role}/${id}`;
}

/**
 * Parses a tenantguard SPIFFE ID. Returns null for anything that is not exactly
 * `spiffe://<td>/<known role>/<id>`: wrong scheme, upper-case scheme or trust domain, extra or empty
 * segments, query, fragment, port or percent-encoding. A rejected ID is a value, not an exception,
 * so the caller decides how to deny (identity/ maps it to TG_ERR_BAD_SPIFFE_ID).
 */
export function parseSpiffeId(uri: string): SpiffeId | null {
  if (!uri.startsWith(SPIFFE_PREFIX)) return null;
  const parts = uri.slice(SPIFFE_PREFIX.length).split('/');
  if (parts.length !== 3) return null;
  const [trustDomain, role, id] = parts as [string, string, string];
  if (!isValidTrustDomain(trustDomain) || !isRole(role) || !isValidIdSegment(id)) return null;
  return { trustDomain, role, id };
}
