import { randomBytes } from 'node:crypto';
import { type FileHandle, mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Crash-safe file replacement, shared by pki/ (CA key, revocation list), keys/ (keystore, blobs)
 * and audit/ (directory entries of new segments): write a temporary sibling created with the final
 * mode, fsync it, rename it over the target, fsync the directory so the rename itself is durable.
 * After a crash the target holds the old or the new content, never a torn mix (a torn revocation
 * list would fail open, a torn keystore would lose every tenant's keys); at worst a `.tmp` sibling
 * is left behind, which `isTempFileName` recognises so owners can sweep it.
 */
export const TEMP_SUFFIX = '.tmp';

export function isTempFileName(name: string): boolean {
  return name.startsWith('.') && name.endsWith(TEMP_SUFFIX);
}

/** A temporary sibling being written; `commit` makes it the target, `abort` removes it. */
export class PendingFile {
  private settled = false;
  private synced = false;

  private constructor(
    readonly handle: FileHandle,
    private readonly tmpPath: string,
    private readonly targetPath: string,
  ) {}

  static async create(targetPath: string, mode: number): Promise<PendingFile> {
    const tmpPath = join(dirname(targetPath), `.${basename(targetPath)}.${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`);
    const handle = await open(tmpPath, 'wx', mode);
    try {
      // open() honours the umask; chmod makes the mode exact.
      await handle.chmod(mode);
    } catch (error) {
      await handle.close();
      await rm(tmpPath, { force: true });
      throw error;
    }
    return new PendingFile(handle, tmpPath, targetPath);
  }

  /**
   * Makes the content durable now, before `commit` (which then does not sync again): for owners
   * that must know the finished file survives a crash before they record it (offload puts, 20.9).
   */
  async sync(): Promise<void> {
    await this.handle.sync();
    this.synced = true;
  }

  async commit(): Promise<void> {
    this.settled = true;
    try {
      if (!this.synced) await this.handle.sync();
    } catch (error) {
      await this.handle.close().catch(() => undefined);
      await rm(this.tmpPath, { force: true });
      throw error;
    }
    await this.handle.close();
    try {
      await rename(this.tmpPath, this.targetPath);
    } catch (error) {
      await rm(this.tmpPath, { force: true });
      throw error;
    }
    await syncDirectory(dirname(this.targetPath));
  }

  async abort(): Promise<void> {
    if (this.settled) return;
    this.settled = true;
    await this.handle.close().catch(() => undefined);
    await rm(this.tmpPath, { force: true });
  }
}

export async function writeFileDurably(path: string, content: string | Uint8Array, mode: number): Promise<void> {
  const pending = await PendingFile.create(path, mode);
  try {
    await pending.handle.writeFile(content);
  } catch (error) {
    await pending.abort();
    throw error;
  }
  await pending.commit();
}

/** Creates a directory (and parents) with the given mode and makes its entry durable. */
export async function makeDirectoryDurably(path: string, mode: number): Promise<void> {
  await mkdir(path, { recursive: true, mode });
  await syncDirectory(dirname(path));
}

export async function syncDirectory(dir: string): Promise<void> {
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
