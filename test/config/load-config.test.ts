import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { TgError } from '../../src/errors.js';

const valid = `
trust_domain: example.org
listen: { host: 127.0.0.1, port: 9443 }
paths: { pki: ./pki, master_key: ./keys/master.key, keystore: ./keys/ks.json, audit: ./audit }
model: { layers: 32, kv_heads: 8, head_dim: 128, dtype: fp16, block_tokens: 16 }
pools:
  - { name: shared, first: 0, last: 1023 }
  - { name: big-pool, first: 1024, last: 2047, dedicated_to: big }
tenants:
  - { id: small, tier: free }
  - { id: mid, tier: standard, overrides: { kv_quota_bytes: 4194304 } }
  - { id: big, tier: enterprise }
`;

function write(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'tg-config-')), 'config.yaml');
  writeFileSync(file, text);
  return file;
}

function problemsOf(text: string): string {
  try {
    loadConfig(write(text), {});
  } catch (error) {
    expect(error).toBeInstanceOf(TgError);
    return (error as TgError).message;
  }
  throw new Error('config was accepted');
}

describe('loadConfig', () => {
  test('a valid config resolves tiers, quotas in blocks and paths relative to the file', () => {
    const file = write(valid);
    const config = loadConfig(file, {});
    expect(config.bytesPerBlock).toBe(2 * 32 * 8 * 128 * 2 * 16);
    const byId = Object.fromEntries(config.tenants.map((t) => [t.id, t]));
    expect(byId['small']!.quotaBlocks).toBe(512); // 1 GiB / 2 MiB
    expect(byId['mid']!.quotaBlocks).toBe(2); // override: 4 MiB
    expect(byId['big']!.pool).toBe('big-pool');
    expect(byId['small']!.pool).toBe('shared');
    expect(config.paths.pki).toBe(join(file, '..', 'pki'));
  });

  test('TENANTGUARD_LISTEN overrides the listen address', () => {
    const config = loadConfig(write(valid), { TENANTGUARD_LISTEN: '[::1]:7000' });
    expect(config.listen).toMatchObject({ host: '::1', port: 7000 });
  });

  test('a wrong type names the file and the path inside it', () => {
    const message = problemsOf(valid.replace('layers: 32', 'layers: "many"'));
    expect(message).toContain('config.yaml');
    expect(message).toMatch(/model\.layers: .*number/i);
  });

  test('an unknown tier names the tenant entry', () => {
    expect(problemsOf(valid.replace('tier: free', 'tier: platinum'))).toMatch(/tenants\[0\]\.tier/);
  });

  test('an unknown key is refused rather than ignored', () => {
    expect(problemsOf(valid.replace('trust_domain: example.org', 'trust_domain: example.org\ntrust_domian: typo'))).toMatch(/trust_domian/);
  });

  test('overlapping pools are refused (I1)', () => {
    expect(problemsOf(valid.replace('first: 1024, last: 2047', 'first: 1000, last: 2047'))).toMatch(/overlap/);
  });

  test('an enterprise tenant without a dedicated pool is refused (I5)', () => {
    expect(problemsOf(valid.replace(', dedicated_to: big', ''))).toMatch(/tenants\[2\]: tier enterprise requires a pool/);
  });

  test('duplicate tenant ids are refused', () => {
    expect(problemsOf(valid.replace('id: mid', 'id: small'))).toMatch(/duplicate tenant id/);
  });

  test('YAML syntax errors give the line', () => {
    expect(problemsOf('trust_domain: [unclosed\n')).toMatch(/YAML syntax at line \d+/);
  });

  test('a missing file says how to create one', () => {
    expect(() => loadConfig('/nonexistent/config.yaml', {})).toThrow(/tenantguard init/);
  });

  test('policy.verification: an HMAC or unknown algorithm is refused by name; the key path is resolved against the config file', () => {
    expect(problemsOf(`${valid}policy:\n  verification:\n    public_key: ./signing.pub\n    algorithm: HS256\n`)).toMatch(/policy\.verification\.algorithm/);
    const file = write(`${valid}policy:\n  verification:\n    public_key: ./signing.pub\n`);
    expect(loadConfig(file, {}).policyVerification).toEqual({ publicKeyFile: join(dirname(file), 'signing.pub'), algorithm: 'RS256' });
  });

  test('policy.bundle_service: only http(s) URLs; the poll interval defaults to 60 s', () => {
    expect(problemsOf(`${valid}policy:\n  bundle_service:\n    url: ftp://bundles.example/b.tar.gz\n`)).toMatch(/policy\.bundle_service\.url: must be an http:\/\/ or https:\/\/ URL/);
    const file = write(`${valid}policy:\n  bundle_service:\n    url: https://bundles.example/b.tar.gz\n    ca: ./bundle-ca.crt\n`);
    expect(loadConfig(file, {}).bundleService).toEqual({ url: 'https://bundles.example/b.tar.gz', caFile: join(dirname(file), 'bundle-ca.crt'), pollIntervalMs: 60_000 });
  });
});
