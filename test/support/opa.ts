import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { REQUIRED_ENTRYPOINTS } from '../../src/policy/index.js';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
export const OPA_BIN = join(REPO_ROOT, '.tools/bin/opa');
/** Built by `npm run build` (scripts/build-policies.sh) before the tests run. */
export const PROJECT_BUNDLE = join(REPO_ROOT, 'build/policy/bundle.tar.gz');

/** Compiles Rego with the real OPA CLI into a fresh temp dir and returns the bundle path. */
export function buildBundle(sourceDir: string, entrypoints: readonly string[]): string {
  const out = join(mkdtempSync(join(tmpdir(), 'tg-bundle-')), 'bundle.tar.gz');
  const args = ['build', '-t', 'wasm', ...entrypoints.flatMap((e) => ['-e', e]), '--ignore', '*_test.rego', '-o', out, sourceDir];
  execFileSync(OPA_BIN, args, { stdio: 'pipe' });
  return out;
}

export interface SigningKey {
  readonly privatePem: string;
  readonly publicPem: string;
}

export function rsaKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

export function ecKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** The project's policies (all entrypoints) as a signed bundle: `opa build -b -t wasm --signing-key ...`. */
export function signedBundle(key: SigningKey, options: { algorithm?: string; keyId?: string } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'tg-signed-'));
  writeFileSync(join(dir, 'signing.pem'), key.privatePem, { mode: 0o600 });
  const claims = options.keyId ? ['--claims-file', join(dir, 'claims.json')] : [];
  if (options.keyId) writeFileSync(join(dir, 'claims.json'), JSON.stringify({ keyid: options.keyId }));
  const out = join(dir, 'bundle.tar.gz');
  execFileSync(
    OPA_BIN,
    ['build', '-b', '-t', 'wasm', ...REQUIRED_ENTRYPOINTS.flatMap((e) => ['-e', e]), '--ignore', '*_test.rego', '--signing-key', join(dir, 'signing.pem'), '--signing-alg', options.algorithm ?? 'RS256', ...claims, '-o', out, '.'],
    { cwd: join(REPO_ROOT, 'policies'), stdio: 'pipe' },
  );
  return out;
}
