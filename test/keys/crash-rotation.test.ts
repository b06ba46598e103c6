import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { KeyStore, loadMasterKey } from '../../src/keys/index.js';
import { startChild, waitFor } from './child-run.js';
import { useTranspiledKeysComponent } from './compile-keys.js';
import { freshDir, writeMasterKeyFile } from './helpers.js';

const CHILD = join(import.meta.dirname, 'rotate-child.mjs');

const acked = (lines: readonly string[]): number =>
  lines.reduce((max, line) => (line.startsWith('rotated ') ? Math.max(max, Number(line.slice(8))) : max), 0);

describe('KeyStore crash safety', () => {
  const keys = useTranspiledKeysComponent();

  test('the keystore survives a SIGKILL during rotation: it always opens with the old or the new state', async () => {
    const dir = await freshDir('tg-keys-crash-');
    const masterKeyPath = join(dir, 'master.key');
    const keystorePath = join(dir, 'keys', 'keystore.json');
    await writeMasterKeyFile(masterKeyPath);
    const masterKey = await loadMasterKey(masterKeyPath);

    const setup = await KeyStore.open(keystorePath, masterKey);
    await setup.createTenant('acme');
    const early = setup.generateDataKey('acme');
    setup.close();

    let lastAcked = 1;
    const kills = 6;
    for (let round = 0; round < kills; round++) {
      const run = startChild(CHILD, [keys.entry, masterKeyPath, keystorePath], 'rotation');
      const target = lastAcked + 1 + Math.floor(Math.random() * 8);
      await waitFor(() => acked(run.lines) >= target, run, 'rotation');
      // Kill somewhere inside the next rotation: after a random few hundred microseconds to ms.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 6));
      run.child.kill('SIGKILL');
      expect(await run.exited).toBe('SIGKILL');

      const ack = acked(run.lines);
      expect(ack).toBeGreaterThan(lastAcked); // the child really rotated this round

      // The file parses and opens (every wrapped key authenticates) with the old or the new state.
      const text = await readFile(keystorePath, 'utf8');
      expect(() => JSON.parse(text) as unknown).not.toThrow();
      // From the file: the scratch erasures replaced the master key (issue 20.4).
      const reopened = await KeyStore.openWithMasterKeyFile(keystorePath, masterKeyPath);
      try {
        const version = reopened.currentVersion('acme');
        expect(version === ack || version === ack + 1).toBe(true); // durable before acknowledged
        expect(reopened.unwrapDataKey('acme', early.wrapped).equals(early.plaintext)).toBe(true);
        expect(reopened.cacheSalt('acme')).toMatch(/^[A-Za-z0-9_-]{43}$/);
        lastAcked = version;
      } finally {
        reopened.close();
      }
      // A temporary file left by the kill is swept by open().
      expect((await readdir(join(dir, 'keys'))).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    }
    expect(lastAcked).toBeGreaterThan(kills);
  });
});
