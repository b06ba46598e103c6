import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Errors, TgError } from '../errors.js';

/** Held by this process: a second sidecar in the same process is refused like one in another process. */
const heldHere = new Set<string>();

export interface StateLock {
  release(): void;
}

/**
 * One sidecar per state directory. Two processes appending to one audit log would fork its hash
 * chain, and the second one's start-up repair (truncating a torn tail) could cut records the first
 * just made durable; two on one keystore would overwrite each other's rotations. So each state
 * directory gets a lock file naming the holder's pid, taken before anything is opened.
 *
 * A lock whose process no longer exists (SIGKILL, power loss) is taken over: crash recovery must
 * not need a person. Node has no flock(), so liveness is `kill(pid, 0)`; a recycled pid can make
 * a stale lock look held, and the error says which file to remove then.
 */
export function lockStateDirectories(dirs: readonly string[]): StateLock {
  const taken: string[] = [];
  try {
    for (const dir of [...new Set(dirs)]) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      taken.push(takeLock(join(dir, LOCK_FILE)));
    }
  } catch (error) {
    taken.forEach(releaseLock);
    throw error;
  }
  return { release: () => taken.splice(0).forEach(releaseLock) };
}

export const LOCK_FILE = 'tenantguard.lock';

function takeLock(path: string): string {
  if (heldHere.has(path)) throw locked(path, process.pid);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      heldHere.add(path);
      return path;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = holderOf(path);
    if (holder !== null && holder !== process.pid && isAlive(holder)) throw locked(path, holder);
    unlinkSync(path); // stale: its process is gone (or it is our own pid, recycled after a restart)
  }
  throw locked(path, holderOf(path));
}

function releaseLock(path: string): void {
  heldHere.delete(path);
  try {
    if (holderOf(path) === process.pid) unlinkSync(path);
  } catch {
    /* already gone: nothing to release */
  }
}

function holderOf(path: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

function locked(path: string, pid: number | null): TgError {
  return new TgError(Errors.STATE_LOCKED, {
    message: `${Errors.STATE_LOCKED.message}: ${path} is held by ${pid === process.pid ? 'a sidecar in this process' : `pid ${pid ?? 'unknown'}`}; if no such process is running, remove that file`,
  });
}
