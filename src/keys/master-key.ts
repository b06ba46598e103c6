import { Errors, TgError } from '../errors.js';
import { readSecretKeyFile } from '../secret-key-file.js';

/**
 * Reads the master key written by `tenantguard init` (base64 + newline, mode 0600; the rules are
 * those of every secret key file, src/secret-key-file.ts).
 */
export async function loadMasterKey(path: string): Promise<Buffer> {
  const key = await readSecretKeyFile(path, { error: Errors.MASTER_KEY_INVALID, what: 'master key' });
  if (key === null) throw new TgError(Errors.MASTER_KEY_INVALID, { message: `master key file ${path} is missing; run \`tenantguard init\`` });
  return key;
}
