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
import { BundleError, loadVerificationKey, parseBundle, PolicyEngine, REQUIRED_ENTRYPOINTS, type BundleVerification } from '../../src/policy/index.js';
import { OPA_BIN, PROJECT_BUNDLE, REPO_ROOT, rsaKey } from '../support/opa.js';

/** A path component longer than ustar's 100-byte name field, so writers must use a PAX header. */
const LONG_DIR = `tenantguard/${'very_long_directory_name_'.repeat(6)}`;

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

  test('a signed bundle OPA writes with a PAX header (a name longer than ustar holds) verifies and loads', async () => {
    const { out, verification } = signedBundleWithLongName();
    expect(gunzipSync(readFileSync(out)).includes(Buffer.from(` path=/${LONG_DIR}/extra.rego\n`))).toBe(true); // Go wrote a PAX record
    expect(await load(out, verification)).toMatchObject({ ok: true });
  });

  test('the same signed bundle repacked by GNU tar --format=pax is read with its full names and verifies', async () => {
    const { out, verification } = signedBundleWithLongName();
    const dir = mkdtempSync(join(tmpdir(), 'tg-archive-gnu-'));
    mkdirSync(join(dir, 'files'));
    execFileSync('tar', ['xzf', out, '-C', join(dir, 'files')]);
    const repacked = join(dir, 'bundle.tar.gz');
    execFileSync('tar', ['czf', repacked, '--format=pax', '-C', join(dir, 'files'), '.']);
    expect(gunzipSync(readFileSync(repacked)).includes(Buffer.from(` path=./${LONG_DIR}/extra.rego\n`))).toBe(true); // really a PAX record
    expect(await load(repacked, verification)).toMatchObject({ ok: true });
  });
});

/** The project's policies plus a Rego file under a 150-byte directory name, signed by `opa build -b`. */
function signedBundleWithLongName(): { out: string; verification: BundleVerification } {
  const dir = mkdtempSync(join(tmpdir(), 'tg-archive-opa-'));
  execFileSync('cp', ['-r', join(REPO_ROOT, 'policies'), join(dir, 'src')]);
  mkdirSync(join(dir, 'src', LONG_DIR), { recursive: true });
  writeFileSync(join(dir, 'src', LONG_DIR, 'extra.rego'), 'package tenantguard.extra\n\nx := 1\n');
  const key = rsaKey();
  writeFileSync(join(dir, 'signing.pem'), key.privatePem);
  const out = join(dir, 'bundle.tar.gz');
  execFileSync(OPA_BIN, ['build', '-b', '-t', 'wasm', ...REQUIRED_ENTRYPOINTS.flatMap((e) => ['-e', e]), '--ignore', '*_test.rego', '--signing-key', join(dir, 'signing.pem'), '-o', out, '.'], { cwd: join(dir, 'src'), stdio: 'pipe' });
  return { out, verification: { publicKey: loadVerificationKey(key.publicPem), algorithm: 'RS256' } };
}

async function load(bundlePath: string, verification: BundleVerification) {
  const engine = new PolicyEngine({ bundlePath, requiredEntrypoints: REQUIRED_ENTRYPOINTS, verification });
  try {
    return await engine.reload();
  } finally {
    engine.close();
  }
}
