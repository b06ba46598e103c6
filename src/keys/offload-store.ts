/**
 * Encrypted offload store for KV blocks evicted to CPU/SSD tiers (K1). Always seals: which caller
 * may use it is the policy's business, never a reason to store plaintext.
 *
 * Layout: `<dir>/<tenant>/<blockKey>.blob` (dir 0700, files 0600), each file one sealed blob
 * (blob-codec.ts). Writes are atomic (temp sibling + fsync + rename + fsync dir), so a reader sees
 * the old blob, the new blob, or none — never a torn one. A crash may leave `.…tmp` siblings;
 * `sweep()` removes them, or finishes the put whose record is durable.
 *
 * Rollback (issue 20.9): every blob carries an authenticated generation, and a get serves it only
 * if that is the latest generation `BlobVersions` holds for its block key (restored from the audit
 * log at start); an older copy put back in its place is OFFLOAD_STALE (409), a deleted one put
 * back too.
 */
import { type FileHandle, mkdir, readdir, readFile, rename, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Errors, TgError } from '../errors.js';
import { blobGeneration, BlobSealer, openBlob } from './blob-codec.js';
import { BlobVersions } from './blob-versions.js';
import { isErrnoCode, isTempFileName, PendingFile, syncDirectory } from '../durable-file.js';
import { assertBlockKey, assertTenantId, TENANT_ID_PATTERN } from './ids.js';
import type { KeyStore } from './key-store.js';

const BLOB_SUFFIX = '.blob';
/** `.<blockKey>.blob.<12 hex>.tmp`, the temporary name PendingFile gives a put in progress. */
const CRASHED_PUT = /^\.([A-Za-z0-9._-]{1,128})\.blob\.[0-9a-f]{12}\.tmp$/;
const DEFAULT_MAX_BLOB_BYTES = 64 * 1024 * 1024;
const WRITE_BATCH_BYTES = 1024 * 1024;
/** Stay under IOV_MAX (1024 on Linux) so each vectored write is one system call. */
const MAX_WRITE_PIECES = 1000;

export interface OffloadStoreOptions {
  /** Root directory of the offload tier; created (0700) if missing. */
  readonly dir: string;
  readonly keys: KeyStore;
  /** Default plaintext size limit for `put` (64 MiB unless set). */
  readonly maxBlobBytes?: number;
  /**
   * The latest generation of every blob, as the audit log recorded them (issue 20.9). Without it
   * the store starts empty: blobs already on disk are refused as stale until put again.
   */
  readonly versions?: BlobVersions;
  /**
   * The block key as the audit log records it (a keyed digest, L1, issue 20.6): `versions` is keyed
   * by it, so what replay restores and what a live put sets are the same entries.
   */
  readonly recordedKey: (tenant: string, blockKey: string) => string;
}

export interface PutOptions {
  /** Plaintext size limit for this put; exceeding it is TOO_LARGE (413) and leaves no file. */
  readonly maxBytes?: number;
  /**
   * Runs once the blob is sealed and written (and durable), before it replaces any previous one
   * (write-ahead, e.g. its audit record, which must carry `generation` for replay, issue 20.9); if
   * it throws, the new blob is discarded and the old one stays.
   */
  readonly beforeCommit?: (result: PutResult & { readonly generation: number }) => Promise<void>;
}

export interface PutResult {
  /** Plaintext bytes stored. */
  readonly bytes: number;
  /** KEK version the blob is sealed under. */
  readonly version: number;
}

export interface SweepResult {
  readonly tempFilesRemoved: number;
  readonly erasedTenantDirsRemoved: number;
  /** Puts whose record was durable when the process died before the rename: finished (20.9). */
  readonly putsCompleted: number;
}

export type BlobSource = Uint8Array | AsyncIterable<Uint8Array>;

export class OffloadStore {
  /** Per blob, the tail of its commits in flight: one rename per block key at a time (20.9). */
  private readonly committing = new Map<string, Promise<void>>();
  /** Per blob, the generation being renamed into place: a get during the rename may see it (20.9). */
  private readonly renaming = new Map<string, number>();

