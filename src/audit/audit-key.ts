import { stat } from 'node:fs/promises';
import { Errors, TgError } from '../errors.js';
import { createSecretKeyFile, readSecretKeyFile } from '../secret-key-file.js';
import { AuditKey } from './chain.js';
import { listSegments } from './files.js';

const SPEC = { error: Errors.AUDIT_KEY_INVALID, what: 'audit MAC key' } as const;

/**
 * The audit MAC key for the log in `auditDir` (L2). A log without records gets a fresh key, written
 * before its first record. A log with records never does: a new key would make every existing
 * record fail to verify, and letting the sidecar pick one would let whoever deleted the key start
 * a chain of their own.
 */
export async function openAuditKey(path: string, auditDir: string): Promise<AuditKey> {
  const existing = await readSecretKeyFile(path, SPEC);
  if (existing !== null) return keyOf(existing);
  if (await hasRecords(auditDir)) {
    throw new TgError(Errors.AUDIT_KEY_INVALID, {
      message: `audit MAC key file ${path} is missing but the audit log in ${auditDir} has records: restore the key from its backup (a log written before tenantguard kept a key cannot be continued: move that audit directory away to archive it)`,
    });
  }
  return keyOf(await createSecretKeyFile(path));
}

/** The key of an existing log, for verification only: never created. */
export async function loadAuditKey(path: string): Promise<AuditKey> {
  const existing = await readSecretKeyFile(path, SPEC);
  if (existing === null) throw new TgError(Errors.AUDIT_KEY_INVALID, { message: `audit MAC key file ${path} is missing; pass the key the log was written with (--key)` });
  return keyOf(existing);
}

function keyOf(secret: Buffer): AuditKey {
  try {
    return new AuditKey(secret);
  } finally {
    secret.fill(0);
  }
}

async function hasRecords(auditDir: string): Promise<boolean> {
  let segments;
  try {
    segments = await listSegments(auditDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  for (const segment of segments) if ((await stat(segment.path)).size > 0) return true;
  return false;
}
