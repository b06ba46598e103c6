import { Errors, TgError } from '../errors.js';
import { TENANT_ID_PATTERN } from './ids.js';

/**
 * The keystore file: JSON holding only wrapped keys and their bookkeeping (ids, versions, times,
 * current version, erasure marks). Unwrapped keys never touch the disk.
 *
 * {
 *   "format": "tenantguard.keystore", "formatVersion": 1,
 *   "masterKeyCheck": "<32 hex: HKDF(master, 'master-key-check'), proves which master key wrote it>",
 *   "tenants": [
 *     { "id": "acme", "state": "active", "created": "<ISO>", "currentVersion": 2,
 *       "versions": [ { "version": 1, "created": "<ISO>", "wrappedKey": "<base64 iv‖ct‖tag>" }, … ] },
 *     { "id": "gone", "state": "erased", "created": "<ISO>", "destroyed": "<ISO>", "currentVersion": 3 }
 *   ]
 * }
 *
 * An erased tenant keeps its id (so the id is refused forever) but no wrapped key of any version:
 * the keys are deleted from the file, not flagged (crypto-shred).
 */
export const KEYSTORE_FORMAT = 'tenantguard.keystore';
export const KEYSTORE_FORMAT_VERSION = 1;

export interface KeyVersionRecord {
  readonly version: number;
  readonly created: string;
  /** base64 of iv(12) ‖ AES-256-GCM(KEK)(32) ‖ tag(16), sealed under the master wrapping key. */
  readonly wrappedKey: string;
}

export interface ActiveTenantRecord {
  readonly id: string;
  readonly state: 'active';
  readonly created: string;
  readonly currentVersion: number;
  readonly versions: readonly KeyVersionRecord[];
}

export interface ErasedTenantRecord {
  readonly id: string;
  readonly state: 'erased';
  readonly created: string;
  readonly destroyed: string;
  readonly currentVersion: number;
}

export type TenantRecord = ActiveTenantRecord | ErasedTenantRecord;

export interface KeystoreDocument {
  readonly format: typeof KEYSTORE_FORMAT;
  readonly formatVersion: typeof KEYSTORE_FORMAT_VERSION;
  readonly masterKeyCheck: string;
  readonly tenants: readonly TenantRecord[];
}

/** Serialises with a fixed field order, whatever order the records were built in. */
export function serializeKeystore(doc: KeystoreDocument): string {
  const tenants = doc.tenants.map((t) =>
    t.state === 'active'
      ? {
          id: t.id,
          state: t.state,
          created: t.created,
          currentVersion: t.currentVersion,
          versions: t.versions.map((v) => ({ version: v.version, created: v.created, wrappedKey: v.wrappedKey })),
        }
      : { id: t.id, state: t.state, created: t.created, destroyed: t.destroyed, currentVersion: t.currentVersion },
  );
  const ordered = { format: doc.format, formatVersion: doc.formatVersion, masterKeyCheck: doc.masterKeyCheck, tenants };
  return JSON.stringify(ordered, null, 2) + '\n';
}

const WRAPPED_KEY = /^[A-Za-z0-9+/]{80}$/; // 60 bytes of base64, no padding needed
const CHECK = /^[0-9a-f]{32}$/;

function invalid(why: string): TgError {
  return new TgError(Errors.KEYSTORE_INVALID, { message: `keystore file is invalid: ${why}; restore it from backup with its master key` });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isVersion(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 0x7fffffff;
}

function isTime(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 40 && !Number.isNaN(Date.parse(value));
}

function exactKeys(value: Record<string, unknown>, keys: readonly string[]): boolean {
  const own = Object.keys(value);
  return own.length === keys.length && keys.every((k) => Object.hasOwn(value, k));
}

/** Parses and validates the whole file; any deviation is KEYSTORE_INVALID (fail closed). */
export function parseKeystore(text: string): KeystoreDocument {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw invalid('not JSON');
  }
  if (!isRecord(raw) || !exactKeys(raw, ['format', 'formatVersion', 'masterKeyCheck', 'tenants'])) throw invalid('unexpected top-level fields');
  if (raw.format !== KEYSTORE_FORMAT || raw.formatVersion !== KEYSTORE_FORMAT_VERSION) throw invalid('unknown format or format version');
  if (typeof raw.masterKeyCheck !== 'string' || !CHECK.test(raw.masterKeyCheck)) throw invalid('bad masterKeyCheck');
  if (!Array.isArray(raw.tenants)) throw invalid('tenants is not a list');
  const seen = new Set<string>();
  const tenants = raw.tenants.map((entry: unknown, index): TenantRecord => {
    const where = `tenant entry ${index}`;
    if (!isRecord(entry) || typeof entry.id !== 'string' || !TENANT_ID_PATTERN.test(entry.id)) throw invalid(`${where} has no valid id`);
    if (seen.has(entry.id)) throw invalid(`${where} repeats an id`);
    seen.add(entry.id);
    if (!isTime(entry.created) || !isVersion(entry.currentVersion)) throw invalid(`${where} has a bad created time or current version`);
    if (entry.state === 'erased') {
      if (!exactKeys(entry, ['id', 'state', 'created', 'destroyed', 'currentVersion']) || !isTime(entry.destroyed)) throw invalid(`${where} is a malformed erasure mark`);
      return { id: entry.id, state: 'erased', created: entry.created, destroyed: entry.destroyed, currentVersion: entry.currentVersion };
    }
    if (entry.state !== 'active' || !exactKeys(entry, ['id', 'state', 'created', 'currentVersion', 'versions']) || !Array.isArray(entry.versions)) {
      throw invalid(`${where} is malformed`);
    }
    const versions = entry.versions.map((v: unknown): KeyVersionRecord => {
      if (!isRecord(v) || !exactKeys(v, ['version', 'created', 'wrappedKey']) || !isVersion(v.version) || !isTime(v.created)) throw invalid(`${where} has a malformed key version`);
      if (typeof v.wrappedKey !== 'string' || !WRAPPED_KEY.test(v.wrappedKey)) throw invalid(`${where} has a malformed wrapped key`);
      return { version: v.version, created: v.created, wrappedKey: v.wrappedKey };
    });
    // Versions are 1..current, in order, none missing: rotation only ever appends one.
    if (versions.length !== entry.currentVersion || versions.some((v, i) => v.version !== i + 1)) throw invalid(`${where} does not hold versions 1..current`);
    return { id: entry.id, state: 'active', created: entry.created, currentVersion: entry.currentVersion, versions };
  });
  return { format: KEYSTORE_FORMAT, formatVersion: KEYSTORE_FORMAT_VERSION, masterKeyCheck: raw.masterKeyCheck, tenants };
}
