import { readFile } from 'node:fs/promises';
import { Errors, TgError } from '../errors.js';
import { isErrnoCode, makeDirectoryDurably, writeFileDurably } from '../durable-file.js';
import { issuedSerials, pkiPaths } from './store.js';

/**
 * Revoked certificate serial numbers of one PKI directory (`revoked.json`). node-forge cannot
 * write CRLs, so identity/ checks a peer certificate's serial against this list after the TLS
 * handshake and answers TG_ERR_CERT_REVOKED.
 */
export interface RevocationList {
  /** Normalised serials (lower-case hex, no leading zeros), sorted. */
  readonly serials: readonly string[];
  /** Accepts any common spelling: Node's upper-case `serialNumber`, colon-separated, leading zeros. */
  has(serialNumber: string): boolean;
}

interface RevocationFile {
  readonly version: 1;
  readonly serials: readonly string[];
}

/**
 * One canonical spelling per serial, so "0A:1B" from a certificate dump, "A1B" from Node's
 * getPeerCertificate() and "a1b" from the issuer all name the same certificate. Returns null for
 * anything that is not a hex serial.
 */
export function normalizeSerial(serialNumber: string): string | null {
  const hex = serialNumber.replace(/:/g, '').toLowerCase();
  if (!/^[0-9a-f]{1,128}$/.test(hex)) return null;
  return hex.replace(/^0+(?=.)/, '');
}

function revocationList(serials: Iterable<string>): RevocationList {
  const set = new Set(serials);
  const sorted = [...set].sort();
  return {
    serials: sorted,
    has: (serialNumber) => {
      const normalized = normalizeSerial(serialNumber);
      return normalized !== null && set.has(normalized);
    },
  };
}

/**
 * Loads the revocation list. A missing file means nothing is revoked; a file that exists but does
 * not parse throws PKI_INVALID, because treating it as empty would un-revoke every certificate
 * (fail closed).
 */
export async function loadRevocationList(dir: string): Promise<RevocationList> {
  let text: string;
  try {
    text = await readFile(pkiPaths(dir).revocationList, 'utf8');
  } catch (error) {
    if (isErrnoCode(error, 'ENOENT')) return revocationList([]);
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new TgError(Errors.PKI_INVALID, { reasons: ['revocation_list_unreadable'] });
  }
  const serials = isRevocationFile(parsed) ? parsed.serials.map(normalizeSerial) : [null];
  if (serials.some((serial) => serial === null)) {
    throw new TgError(Errors.PKI_INVALID, { reasons: ['revocation_list_unreadable'] });
  }
  return revocationList(serials as string[]);
}

function isRevocationFile(value: unknown): value is RevocationFile {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return record.version === 1 && Array.isArray(record.serials) && record.serials.every((s) => typeof s === 'string');
}

// Read-modify-write of revoked.json is serialised per file within this process, so two concurrent
// revocations cannot overwrite each other and lose one.
const pendingWrites = new Map<string, Promise<unknown>>();

/**
 * Refuses (PKI_UNKNOWN_SERIAL) a serial this directory never issued: `pki revoke` of a typo said
 * "revoked" and left the certificate meant valid while the operator believed it revoked (issue
 * 17.8). Separate from revokeCertificate, which records any serial it is given (a certificate
 * issued from a copy of the CA can still be revoked, with `pki revoke --force`).
 */
export async function requireIssuedSerial(dir: string, serialNumber: string): Promise<void> {
  const serial = normalizeSerial(serialNumber);
  if (serial === null) throw new TgError(Errors.BAD_REQUEST, { message: `serial number must be hexadecimal, not "${serialNumber.slice(0, 40)}"` });
  if (!(await issuedSerials(dir)).has(serial)) {
    throw new TgError(Errors.PKI_UNKNOWN_SERIAL, {
      message: `no certificate with serial ${serial} was issued in ${dir}; check the serial with \`tenantguard pki list\` (pass --force to revoke a serial issued elsewhere by this CA)`,
    });
  }
}

/** Adds a serial to the list durably (idempotent) and returns the updated list. */
export async function revokeCertificate(dir: string, serialNumber: string): Promise<RevocationList> {
  const serial = normalizeSerial(serialNumber);
  if (serial === null) throw new TgError(Errors.BAD_REQUEST, { reasons: ['serial number must be hexadecimal'] });
  const path = pkiPaths(dir).revocationList;
  const previous = pendingWrites.get(path) ?? Promise.resolve();
  const next = previous.catch(() => undefined).then(async () => {
    const current = await loadRevocationList(dir);
    if (current.has(serial)) return current;
    const updated = revocationList([...current.serials, serial]);
    const file: RevocationFile = { version: 1, serials: updated.serials };
    await makeDirectoryDurably(dir, 0o700);
    await writeFileDurably(path, `${JSON.stringify(file, null, 2)}\n`, 0o644);
    return updated;
  });
  pendingWrites.set(path, next);
  try {
    return await next;
  } finally {
    if (pendingWrites.get(path) === next) pendingWrites.delete(path);
  }
}
