import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The repository (or installed package) root, found by walking up to package.json, so defaults
 * such as the compiled policy bundle resolve the same from src/ (tests) and dist/src/ (the CLI).
 */
function findProjectRoot(start: string): string {
  let dir = start;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) return start;
    dir = parent;
  }
  return dir;
}

export const PROJECT_ROOT = findProjectRoot(import.meta.dirname);