  private constructor(
    readonly dir: string,
    private readonly keys: KeyStore,
    private readonly maxBlobBytes: number,
    private readonly versions: BlobVersions,
    private readonly recordedKey: (tenant: string, blockKey: string) => string,
  ) {}

  static async open(options: OffloadStoreOptions): Promise<OffloadStore> {
    const max = options.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES;
    assertByteLimit(max);
    await mkdir(options.dir, { recursive: true, mode: 0o700 });
    return new OffloadStore(options.dir, options.keys, max, options.versions ?? new BlobVersions(), options.recordedKey);
  }

  /**
   * Seals `data` (bytes, or an async iterable of chunks such as a request stream) for
   * (tenant, blockKey) under the tenant's current KEK version and replaces any previous blob.
   * The size limit is enforced while streaming: the first chunk that crosses it ends the put with
   * TOO_LARGE (413), stops reading the source, and removes the partial file.
   */
  async put(tenant: string, blockKey: string, data: BlobSource, options: PutOptions = {}): Promise<PutResult> {
    assertTenantId(tenant);
    assertBlockKey(blockKey);
    const limit = options.maxBytes ?? this.maxBlobBytes;
    assertByteLimit(limit);
    const isBytes = data instanceof Uint8Array;
    if (isBytes && data.length > limit) throw new TgError(Errors.TOO_LARGE);
    if (!isBytes && !isAsyncIterable(data)) throw new TgError(Errors.BAD_REQUEST, { message: 'blob data must be bytes or an async iterable of byte chunks' });

    const generation = this.versions.next(); // one burnt if the tenant is refused: harmless
    // Refuses an unknown or erased tenant before touching the disk.
    const sealer = BlobSealer.start(this.keys, tenant, blockKey, generation);
    const tenantDir = join(this.dir, tenant);
    const path = join(tenantDir, blockKey + BLOB_SUFFIX);
    let pending: PendingFile;
    try {
      if ((await mkdir(tenantDir, { recursive: true, mode: 0o700 })) !== undefined) await syncDirectory(this.dir);
      pending = await PendingFile.create(path, 0o600);
    } catch (error) {
      throw this.explain(tenant, error);
    }
    const out = new BatchedWriter(pending.handle);
    let bytes = 0;
    try {
      out.push(sealer.header);
      if (isBytes) {
        bytes = data.length;
        out.push(sealer.update(data));
      } else {
        for await (const chunk of data) {
          if (!(chunk instanceof Uint8Array)) throw new TgError(Errors.BAD_REQUEST, { message: 'blob data chunks must be bytes' });
          bytes += chunk.length;
          if (bytes > limit) throw new TgError(Errors.TOO_LARGE);
          out.push(sealer.update(chunk));
          if (out.size >= WRITE_BATCH_BYTES || out.count >= MAX_WRITE_PIECES) await out.flush();
        }
      }
      out.push(sealer.finish());
      await out.flush();
      // Durable before its record: after a crash, sweep() can finish a put whose record survived
      // (the fsync commit() would do anyway, moved earlier; no extra one).
      await pending.sync();
      await options.beforeCommit?.({ bytes, version: sealer.version, generation });
    } catch (error) {
      await pending.abort();
      throw this.explain(tenant, error);
    }
    try {
      await this.commitLatest(tenant, blockKey, generation, pending);
    } catch (error) {
      throw this.explain(tenant, error);
    }
    // Lost a race with eraseTenant: the blob is unreadable anyway (its KEK is gone); do not keep it.
    if (this.keys.isErased(tenant)) {
      await rm(path, { force: true });
      await rmdir(tenantDir).catch(() => undefined);
      this.versions.forgetTenant(tenant);
      throw new TgError(Errors.TENANT_ERASED);
    }
    return { bytes, version: sealer.version };
  }

