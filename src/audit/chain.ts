import { createHash } from 'node:crypto';
import { auditRecordBodySchema, MAX_RECORD_BYTES, type AuditEvent, type AuditRecord } from './schema.js';

/**
 * The hash chain (L2). A record's hash is
 *
 *     sha256( prev  ||  canonicalJson(record without `prev` and `hash`) )
 *
 * with `prev` as 64 lowercase hex characters and the previous record's hash as `prev` (64 zeros for
 * the first record). Canonical JSON sorts object keys, drops undefined fields and has no
 * whitespace, so the verifier can recompute the hash from a parsed line regardless of the key order
 * in the file. Editing, deleting or reordering any record changes a hash or breaks a `prev` link.
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
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
      const object = value as Record<string, unknown>;
      const parts: string[] = [];
      for (const key of Object.keys(object).sort()) {
        const field = object[key];
        if (field !== undefined) parts.push(`${JSON.stringify(key)}:${canonicalJson(field)}`);
      }
      return `{${parts.join(',')}}`;
    }
    default:
      throw new TypeError(`canonical JSON cannot encode a ${typeof value}`);
  }
}

export function chainHash(prev: string, canonicalBody: string): string {
  return createHash('sha256').update(prev).update(canonicalBody).digest('hex');
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
export function encodeRecord(event: AuditEvent, seq: number, time: string, prev: string): EncodedRecord {
  const body: Record<string, unknown> = { ...event, seq, time };
  for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
  const canonical = canonicalJson(body);
  const hash = chainHash(prev, canonical);
  const line = `${canonical.slice(0, -1)},"prev":"${prev}","hash":"${hash}"}\n`;
  return { record: { ...(body as Omit<AuditRecord, 'prev' | 'hash'>), prev, hash }, line };
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
export function hashMatches(line: { prev: string; hash: string; body: Record<string, unknown> }): boolean {
  try {
    return chainHash(line.prev, canonicalJson(line.body)) === line.hash;
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
