import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll } from 'vitest';
import { PROJECT_ROOT } from '../../src/project-root.js';

/**
 * Child processes cannot load TypeScript (no tsx here), so tests that need the real keys code in
 * another process transpile it: every file of src/keys plus src/errors.ts, src/durable-file.ts, src/secret-key-file.ts and src/ids.ts (its only imports
 * outside the folder), types stripped, into a temporary tree with the same layout. The child then
 * imports `<root>/src/keys/index.js` and runs exactly the code under test, not a copy or a stale
 * build.
 */
export async function transpileKeysComponent(): Promise<{ root: string; keysEntry: string }> {
  const root = await mkdtemp(join(tmpdir(), 'tg-keys-js-'));
  const keysDir = join(PROJECT_ROOT, 'src/keys');
  const sources = [
    ...(await readdir(keysDir)).filter((name) => name.endsWith('.ts')).map((name) => `src/keys/${name}`),
    'src/errors.ts',
    'src/durable-file.ts',
    'src/secret-key-file.ts',
    'src/ids.ts',
  ];
  await writeFile(join(root, 'package.json'), '{"type":"module"}\n');
  for (const source of sources) {
    const text = await readFile(join(PROJECT_ROOT, source), 'utf8');
    const output = ts.transpileModule(text, {
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
      fileName: source,
    });
    const out = join(root, source.replace(/\.ts$/, '.js'));
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, output.outputText);
  }
  return { root, keysEntry: join(root, 'src/keys/index.js') };
}

/**
 * For a `describe` block: transpiles the keys component before its tests and removes the tree
 * after them. `entry` is the path a child process imports (set once the block's tests run).
 */
export function useTranspiledKeysComponent(): { readonly entry: string } {
  const state = { root: '', entry: '' };
  beforeAll(async () => {
    const { root, keysEntry } = await transpileKeysComponent();
    state.root = root;
    state.entry = keysEntry;
  });
  afterAll(async () => {
    if (state.root) await rm(state.root, { recursive: true, force: true });
  });
  return state;
}
