import { z } from 'zod';
import { Errors, TgError } from '../errors.js';

/**
 * The audit record schema. It is the enforcement point of L1 for the audit log: every string is an
 * identifier drawn from a small alphabet without spaces, every array and map is bounded, and no
 * object accepts unknown keys. A prompt, an output or a key cannot be written into a record,
 * neither as a value (no spaces, no free punctuation, bounded length) nor as a new field.
 */

/** Principal, tenant, policy-revision and effect-string values (SPIFFE ids fit: `:` and `/`). */
export const ID_PATTERN = /^[A-Za-z0-9._:/-]{1,128}$/;
/** Reason codes such as `quota_exceeded` or `not_owner:17`. */
export const REASON_PATTERN = /^[a-z0-9_:.-]{1,96}$/;
/** Actions such as `blocks.allocate`. */
export const ACTION_PATTERN = /^[a-z0-9_.]{1,64}$/;
/**
 * Keys of `counts` and `effects`. They must start with a letter so that `__proto__` can never be a
 * key: assigning it would change an object's prototype instead of adding a field, and the record
 * that was hashed would differ from the one handed back.
 */
export const KEY_PATTERN = /^[a-z][a-z0-9_.]{0,63}$/;

export const MAX_REASONS = 64;
export const MAX_BLOCKS = 65_536;
export const MAX_MAP_KEYS = 32;
/** Upper bound of one encoded record line; keeps a single event from becoming a bulk channel. */
export const MAX_RECORD_BYTES = 2 * 1024 * 1024;

export type AuditEventType = 'decision' | 'violation' | 'admin' | 'lifecycle';
export type AuditSeverity = 'info' | 'warning' | 'critical';
export type AuditPrincipalRole = 'operator' | 'worker' | 'tenant' | 'system';
export type AuditEffectValue = number[] | string | number | boolean;

/** What callers pass to `AuditLog.append`. */
export interface AuditEvent {
  type: AuditEventType;
  severity: AuditSeverity;
  principal: { role: AuditPrincipalRole; id: string };
  /** e.g. `blocks.allocate` */
  action: string;
  tenant?: string;
  decision: 'allow' | 'deny';
  /** reason codes like `quota_exceeded`, `not_owner:17` */
  reasons: string[];
  /** e.g. `{ requested: 4, granted: 4 }` */
  counts?: Record<string, number>;
  /** block ids touched */
  blocks?: number[];
  /** structured state-change facts needed for replay, e.g. `{ scrub: [3, 4], evicted: [9] }` */
  effects?: Record<string, AuditEffectValue>;
  policyRevision?: string;
}

/** A record as stored: the event plus its place in the hash chain. */
export interface AuditRecord extends AuditEvent {
  seq: number;
  /** ISO 8601 time the record was appended */
  time: string;
  /** `hash` of the previous record; 64 zeros for the first record of the log */
  prev: string;
  /** hex sha256 over `prev` followed by the canonical JSON of every other field (see chain.ts) */
  hash: string;
}

const id = z.string().regex(ID_PATTERN);
const blockId = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
/**
 * zod's record parser silently drops an own `__proto__` key (as JSON.parse can create) instead of
 * failing; the event would then be accepted minus a field. Refuse it explicitly: no unknown keys.
 */
const withoutProtoKey = z.custom<unknown>(
  (value) => typeof value !== 'object' || value === null || !Object.prototype.hasOwnProperty.call(value, '__proto__'),
  { message: '__proto__ is not a key' },
);
const boundedMap = <T extends z.ZodType>(value: T) =>
  withoutProtoKey.pipe(
    z
      .record(z.string().regex(KEY_PATTERN), value)
      .refine((map) => Object.keys(map).length <= MAX_MAP_KEYS, { message: `at most ${MAX_MAP_KEYS} keys` }),
  );

const eventShape = {
  type: z.enum(['decision', 'violation', 'admin', 'lifecycle']),
  severity: z.enum(['info', 'warning', 'critical']),
  principal: z.strictObject({ role: z.enum(['operator', 'worker', 'tenant', 'system']), id }),
  action: z.string().regex(ACTION_PATTERN),
  tenant: id.optional(),
  decision: z.enum(['allow', 'deny']),
  reasons: z.array(z.string().regex(REASON_PATTERN)).max(MAX_REASONS),
  // z.number() rejects NaN and ±Infinity, which JSON cannot carry and the chain could not hash.
  counts: boundedMap(z.number()).optional(),
  blocks: z.array(blockId).max(MAX_BLOCKS).optional(),
  effects: boundedMap(z.union([z.array(blockId).max(MAX_BLOCKS), id, z.number(), z.boolean()])).optional(),
  policyRevision: id.optional(),
};

/** Strict at every level: an unknown key anywhere (e.g. `prompt`) fails validation (L1). */
export const auditEventSchema = z.strictObject(eventShape);

/** The hashed body of a stored record: the event plus `seq` and `time` (prev/hash are separate). */
export const auditRecordBodySchema = z.strictObject({
  ...eventShape,
  seq: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  time: z.iso.datetime(),
});

export type AuditRecordBody = Omit<AuditRecord, 'prev' | 'hash'>;

// Compile-time proof that the schemas produce exactly the public types.
const eventSchemaMatches: z.ZodType<AuditEvent> = auditEventSchema;
const bodySchemaMatches: z.ZodType<AuditRecordBody> = auditRecordBodySchema;
void eventSchemaMatches;
void bodySchemaMatches;

