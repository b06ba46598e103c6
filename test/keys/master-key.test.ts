import { randomBytes } from 'node:crypto';
import { chmod, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { Errors } from '../../src/errors.js';
import { loadMasterKey } from '../../src/keys/index.js';
import { errorText, freshDir, tgError, writeMasterKeyFile } from './helpers.js';

describe('loadMasterKey', () => {
  test('reads the 32-byte base64 key file that `tenantguard init` writes', async () => {
    const path = join(await freshDir(), 'master.key');
    const key = await writeMasterKeyFile(path);
    expect((await loadMasterKey(path)).equals(key)).toBe(true);
  });

  test('refuses a key file that group or others can read', async () => {
    const path = join(await freshDir(), 'master.key');
    await writeMasterKeyFile(path);
    for (const mode of [0o640, 0o604, 0o644, 0o660]) {
      await chmod(path, mode);
      const error = await tgError(() => loadMasterKey(path));
      expect(error.code).toBe(Errors.MASTER_KEY_INVALID.code);
      expect(error.message).toContain('chmod 600');
    }
  });

  test('refuses anything that is not exactly 32 bytes of base64, without echoing the content', async () => {
    const dir = await freshDir();
    const bad = [
      randomBytes(31).toString('base64') + '\n',
      randomBytes(33).toString('base64') + '\n',
      randomBytes(64).toString('base64') + '\n',
      randomBytes(32).toString('hex') + '\n',
      randomBytes(32).toString('base64url') + '\n',
      ' ' + randomBytes(32).toString('base64') + '\n',
      randomBytes(32).toString('base64') + '\n\n',
      '',
    ];
    for (const [i, content] of bad.entries()) {
      const path = join(dir, `bad-${i}.key`);
      await writeFile(path, content, { mode: 0o600 });
      const error = await tgError(() => loadMasterKey(path));
      expect(error.code).toBe(Errors.MASTER_KEY_INVALID.code);
      if (content.trim() !== '') expect(errorText(error)).not.toContain(content.trim().slice(0, 12));
    }
  });

  test('refuses a missing file and a symlink', async () => {
    const dir = await freshDir();
    expect((await tgError(() => loadMasterKey(join(dir, 'absent.key')))).code).toBe(Errors.MASTER_KEY_INVALID.code);
    await writeMasterKeyFile(join(dir, 'real.key'));
    await symlink(join(dir, 'real.key'), join(dir, 'link.key'));
    expect((await tgError(() => loadMasterKey(join(dir, 'link.key')))).code).toBe(Errors.MASTER_KEY_INVALID.code);
  });
});
