import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { Errors } from '../../src/errors.js';
import { KeyStore, loadMasterKey } from '../../src/keys/index.js';
import { startChild, waitFor } from './child-run.js';
import { useTranspiledKeysComponent } from './compile-keys.js';
import { freshDir, tgError, writeMasterKeyFile } from './helpers.js';

const CHILD = join(import.meta.dirname, 'erase-child.mjs');

const ids = (lines: readonly string[], verb: string): string[] => lines.filter((l) => l.startsWith(`${verb} `)).map((l) => l.slice(verb.length + 1));

describe('KeyStore crash safety of erasure (issue 20.4)', () => {
  const keys = useTranspiledKeysComponent();

  test('a SIGKILL anywhere in an erasure that retires the master key leaves old key + old keystore or new key + new keystore, and a keystore copy from before opens no more', async () => {
    const dir = await freshDir('tg-keys-erase-crash-');
    const masterKeyPath = join(dir, 'keys', 'master.key');
    const store = join(dir, 'keys', 'keystore.json');
    await mkdir(join(dir, 'keys'), { mode: 0o700 });
    await writeMasterKeyFile(masterKeyPath);
    const first = await KeyStore.openWithMasterKeyFile(store, masterKeyPath);
    await first.createTenant('acme');
    const early = first.generateDataKey('acme');
    const salt = first.cacheSalt('acme');
    first.close();

    const kills = 6;
    let erasedSoFar = 0;
    for (let round = 0; round < kills; round++) {
      const backup = join(dir, `backup-${round}.json`);
      await copyFile(store, backup);
      const run = startChild(CHILD, [keys.entry, masterKeyPath, store], 'erasure');
      const target = 1 + Math.floor(Math.random() * 4);
      await waitFor(() => ids(run.lines, 'erased').length >= target, run, 'erasure');
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 6));
      run.child.kill('SIGKILL');
      expect(await run.exited).toBe('SIGKILL');

      const erased = ids(run.lines, 'erased');
      const created = ids(run.lines, 'created');
      const reopened = await KeyStore.openWithMasterKeyFile(store, masterKeyPath);
      try {
        // Every acknowledged erasure holds; the one in flight went either way.
        for (const id of erased) expect(reopened.isErased(id)).toBe(true);
        for (const id of created.filter((c) => !erased.includes(c))) expect(reopened.isErased(id) || reopened.hasTenant(id)).toBe(true);
        // The surviving tenant's KEK came through every re-wrap unchanged.
        expect(reopened.unwrapDataKey('acme', early.wrapped).equals(early.plaintext)).toBe(true);
        expect(reopened.cacheSalt('acme')).toBe(salt);
      } finally {
        reopened.close();
      }
      // Opening settled the interrupted retirement: no `.next` key, no temporary file is left.
      expect((await readdir(join(dir, 'keys'))).filter((n) => n.endsWith('.tmp') || n.endsWith('.next'))).toEqual([]);
      // The keystore copy from before this round's erasures does not open with the master key now.
      const current = await loadMasterKey(masterKeyPath);
      expect((await tgError(() => KeyStore.open(backup, current))).code).toBe(Errors.KEYSTORE_INVALID.code);
      erasedSoFar += erased.length;
    }
    expect(erasedSoFar).toBeGreaterThanOrEqual(kills);
  });
});
