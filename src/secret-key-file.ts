import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { PendingFile } from './durable-file.js';
import { type ErrorSpec, TgError } from './errors.js';

/**
 * 32-byte secret keys kept in their own files (the master key of keys/, the audit MAC key of
 * audit/): base64 + newline, mode 0600, written crash-safely. One reader for both, so both refuse
 * the same things: a file group or others can read, a symlink, anything but exactly 32 bytes.
 * Mode and content are read through one handle, so the file checked is the file read. No error
 * ever contains the file's content.
 */
export const SECRET_KEY_BYTES = 32;

/** Canonical base64 of exactly 32 bytes: 43 characters and one '=' of padding. */
const KEY_BASE64 = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

export interface SecretKeyFileSpec {
  /** error raised for every problem with the file */
  readonly error: ErrorSpec;
  /** what the file is, for messages: "master key", "audit MAC key" */
  readonly what: string;
}

/** `null` when the file does not exist (the caller decides whether that is allowed). */
export async function readSecretKeyFile(path: string, spec: SecretKeyFileSpec): Promise<Buffer | null> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new TgError(spec.error, { message: `${spec.what} file ${path} cannot be opened (unreadable or a symlink)` });
  }
  let raw: Buffer | undefined;
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new TgError(spec.error, { message: `${spec.what} file ${path} is not a regular file` });
    if ((info.mode & 0o077) !== 0) {
      throw new TgError(spec.error, { message: `${spec.what} file ${path} is readable or writable by group or others; chmod 600 it` });
    }
    if (info.size > 1024) throw new TgError(spec.error);
    raw = await handle.readFile();
    const text = raw.toString('latin1').replace(/\r?\n$/, '');
    if (!KEY_BASE64.test(text)) throw new TgError(spec.error);
    return Buffer.from(text, 'base64');
  } finally {
    raw?.fill(0);
    await handle.close();
  }
}

/** Writes a fresh random key to `path` (0600, fsynced, directory fsynced) and returns it. */
export async function createSecretKeyFile(path: string): Promise<Buffer> {
  const key = randomBytes(SECRET_KEY_BYTES);
  const encoded = Buffer.from(`${key.toString('base64')}\n`, 'latin1');
  const pending = await PendingFile.create(path, 0o600);
  try {
    await pending.handle.writeFile(encoded);
  } catch (error) {
    await pending.abort();
    throw error;
  } finally {
    encoded.fill(0);
  }
  await pending.commit();
  return key;
}