  /**
   * Opens the blob; NOT_FOUND if there is none, OFFLOAD_AUTH_FAILED if it does not authenticate,
   * OFFLOAD_STALE if it is authentic but not the latest generation recorded for it (issue 20.9).
   */
  async get(tenant: string, blockKey: string): Promise<Buffer> {
    assertTenantId(tenant);
    assertBlockKey(blockKey);
    this.keys.currentVersion(tenant); // refuses unknown and erased tenants
    let sealed: Buffer;
    try {
      sealed = await readFile(join(this.dir, tenant, blockKey + BLOB_SUFFIX));
    } catch (error) {
      if (isErrnoCode(error, 'ENOENT')) throw new TgError(Errors.NOT_FOUND);
      throw new TgError(Errors.OFFLOAD_AUTH_FAILED);
    }
    const plaintext = openBlob(this.keys, tenant, blockKey, sealed);
    // Authenticated now, generation included: compare it with the latest recorded one.
    const generation = blobGeneration(sealed);
    if (generation !== this.versions.latest(tenant, this.recordedKey(tenant, blockKey)) && generation !== this.renaming.get(`${tenant}/${blockKey}`)) {
      plaintext.fill(0);
      throw new TgError(Errors.OFFLOAD_STALE);
    }
    return plaintext;
  }

  /**
   * Deletes the blob; false if there was none. `beforeRemove` runs only if there is one, before it
   * is removed (write-ahead, e.g. its audit record); if it throws, the blob stays.
   */
  async delete(tenant: string, blockKey: string, beforeRemove?: () => Promise<void>): Promise<boolean> {
    assertTenantId(tenant);
    assertBlockKey(blockKey);
    this.keys.currentVersion(tenant);
    const tenantDir = join(this.dir, tenant);
    try {
      if (beforeRemove) {
        await stat(join(tenantDir, blockKey + BLOB_SUFFIX));
        await beforeRemove();
      }
      await rm(join(tenantDir, blockKey + BLOB_SUFFIX));
    } catch (error) {
      if (isErrnoCode(error, 'ENOENT')) return false;
      throw error;
    }
    this.versions.set(tenant, this.recordedKey(tenant, blockKey), undefined); // a copy put back is not "the latest" (20.9)
    await syncDirectory(tenantDir);
    return true;
  }

  /**
   * Erases a tenant: crypto-shreds its keys first (KeyStore.destroyTenant — from then on nothing
   * can open its blobs, wherever copies of them are), then deletes its blob directory. Idempotent;
   * if the process dies between the two steps, `sweep()` finishes the deletion.
   */
  async eraseTenant(tenant: string): Promise<void> {
    assertTenantId(tenant);
    await this.keys.destroyTenant(tenant);
    this.versions.forgetTenant(tenant);
    await this.removeTenantDir(tenant);
  }

  /**
   * Startup housekeeping (run before serving, after `versions` was restored): finishes crashed
   * puts whose record is durable (the temporary file is complete, authentic and of the latest
   * recorded generation: renamed into place), removes every other temporary file, and removes the
   * directories of erased tenants. Not safe to run concurrently with puts.
   */
  async sweep(): Promise<SweepResult> {
    let tempFilesRemoved = 0;
    let erasedTenantDirsRemoved = 0;
    let putsCompleted = 0;
    for (const entry of await readdir(this.dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || !TENANT_ID_PATTERN.test(entry.name)) continue;
      if (this.keys.isErased(entry.name)) {
        await this.removeTenantDir(entry.name);
        erasedTenantDirsRemoved++;
        continue;
      }
      const tenantDir = join(this.dir, entry.name);
      for (const name of await readdir(tenantDir)) {
        if (!isTempFileName(name)) continue;
        if (await this.completeCrashedPut(entry.name, name)) putsCompleted++;
        else {
          await rm(join(tenantDir, name), { force: true });
          tempFilesRemoved++;
        }
      }
    }
    return { tempFilesRemoved, erasedTenantDirsRemoved, putsCompleted };
  }

