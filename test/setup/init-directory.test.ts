import { readFileSync, statSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { sha256Hex } from '../../src/identity/index.js';
import { EXAMPLE_TENANTS, initDirectory } from '../../src/setup/index.js';

describe('tenantguard init', () => {
  test('creates a loadable config, one tenant per tier, and stores only API key digests', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-init-'));
    const result = await initDirectory(dir);
    const config = loadConfig(result.configFile, {});
    expect(config.tenants.map((t) => t.tier).sort()).toEqual(['enterprise', 'free', 'standard']);
    const text = readFileSync(result.configFile, 'utf8');
    for (const t of EXAMPLE_TENANTS) {
      const key = result.apiKeys[t.id]!;
      expect(text).not.toContain(key);
      expect(text).toContain(sha256Hex(key));
    }
    expect(statSync(join(dir, 'keys', 'master.key')).mode & 0o777).toBe(0o600);
    expect(Buffer.from(readFileSync(join(dir, 'keys', 'master.key'), 'utf8').trim(), 'base64')).toHaveLength(32);
  });

  test('running it twice refuses to overwrite secrets unless forced', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-init-'));
    await initDirectory(dir);
    const masterKey = readFileSync(join(dir, 'keys', 'master.key'));
    const caKey = readFileSync(join(dir, 'pki', 'ca.key'));
    await expect(initDirectory(dir)).rejects.toThrow(/--force/);
    expect(readFileSync(join(dir, 'keys', 'master.key'))).toEqual(masterKey);
    expect(readFileSync(join(dir, 'pki', 'ca.key'))).toEqual(caKey);
    await initDirectory(dir, { force: true });
    expect(readFileSync(join(dir, 'pki', 'ca.key'))).not.toEqual(caKey);
  });
});
