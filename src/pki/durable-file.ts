import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes a file so that after a crash it holds either the old or the new content, never a torn
 * mix: write to a temporary sibling, fsync it, rename over the target, fsync the directory so the
 * rename itself is durable. A torn CA key or revocation list would otherwise fail open or lock
 * every principal out.
 *
 * The temporary file is created with the final mode, so a private key is never readable by others,
 * not even for the instant between create and chmod.
 */
export async function writeFileDurably(path: string, content: string, mode: number): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(tmp, 'wx', mode);
  try {
    await handle.writeFile(content, 'utf8');
    // open() honours the umask; chmod makes the mode exact (0600 keys, 0644 certificates).
    await handle.chmod(mode);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(tmp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  await syncDirectory(dir);
}

/** Creates a directory (and parents) with the given mode and makes its entry durable. */
export async function makeDirectoryDurably(path: string, mode: number): Promise<void> {
  await mkdir(path, { recursive: true, mode });
  await syncDirectory(dirname(path));
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export function isErrnoCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}
