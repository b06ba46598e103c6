/**
 * Encrypted offload store for KV blocks evicted to CPU/SSD tiers (K1). Always seals: which caller
 * may use it is the policy's business, never a reason to store plaintext.
 *
 * Layout: `<dir>/<tenant>/<blockKey>.blob` (dir 0700, files 0600), each file one sealed blob
 * (blob-codec.ts). Writes are atomic (temp sibling + fsync + rename + fsync dir), so a reader sees
 * the old blob, the new blob, or none — never a torn one. A crash may leave `.…tmp` siblings;
 * `sweep()` removes them.
 */
import { type FileHandle, mkdir, readdir, readFile, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Errors, TgError } from '../errors.js';
import { BlobSealer, openBlob } from './blob-codec.js';
import { isErrnoCode, isTempFileName, PendingFile, syncDirectory } from '../durable-file.js';
import { assertBlockKey, assertTenantId, TENANT_ID_PATTERN } from './ids.js';
import type { KeyStore } from './key-store.js';

const BLOB_SUFFIX = '.blob';
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
}

export interface PutOptions {
  /** Plaintext size limit for this put; exceeding it is TOO_LARGE (413) and leaves no file. */
  readonly maxBytes?: number;
  /**
   * Runs once the blob is sealed and written, before it replaces any previous one (write-ahead,
   * e.g. its audit record); if it throws, the new blob is discarded and the old one stays.
   */
  readonly beforeCommit?: (result: PutResult) => Promise<void>;
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
}

export type BlobSource = Uint8Array | AsyncIterable<Uint8Array>;

export class OffloadStore {
  private constructor(
    readonly dir: string,
    private readonly keys: KeyStore,
    private readonly maxBlobBytes: number,
  ) {}

  static async open(options: OffloadStoreOptions): Promise<OffloadStore> {
    const max = options.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES;
    assertByteLimit(max);
    await mkdir(options.dir, { recursive: true, mode: 0o700 });
    return new OffloadStore(options.dir, options.keys, max);
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

    // Refuses an unknown or erased tenant before touching the disk.
    const sealer = BlobSealer.start(this.keys, tenant, blockKey);
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
      await options.beforeCommit?.({ bytes, version: sealer.version });
    } catch (error) {
      await pending.abort();
      throw this.explain(tenant, error);
    }
    try {
      await pending.commit();
    } catch (error) {
      throw this.explain(tenant, error);
    }
    // Lost a race with eraseTenant: the blob is unreadable anyway (its KEK is gone); do not keep it.
    if (this.keys.isErased(tenant)) {
      await rm(path, { force: true });
      await rmdir(tenantDir).catch(() => undefined);
      throw new TgError(Errors.TENANT_ERASED);
    }
    return { bytes, version: sealer.version };
  }

  /** Opens the blob; NOT_FOUND if there is none, OFFLOAD_AUTH_FAILED if it does not authenticate. */
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
    return openBlob(this.keys, tenant, blockKey, sealed);
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
    await this.removeTenantDir(tenant);
  }

  /**
   * Startup housekeeping (run before serving): removes temporary files left by crashed puts and
   * the directories of erased tenants. Not safe to run concurrently with puts.
   */
  async sweep(): Promise<SweepResult> {
    let tempFilesRemoved = 0;
    let erasedTenantDirsRemoved = 0;
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
        await rm(join(tenantDir, name), { force: true });
        tempFilesRemoved++;
      }
    }
    return { tempFilesRemoved, erasedTenantDirsRemoved };
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
