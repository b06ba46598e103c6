import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

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
