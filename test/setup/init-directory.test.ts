import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { sha256Hex } from '../../src/identity/index.js';
import { EXAMPLE_TENANTS, initDirectory } from '../../src/setup/index.js';
import { REPO_ROOT } from '../support/opa.js';

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

  test('an init killed half-way leaves nothing at the target, so the next one (the first `serve` run again) succeeds', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'tg-init-'));
    const target = join(parent, '.tenantguard');
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/tenantguard.js'), 'init', target], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // Kill it once it has started (its work directory exists; key generation takes seconds after that).
    const started = Date.now();
    while (!readdirSync(parent).some((name) => name.startsWith('.tenantguard.init-'))) {
      if (existsSync(target) || Date.now() - started > 20_000) throw new Error('init finished or never started: nothing to interrupt');
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGKILL');
    await exited;
    expect(readdirSync(parent).some((name) => name.startsWith('.tenantguard.init-'))).toBe(true); // it was interrupted half-way
    expect(existsSync(target)).toBe(false);
    const result = await initDirectory(target);
    expect(loadConfig(result.configFile, {}).tenants).toHaveLength(EXAMPLE_TENANTS.length);
  });
});