/**
 * A path segment is echoed only if it is one of our own field names or an index (L1). Keys of
 * `counts` and `effects` are the caller's and are shown as `key`: an alphanumeric secret would
 * otherwise come back in the error body.
 */
const FIELD_NAMES: ReadonlySet<string> = new Set([...Object.keys(eventShape), 'role', 'id']);

/**
 * Turns schema issues into reason codes that name the failing field and the kind of failure, never
 * the offending value or an unknown key's name: both are caller content and must not reach an
 * error body or a log line (L1). The codes themselves fit REASON_PATTERN, so a caller may record
 * them in a lifecycle event, e.g. `invalid_format:reasons.0`, `unknown_key:principal`,
 * `invalid_format:counts.key` (a map key, not named), `invalid_type:policy_revision`.
 */
export function issueReasons(issues: readonly z.core.$ZodIssue[]): string[] {
  const reasons = new Set<string>();
  for (const issue of issues) {
    const path = issue.path
      .map((segment) => {
        if (typeof segment === 'number') return String(segment);
        if (typeof segment === 'string' && FIELD_NAMES.has(segment)) return segment.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
        return 'key';
      })
      .join('.');
    const kind = issue.code === 'unrecognized_keys' ? 'unknown_key' : issue.code;
    const reason = path === '' ? kind : `${kind}:${path}`;
    reasons.add(REASON_PATTERN.test(reason) ? reason : kind);
    if (reasons.size >= 16) break;
  }
  return [...reasons];
}

/** Validates a caller's event; throws TgError(AUDIT_RECORD_INVALID) without echoing any content. */
export function validateAuditEvent(event: unknown): AuditEvent {
  // Every guarded request appends a record: the common, valid event skips zod (see isValidEvent).
  if (isValidEvent(event)) return event;
  const result = auditEventSchema.safeParse(event);
  if (!result.success) {
    throw new TgError(Errors.AUDIT_RECORD_INVALID, { reasons: issueReasons(result.error.issues) });
  }
  return result.data;
}

/*
 * A hand-written restatement of `auditEventSchema` for the hot path. It accepts only what the zod
 * schema accepts (it may refuse more: plain objects only); whatever it refuses goes through zod,
 * which decides and names the problem. So it can make validation faster, never looser.
 */
const EVENT_TYPES: ReadonlySet<unknown> = new Set(['decision', 'violation', 'admin', 'lifecycle']);
const SEVERITIES: ReadonlySet<unknown> = new Set(['info', 'warning', 'critical']);
const ROLES: ReadonlySet<unknown> = new Set(['operator', 'worker', 'tenant', 'system']);
const DECISIONS: ReadonlySet<unknown> = new Set(['allow', 'deny']);
const OPTIONAL_KEYS: ReadonlySet<string> = new Set(['tenant', 'counts', 'blocks', 'effects', 'policyRevision']);
const REQUIRED_KEYS: ReadonlySet<string> = new Set(['type', 'severity', 'principal', 'action', 'decision', 'reasons']);

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isBlockIdList(value: unknown): value is number[] {
  if (!Array.isArray(value) || value.length > MAX_BLOCKS) return false;
  for (const id of value) if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) return false;
  return true;
}

function isBoundedMap(value: unknown, valid: (v: unknown) => boolean): boolean {
  if (!isPlainRecord(value)) return false;
  let keys = 0;
  for (const key in value) {
    if (!Object.prototype.hasOwnProperty.call(value, key) || !KEY_PATTERN.test(key) || !valid(value[key])) return false;
    if (++keys > MAX_MAP_KEYS) return false;
  }
  return true;
}

function isEffectValue(value: unknown): boolean {
  return typeof value === 'boolean' || isFiniteNumber(value) || isId(value) || isBlockIdList(value);
}

function isValidEvent(event: unknown): event is AuditEvent {
  if (!isPlainRecord(event)) return false;
  let required = 0;
  for (const key in event) {
    if (!Object.prototype.hasOwnProperty.call(event, key)) return false;
    if (REQUIRED_KEYS.has(key)) required++;
    else if (!OPTIONAL_KEYS.has(key)) return false;
  }
  if (required !== REQUIRED_KEYS.size) return false;
  const { principal, reasons, tenant, counts, blocks, effects, policyRevision } = event;
  if (!EVENT_TYPES.has(event['type']) || !SEVERITIES.has(event['severity']) || !DECISIONS.has(event['decision'])) return false;
  if (typeof event['action'] !== 'string' || !ACTION_PATTERN.test(event['action'])) return false;
  if (!isPlainRecord(principal) || !ROLES.has(principal['role']) || !isId(principal['id'])) return false;
  for (const key in principal) if (key !== 'role' && key !== 'id') return false;
  if (!Array.isArray(reasons) || reasons.length > MAX_REASONS) return false;
  for (const reason of reasons) if (typeof reason !== 'string' || !REASON_PATTERN.test(reason)) return false;
  if (tenant !== undefined && !isId(tenant)) return false;
  if (policyRevision !== undefined && !isId(policyRevision)) return false;
  if (blocks !== undefined && !isBlockIdList(blocks)) return false;
  if (counts !== undefined && !isBoundedMap(counts, isFiniteNumber)) return false;
  if (effects !== undefined && !isBoundedMap(effects, isEffectValue)) return false;
  return true;
}
