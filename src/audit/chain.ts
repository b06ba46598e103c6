import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { auditRecordBodySchema, MAX_RECORD_BYTES, type AuditEvent, type AuditRecord } from './schema.js';

/**
 * The keyed hash chain (L2). A record's hash is
 *
 *     HMAC-SHA256( audit key,  prev  ||  canonicalJson(record without `prev` and `hash`) )
 *
 * with `prev` as 64 lowercase hex characters and the previous record's hash as `prev` (64 zeros for
 * the first record). Canonical JSON sorts object keys, drops undefined fields and has no
 * whitespace, so the verifier can recompute the hash from a parsed line regardless of the key order
 * in the file. Editing, deleting or reordering any record changes a hash or breaks a `prev` link.
 *
 * Keyed, because a plain SHA-256 chain can be recomputed by whoever edits the log (issue 20.2: a
 * rewritten record with a recomputed chain and anchor was accepted). The key lives outside the
 * audit directory (`paths.audit_key`), as Vault keys the HMACs of its audit devices: write access
 * to the log alone is not enough to forge it.
 */
export const GENESIS_PREV = '0'.repeat(64);

const HEX64 = /^[0-9a-f]{64}$/;

export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonical JSON cannot encode a non-finite number');
      return String(value); // what JSON.stringify gives for every finite number (ECMA-262 SerializeJSONProperty)
    case 'object': {
      // Strings are built by appending (no intermediate arrays): every audit append encodes a record.
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          if (i in value) out += canonicalJson(value[i]); // a hole stays empty, as Array.prototype.map + join left it
        }
        return `${out}]`;
      }
      const object = value as Record<string, unknown>;
      let out = '{';
      for (const key of Object.keys(object).sort()) {
        const field = object[key];
        if (field === undefined) continue;
        if (out.length > 1) out += ',';
        out += `${JSON.stringify(key)}:${canonicalJson(field)}`;
      }
      return `${out}}`;
    }
    default:
      throw new TypeError(`canonical JSON cannot encode a ${typeof value}`);
  }
}

/** Separates anchor MACs from record MACs, so no record hash can pass for an anchor's MAC. */
const ANCHOR_DOMAIN = 'tenantguard-audit-anchor-v2\n';
/** Separates recorded-id MACs from record and anchor MACs. */
const RECORDED_ID_DOMAIN = 'tenantguard-recorded-id-v1\n';

/** The client-chosen ids that are recorded only as a keyed digest (L1, issue 20.6). */
export type RecordedIdKind = 'request' | 'admission' | 'adapter' | 'blob';

/** The audit MAC key, imported once (a KeyObject spares every HMAC the key import). */
export class AuditKey {
  private readonly key: KeyObject;

  constructor(secret: Buffer) {
    if (secret.length !== 32) throw new RangeError('audit key must be 32 bytes');
    this.key = createSecretKey(secret);
  }

  recordHash(prev: string, canonicalBody: string): string {
    return createHmac('sha256', this.key).update(prev).update(canonicalBody).digest('hex');
  }

  /** The anchor vouches for (seq, hash); without the key it cannot be moved to an earlier record. */
  anchorMac(seq: number, hash: string): string {
    return createHmac('sha256', this.key).update(`${ANCHOR_DOMAIN}${seq}\n${hash}`).digest('hex');
  }

  /**
   * What a client-chosen id (a request id, an admission id, an adapter name) is recorded as: a
   * client may put anything in an id (`prompt:my.password.is…`), so the audit log, and the state
   * replayed from it, hold `h.` + 128 bits of HMAC-SHA256 over (kind, tenant, id) instead of the id
   * (L1, issue 20.6). The same id of the same tenant always maps to the same value under one key,
   * so live state and replayed state agree; without the key it cannot be reversed or tested.
   */
  recordedId(kind: RecordedIdKind, tenant: string, id: string): string {
    return `h.${createHmac('sha256', this.key).update(`${RECORDED_ID_DOMAIN}${kind}\n${tenant}\n${id}`).digest('base64url').slice(0, 22)}`;
  }
}

export interface EncodedRecord {
  record: AuditRecord;
  /** The JSONL line including its trailing newline. */
  line: string;
}

/**
 * Builds a record and its line with one JSON encoding: the canonical body is both hashed and
 * written, with `prev` and `hash` spliced in before the closing brace. Lines are therefore not
 * key-sorted as a whole, which is fine: the verifier re-canonicalises the body it parses.
 */
export function encodeRecord(key: AuditKey, event: AuditEvent, seq: number, time: string, prev: string): EncodedRecord {
  // Copied key by key and completed in place rather than spread twice: every append encodes a
  // record, and object spreads of this size cost several times more. Same keys, same order.
  const body: Record<string, unknown> = {};
  for (const key of Object.keys(event)) {
    const value = (event as unknown as Record<string, unknown>)[key];
    if (value !== undefined) body[key] = value;
  }
  body['seq'] = seq;
  body['time'] = time;
  const canonical = canonicalJson(body);
  const hash = key.recordHash(prev, canonical);
  const line = `${canonical.slice(0, -1)},"prev":"${prev}","hash":"${hash}"}\n`;
  body['prev'] = prev;
  body['hash'] = hash;
  return { record: body as unknown as AuditRecord, line };
}

/** Whether an encoded line is small enough to be written (see MAX_RECORD_BYTES). */
export function lineFits(line: string): boolean {
  // Records are ASCII by schema, so string length equals byte length.
  return line.length <= MAX_RECORD_BYTES;
}

export type DecodedLine =
  | { ok: true; seq: number; prev: string; hash: string; body: Record<string, unknown> }
  | { ok: false; seq?: number; problem: 'malformed line' };

/** Parses one line far enough to place it in the chain; no hash or schema check yet. */
export function decodeLine(text: string): DecodedLine {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'malformed line' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { ok: false, problem: 'malformed line' };
  const { prev, hash, ...body } = parsed as Record<string, unknown>;
  const seq = body['seq'];
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return { ok: false, problem: 'malformed line' };
  if (typeof prev !== 'string' || !HEX64.test(prev) || typeof hash !== 'string' || !HEX64.test(hash)) {
    return { ok: false, seq, problem: 'malformed line' };
  }
  return { ok: true, seq, prev, hash, body };
}

/** Recomputes a decoded line's hash. */
export function hashMatches(key: AuditKey, line: { prev: string; hash: string; body: Record<string, unknown> }): boolean {
  try {
    return key.recordHash(line.prev, canonicalJson(line.body)) === line.hash;
  } catch {
    return false; // e.g. 1e400 parsed to Infinity: no honest writer produced it
  }
}

/** Checks the hashed body against the content-free schema and returns the typed record. */
export function typedRecord(line: { prev: string; hash: string; body: Record<string, unknown> }): AuditRecord | null {
  const result = auditRecordBodySchema.safeParse(line.body);
  if (!result.success) return null;
  return { ...result.data, prev: line.prev, hash: line.hash };
}
