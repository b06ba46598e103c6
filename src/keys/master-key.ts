import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { Errors, TgError } from '../errors.js';
import { KEY_BYTES } from './aead.js';

/** Canonical base64 of exactly 32 bytes: 43 characters and one '=' of padding. */
const MASTER_KEY_BASE64 = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/**
 * Reads the master key written by `tenantguard init` (base64 + newline, mode 0600). Refuses a
 * file that group or others can read, that is not a regular file, or that does not decode to
 * exactly 32 bytes. Mode and content are read through one handle, so the file checked is the
 * file read. The error never contains the file's content.
 */
export async function loadMasterKey(path: string): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    throw new TgError(Errors.MASTER_KEY_INVALID, { message: `master key file ${path} cannot be opened (missing, unreadable or a symlink); run \`tenantguard init\`` });
  }
  let raw: Buffer | undefined;
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new TgError(Errors.MASTER_KEY_INVALID, { message: `master key file ${path} is not a regular file` });
    if ((info.mode & 0o077) !== 0) {
      throw new TgError(Errors.MASTER_KEY_INVALID, { message: `master key file ${path} is readable or writable by group or others; chmod 600 it` });
    }
    if (info.size > 1024) throw new TgError(Errors.MASTER_KEY_INVALID);
    raw = await handle.readFile();
    const text = raw.toString('latin1').replace(/\r?\n$/, '');
    if (!MASTER_KEY_BASE64.test(text)) throw new TgError(Errors.MASTER_KEY_INVALID);
    const key = Buffer.from(text, 'base64');
    if (key.length !== KEY_BYTES) {
      key.fill(0);
      throw new TgError(Errors.MASTER_KEY_INVALID);
    }
    return key;
  } finally {
    raw?.fill(0);
    await handle.close();
  }
}
