/**
 * Issue 17.11: the bundle archive reader checks every tar header's checksum and understands the
 * PAX extended headers that GNU tar and OPA (Go's archive/tar) write for names ustar cannot hold.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { BundleError, loadVerificationKey, parseBundle, PolicyEngine, REQUIRED_ENTRYPOINTS } from '../../src/policy/index.js';
import { OPA_BIN, PROJECT_BUNDLE, REPO_ROOT, rsaKey } from '../support/opa.js';

/** A path component longer than ustar's 100-byte name field, so writers must use a PAX header. */
const LONG_DIR = `tenantguard/${'very_long_directory_name_'.repeat(6)}`;

function unpackProjectBundle(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tg-archive-'));
  execFileSync('tar', ['xzf', PROJECT_BUNDLE, '-C', dir]);
  return dir;
}

describe('bundle archive reader', () => {
  test('a bundle whose tar header checksum does not match its header is refused', () => {
    const tar = gunzipSync(readFileSync(PROJECT_BUNDLE));
    // The first header's mtime field (offset 136): a change the old reader never looked at.
    tar[136] = tar[136] === 0x30 ? 0x31 : 0x30;
    expect(() => parseBundle(gzipSync(tar))).toThrow(BundleError);
    expect(() => parseBundle(gzipSync(tar))).toThrow(/checksum/);
  });

  test('an intact bundle still parses (the checksum of every header is right)', () => {
    expect(parseBundle(readFileSync(PROJECT_BUNDLE)).wasm.byteLength).toBeGreaterThan(1000);
  });

  test('a GNU tar --format=pax archive with a long file name is read with its full names', () => {
    const dir = unpackProjectBundle();
    mkdirSync(join(dir, LONG_DIR), { recursive: true });
    writeFileSync(join(dir, LONG_DIR, 'extra.json'), '{}');
    const out = join(mkdtempSync(join(tmpdir(), 'tg-archive-pax-')), 'bundle.tar.gz');
    execFileSync('tar', ['czf', out, '--format=pax', '-C', dir, '.']);
    const tarBytes = gunzipSync(readFileSync(out));
    expect(tarBytes.includes(Buffer.from(` path=./${LONG_DIR}extra.json\n`))).toBe(true); // really a PAX record
    const bundle = parseBundle(readFileSync(out));
    expect(bundle.wasm.byteLength).toBeGreaterThan(1000);
    expect(bundle.manifest.revision).toBe(parseBundle(readFileSync(PROJECT_BUNDLE)).manifest.revision);
  });

  test('a signed bundle OPA writes with a PAX header (a name longer than ustar holds) verifies and loads', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-archive-opa-'));
    execFileSync('cp', ['-r', join(REPO_ROOT, 'policies'), join(dir, 'src')]);
    mkdirSync(join(dir, 'src', LONG_DIR), { recursive: true });
    writeFileSync(join(dir, 'src', LONG_DIR, 'extra.rego'), 'package tenantguard.extra\n\nx := 1\n');
    const key = rsaKey();
    writeFileSync(join(dir, 'signing.pem'), key.privatePem);
    const out = join(dir, 'bundle.tar.gz');
    execFileSync(OPA_BIN, ['build', '-b', '-t', 'wasm', ...REQUIRED_ENTRYPOINTS.flatMap((e) => ['-e', e]), '--ignore', '*_test.rego', '--signing-key', join(dir, 'signing.pem'), '-o', out, '.'], { cwd: join(dir, 'src'), stdio: 'pipe' });
    expect(gunzipSync(readFileSync(out)).includes(Buffer.from(` path=/${LONG_DIR}extra.rego\n`))).toBe(true); // Go wrote a PAX record
    const engine = new PolicyEngine({ bundlePath: out, requiredEntrypoints: REQUIRED_ENTRYPOINTS, verification: { publicKey: loadVerificationKey(key.publicPem), algorithm: 'RS256' } });
    const result = await engine.reload();
    expect(result).toMatchObject({ ok: true });
    engine.close();
  });
});