  /**
   * A put killed between its durable record and its rename left `.<blockKey>.blob.<random>.tmp`:
   * if that file opens and carries exactly the latest recorded generation, it is the put the log
   * acknowledges; rename it into place. Anything else (a put that never got its record) is not.
   */
  private async completeCrashedPut(tenant: string, name: string): Promise<boolean> {
    const match = CRASHED_PUT.exec(name);
    const blockKey = match?.[1];
    if (blockKey === undefined || this.versions.latest(tenant, this.recordedKey(tenant, blockKey)) === undefined) return false;
    const tenantDir = join(this.dir, tenant);
    const target = join(tenantDir, blockKey + BLOB_SUFFIX);
    try {
      const sealed = await readFile(join(tenantDir, name));
      const generation = blobGeneration(sealed);
      if (generation !== this.versions.latest(tenant, this.recordedKey(tenant, blockKey))) return false;
      const current = await readFile(target).catch(() => undefined);
      if (current !== undefined && blobGeneration(current) === generation) return false; // already in place
      openBlob(this.keys, tenant, blockKey, sealed).fill(0); // authentic, not merely well-formed
    } catch (error) {
      if (error instanceof TgError) return false;
      throw error;
    }
    await rename(join(tenantDir, name), target);
    await syncDirectory(tenantDir);
    return true;
  }

  /**
   * Renames the finished put into place unless a newer generation of the same blob already
   * committed (two concurrent puts: the newer one is the blob, as replay will also say), then
   * records it as the latest. Commits of one block key run one at a time.
   */
  private async commitLatest(tenant: string, blockKey: string, generation: number, pending: PendingFile): Promise<void> {
    const key = `${tenant}/${blockKey}`;
    const previous = this.committing.get(key) ?? Promise.resolve();
    const run = previous.then(async () => {
      const latest = this.versions.latest(tenant, this.recordedKey(tenant, blockKey));
      if (latest !== undefined && latest > generation) {
        await pending.abort();
        return;
      }
      this.renaming.set(key, generation);
      try {
        await pending.commit();
        this.versions.put(tenant, this.recordedKey(tenant, blockKey), generation);
      } finally {
        this.renaming.delete(key);
      }
    });
    const tail = run.catch(() => undefined);
    this.committing.set(key, tail);
    try {
      await run;
    } finally {
      if (this.committing.get(key) === tail) this.committing.delete(key);
    }
  }

  private async removeTenantDir(tenant: string): Promise<void> {
    await rm(join(this.dir, tenant), { recursive: true, force: true });
    await syncDirectory(this.dir);
  }

  /** A put that failed because the tenant was erased meanwhile reports that, not an ENOENT. */
  private explain(tenant: string, error: unknown): unknown {
    if (error instanceof TgError) return error;
    return this.keys.isErased(tenant) ? new TgError(Errors.TENANT_ERASED) : error;
  }
}

function assertByteLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 0) throw new TgError(Errors.BAD_REQUEST, { message: 'maxBytes must be a non-negative integer' });
}

function isAsyncIterable(value: unknown): value is AsyncIterable<Uint8Array> {
  return typeof value === 'object' && value !== null && typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}

/**
 * Collects ciphertext pieces and writes them with one vectored write per batch: a stream of small
 * request chunks would otherwise cost one thread-pool round trip per chunk.
 */
class BatchedWriter {
  private pieces: Uint8Array[] = [];
  size = 0;

  constructor(private readonly handle: FileHandle) {}

  get count(): number {
    return this.pieces.length;
  }

  push(piece: Uint8Array): void {
    if (piece.length === 0) return;
    this.pieces.push(piece);
    this.size += piece.length;
  }

  async flush(): Promise<void> {
    let pieces = this.pieces;
    this.pieces = [];
    this.size = 0;
    while (pieces.length > 0) {
      const { bytesWritten } = await this.handle.writev(pieces);
      pieces = dropWritten(pieces, bytesWritten);
    }
  }
}

/** What remains of `pieces` after a (possibly partial) vectored write of `written` bytes. */
function dropWritten(pieces: Uint8Array[], written: number): Uint8Array[] {
  let left = written;
  let index = 0;
  while (index < pieces.length && left >= (pieces[index]?.length ?? 0)) {
    left -= pieces[index]?.length ?? 0;
    index++;
  }
  const rest = pieces.slice(index);
  const first = rest[0];
  if (first !== undefined && left > 0) rest[0] = first.subarray(left);
  return rest;
}
