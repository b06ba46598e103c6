import { constants } from 'node:fs';
import { mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Errors, TgError } from '../errors.js';
import { type AuditKey, type RecordedIdKind, decodeLine, encodeRecord, GENESIS_PREV, hashMatches, lineFits, typedRecord } from './chain.js';
import {
  ANCHOR_FILE,
  formatAnchor,
  listSegments,
  readAnchor,
  readTail,
  segmentName,
  syncDirectory,
  TailCorruptError,
  writeFully,
  type Anchor,
} from './files.js';
import { validateAuditEvent, type AuditEvent, type AuditRecord } from './schema.js';
import { verifyAuditLog, walkChain, type VerifyResult } from './verify.js';

export interface AuditLogOptions {
  /** Directory holding `audit-NNNNNN.jsonl` segments and `audit.anchor`; created if missing. */
  dir: string;
  /** The MAC key of the chain and the anchor (L2); kept outside `dir` (see chain.ts). */
  key: AuditKey;
  /** Start a new segment before a group commit would grow the current one past this; default 64 MiB. */
  maxFileBytes?: number;
  /**
   * How long the first append of an idle log waits for company before its batch is written.
   * 0 (default) writes on the next turn of the event loop, which already batches everything appended
   * in the same tick and everything appended while the previous write+fsync was in flight.
   */
  groupCommitMaxWaitMs?: number;
  /** Minimum time between automatic recovery attempts triggered by appends; default 1000 ms. */
  recoveryRetryMs?: number;
}

export interface AuditLogStats {
  /** records made durable (including recovery records) */
  records: number;
  /** group commits: one write and one fsync each */
  commits: number;
  /** successful fsyncs of segment data */
  fsyncs: number;
  /** largest number of records in one group commit */
  maxBatch: number;
  rotations: number;
  /** write or fsync failures that took the log down */
  failures: number;
  recoveries: number;
  /** failed anchor writes (the anchor then lags; verification still passes) */
  anchorErrors: number;
  /** appends refused because the log was down or closed */
  refused: number;
}

export interface AuditOpenReport {
  segments: number;
  lastSeq: number;
  /** Bytes of an unfinished last line found at open (a crash mid-write), moved aside to `tornTailFile`. */
  tornTailBytes: number;
  tornTailFile?: string;
}

interface ChainHead {
  seq: number;
  hash: string;
}

interface PendingAppend {
  record: AuditRecord;
  line: string;
  resolve: (record: AuditRecord) => void;
  reject: (error: TgError) => void;
}

const DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024;

/**
 * Segments are opened O_DSYNC where the platform has it: each write(2) returns only once its data
 * and the size change are on stable storage, which is what write + fdatasync gives, in one system
 * call and one thread-pool round trip instead of two (every group commit pays it). Where O_DSYNC
 * is missing, writeBatch calls fdatasync itself.
 */
const SYNC_ON_WRITE = typeof constants.O_DSYNC === 'number';
/** Records and anchor are the owner's only: the log is content-free, but not for others to edit. */
const SEGMENT_MODE = 0o600;
const SEGMENT_FLAGS = SYNC_ON_WRITE ? constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_DSYNC : 'a';

function auditDown(reason: string): TgError {
  return new TgError(Errors.AUDIT_DOWN, { reasons: [reason] });
}

function corrupt(reason: string, details: Record<string, unknown> = {}): TgError {
  return new TgError(Errors.AUDIT_CORRUPT, { reasons: [reason], details });
}

/** An errno code such as EFBIG is safe to surface; a message might quote a path or worse (L1). */
function ioReason(error: unknown): string {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && /^[A-Z0-9_]{1,32}$/.test(code) ? `audit_io_error:${code.toLowerCase()}` : 'audit_io_error';
}

/**
 * Append-only, hash-chained, content-free JSONL audit log with group commit (L1, L2).
 *
 * Ordering: `append` validates the event and assigns seq, prev and hash synchronously, so the log
 * order is the call order. Callers apply an in-memory state change and call `append` in the same
 * tick; they answer their client only after the returned promise resolves, i.e. after the record
 * is fsynced.
 *
 * Group commit: appends are queued; one write plus one fdatasync makes a whole batch durable. While
 * that is in flight, new appends collect into the next batch. Successful appends resolve in append
 * order, all in one synchronous pass after the fsync.
 *
 * Fail closed: when a write or fsync fails, the log goes down (`healthy` = false), the chain head
 * returns to the last durable record, the segment is truncated back to its durable length (no half
 * line stays behind), and only then every append that was not durable is rejected with
 * AUDIT_DOWN. Rejection order guarantee: all of them are rejected in ONE synchronous pass, newest
 * (highest seq) first, so rollback handlers attached to the returned promises run in reverse append
 * order and no other I/O callback runs in between. Appends made after the failure was detected are
 * rejected immediately, which is earlier and therefore also newest-first. Recovery (`tryRecover`,
 * or automatically on an append at most every `recoveryRetryMs`) reopens the segment, truncates it
 * to the durable length again and writes + fsyncs a `lifecycle`/`audit.recovered` record; only if
 * that works is the log healthy again. The append that triggers an automatic attempt is itself
 * refused: it cannot be ordered before a recovery record whose outcome is not known yet.
 */
export class AuditLog {
  readonly dir: string;
  readonly openReport: AuditOpenReport;
  private readonly key: AuditKey;
  private readonly maxFileBytes: number;
  private readonly maxWaitMs: number;
  private readonly retryMs: number;

  private segmentIndex: number;
  private segmentPath: string;
  /** Durable length of the current segment: what a failure truncates back to. */
  private segmentBytes: number;
  private handle: FileHandle | null;
  private readonly anchorHandle: FileHandle;

  /** Last assigned record (may not be durable yet). */
  private head: ChainHead;
  /** Last fsynced record. */
  private durable: ChainHead;

  private queue: PendingAppend[] = [];
  private flushing = false;
  private flushTask: Promise<void> = Promise.resolve();
  private cancelScheduledFlush: (() => void) | null = null;

  private isHealthy = true;
  private closing = false;
  private closeTask: Promise<void> | null = null;
  private repairTask: Promise<void> = Promise.resolve();
  private recoverTask: Promise<boolean> | null = null;
  private lastRecoveryAttempt = 0;
  private refusedSinceFailure = 0;

  private anchorWanted: ChainHead;
  private anchorWrittenSeq: number;
  private anchorTask: Promise<void> | null = null;

  private readonly counters: AuditLogStats = {
    records: 0,
    commits: 0,
    fsyncs: 0,
    maxBatch: 0,
    rotations: 0,
    failures: 0,
    recoveries: 0,
    anchorErrors: 0,
    refused: 0,
  };

  private constructor(init: {
    dir: string;
    key: AuditKey;
    maxFileBytes: number;
    maxWaitMs: number;
    retryMs: number;
    segmentIndex: number;
    segmentBytes: number;
    handle: FileHandle;
    anchorHandle: FileHandle;
    head: ChainHead;
    openReport: AuditOpenReport;
  }) {
    this.dir = init.dir;
    this.key = init.key;
    this.maxFileBytes = init.maxFileBytes;
    this.maxWaitMs = init.maxWaitMs;
    this.retryMs = init.retryMs;
    this.segmentIndex = init.segmentIndex;
    this.segmentPath = join(init.dir, segmentName(init.segmentIndex));
    this.segmentBytes = init.segmentBytes;
    this.handle = init.handle;
    this.anchorHandle = init.anchorHandle;
    this.head = init.head;
    this.durable = init.head;
    this.anchorWanted = init.head;
    this.anchorWrittenSeq = init.head.seq;
    this.openReport = init.openReport;
  }

  /**
   * Opens (or creates) the log in `dir` and continues its chain. Only the tail of the newest
   * segment is read. An unfinished last line (a crash mid-write: never acknowledged) is moved to a
   * `.torn-*` file beside the segment and cut off. Refuses with AUDIT_CORRUPT when the tail is not
   * a valid record or the anchor is ahead of / disagrees with the log: appending would then reuse
   * sequence numbers and overwrite the evidence that records were removed.
   */
  static async open(options: AuditLogOptions): Promise<AuditLog> {
    const maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    const maxWaitMs = options.groupCommitMaxWaitMs ?? 0;
    const retryMs = options.recoveryRetryMs ?? 1000;
    if (!Number.isSafeInteger(maxFileBytes) || maxFileBytes < 1) throw new TgError(Errors.CONFIG_INVALID, { reasons: ['audit_max_file_bytes'] });
    if (!Number.isFinite(maxWaitMs) || maxWaitMs < 0) throw new TgError(Errors.CONFIG_INVALID, { reasons: ['audit_group_commit_max_wait_ms'] });
    if (!Number.isFinite(retryMs) || retryMs < 0) throw new TgError(Errors.CONFIG_INVALID, { reasons: ['audit_recovery_retry_ms'] });
    const dir = resolve(options.dir);

    let segments;
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      segments = await listSegments(dir);
    } catch (error) {
      throw auditDown(ioReason(error));
    }
    await refuseSharedDirectory(dir);

    let head: ChainHead = { seq: 0, hash: GENESIS_PREV };
    let segmentIndex = 1;
    let segmentBytes = 0;
    let tornTailBytes = 0;
    let tornTailFile: string | undefined;
    let handle: FileHandle | null = null;
    let anchorHandle: FileHandle | null = null;
    try {
      const newest = segments.at(-1);
      if (newest === undefined) {
        handle = await open(join(dir, segmentName(1)), SEGMENT_FLAGS, SEGMENT_MODE);
        await syncDirectory(dir);
      } else {
        segmentIndex = newest.index;
        handle = await open(newest.path, SEGMENT_FLAGS, SEGMENT_MODE);
        // Walk back past empty segments (a rotation that crashed before its first record).
        for (let i = segments.length - 1; i >= 0; i -= 1) {
          const segment = segments[i];
          if (segment === undefined) continue;
          const tail = await readTail(segment.path);
          if (tail.size > tail.completeBytes) {
            if (segment !== newest) {
              // Only the newest segment is ever written; a torn older one was tampered with.
              throw corrupt('torn_line_in_rotated_segment', { file: segmentName(segment.index) });
            }
            // A crash mid-write leaves a partial last line that no caller was ever told is
            // durable. Keep the bytes as evidence, then cut them so the chain can continue.
            tornTailFile = `${segment.path}.torn-${Date.now()}`;
            await saveTornTail(segment.path, tail.completeBytes, tail.size, tornTailFile);
            await handle.truncate(tail.completeBytes);
            await handle.datasync();
            tornTailBytes = tail.size - tail.completeBytes;
          }
          if (segment === newest) segmentBytes = tail.completeBytes;
          if (tail.lastLine !== null) {
            head = tailHead(options.key, tail.lastLine, segmentName(segment.index));
            break;
          }
        }
      }

      const anchor = await readAnchor(join(dir, ANCHOR_FILE), options.key);
      checkAnchor(anchor, head);
      anchorHandle = await open(join(dir, ANCHOR_FILE), constants.O_RDWR | constants.O_CREAT, 0o600);
      await writeFully(anchorHandle, formatAnchor(options.key, head), 0);
      // Durable before the first record can be: from then on a missing anchor means tampering.
      await anchorHandle.datasync();
      await syncDirectory(dir);
    } catch (error) {
      await handle?.close().catch(() => undefined);
      await anchorHandle?.close().catch(() => undefined);
      if (error instanceof TgError) throw error;
      if (error instanceof TailCorruptError) throw corrupt('tail_not_a_record');
      throw auditDown(ioReason(error));
    }

    return new AuditLog({
      dir,
      key: options.key,
      maxFileBytes,
      maxWaitMs,
      retryMs,
      segmentIndex,
      segmentBytes,
      handle,
      anchorHandle,
      head,
      openReport: { segments: Math.max(segments.length, 1), lastSeq: head.seq, tornTailBytes, ...(tornTailFile === undefined ? {} : { tornTailFile }) },
    });
  }

  /** false after a write/fsync failure until a recovery succeeds; false once closed. */
  get healthy(): boolean {
    return this.isHealthy && !this.closing;
  }

  /** seq of the last record assigned (durable or still in the current group commit). */
  get lastSeq(): number {
    return this.head.seq;
  }

  /** seq of the last fsynced record. */
  get durableSeq(): number {
    return this.durable.seq;
  }

  get stats(): Readonly<AuditLogStats> {
    return { ...this.counters };
  }

  /**
   * Validates `event` (L1), chains it synchronously and resolves once it is fsynced. Rejects with
   * AUDIT_RECORD_INVALID (nothing is written, no seq is used) or AUDIT_DOWN (see the class doc).
   */
  /** The value a client-chosen id is recorded as (see AuditKey.recordedId; L1, issue 20.6). */
  recordedId(kind: RecordedIdKind, tenant: string, id: string): string {
    return this.key.recordedId(kind, tenant, id);
  }

  append(event: AuditEvent): Promise<AuditRecord> {
    if (this.closing) {
      this.counters.refused += 1;
      return Promise.reject(auditDown('audit_log_closed'));
    }
    if (!this.isHealthy) {
      this.counters.refused += 1;
      this.refusedSinceFailure += 1;
      this.maybeRetryRecovery();
      return Promise.reject(auditDown('audit_log_down'));
    }
    let valid: AuditEvent;
    try {
      valid = validateAuditEvent(event);
    } catch (error) {
      return Promise.reject(error instanceof TgError ? error : new TgError(Errors.AUDIT_RECORD_INVALID));
    }
    const seq = this.head.seq + 1;
    const encoded = encodeRecord(this.key, valid, seq, new Date().toISOString(), this.head.hash);
    if (!lineFits(encoded.line)) {
      return Promise.reject(new TgError(Errors.AUDIT_RECORD_INVALID, { reasons: ['record_too_large'] }));
    }
    this.head = { seq, hash: encoded.record.hash };
    return new Promise<AuditRecord>((resolvePromise, rejectPromise) => {
      this.queue.push({ record: encoded.record, line: encoded.line, resolve: resolvePromise, reject: rejectPromise });
      this.scheduleFlush();
    });
  }

  /**
   * Tries to bring a down log back: truncate the segment to its durable length, reopen it, write and
   * fsync an `audit.recovered` lifecycle record (which also tells auditors how many appends were
   * refused meanwhile). Resolves true if the log is healthy afterwards. Never rejects.
   */
  tryRecover(): Promise<boolean> {
    if (this.closing) return Promise.resolve(false);
    if (this.isHealthy) return Promise.resolve(true);
    if (this.recoverTask !== null) return this.recoverTask;
    const task = this.recover();
    this.recoverTask = task;
    void task.then(() => {
      if (this.recoverTask === task) this.recoverTask = null;
    });
    return task;
  }

  /**
   * Every durable record in order, across segments, each checked against the chain as it is read
   * (a replay must not rebuild state from a tampered log). Stops at the durable head as of the
   * call. Throws TgError(AUDIT_CORRUPT) at the first record that does not verify.
   */
  async *records(): AsyncGenerator<AuditRecord> {
    const upTo = this.durable.seq;
    if (upTo === 0) return;
    const files = (await listSegments(this.dir)).map((segment) => segment.path);
    let last = 0;
    for await (const item of walkChain(files, { key: this.key, fromGenesis: true, stopAfterSeq: upTo })) {
      if (item.kind === 'problem') {
        throw corrupt(`audit_${item.problem.replaceAll(' ', '_')}`, { seq: item.seq, file: item.file, line: item.line });
      }
      last = item.record.seq;
      yield item.record;
    }
    if (last < upTo) throw corrupt('audit_missing_record', { seq: last + 1 });
  }

  /** Verifies the whole log up to the durable head, including the anchor (safe while appending). */
  verify(): Promise<VerifyResult> {
    return verifyAuditLog(this.dir, this.key, { stopAfterSeq: this.durable.seq });
  }

  /** Makes everything appended so far durable (or rejected), then closes. Later appends are refused. */
  close(): Promise<void> {
    if (this.closeTask === null) {
      this.closing = true;
      this.closeTask = this.shutDown();
    }
    return this.closeTask;
  }

  private async shutDown(): Promise<void> {
    if (this.cancelScheduledFlush !== null) {
      this.cancelScheduledFlush();
      this.startFlush();
    }
    while (this.flushing) await this.flushTask;
    await this.repairTask;
    if (this.recoverTask !== null) await this.recoverTask;
    while (this.anchorTask !== null) await this.anchorTask;
    await this.handle?.close().catch(() => undefined);
    this.handle = null;
    await this.anchorHandle.close().catch(() => undefined);
  }

  private scheduleFlush(): void {
    if (this.flushing || this.cancelScheduledFlush !== null) return;
    if (this.maxWaitMs > 0) {
      const timer = setTimeout(() => this.startFlush(), this.maxWaitMs);
      this.cancelScheduledFlush = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(() => this.startFlush());
      this.cancelScheduledFlush = () => clearImmediate(immediate);
    }
  }

  private startFlush(): void {
    this.cancelScheduledFlush = null;
    if (this.flushing) return;
    this.flushing = true;
    this.flushTask = this.flushLoop();
  }

  /**
   * The group-commit loop. `flushing` is cleared in the same synchronous step that sees the queue
   * empty, so an append either lands in a batch this loop will still take or schedules a new loop.
   */
  private async flushLoop(): Promise<void> {
    for (;;) {
      if (this.queue.length === 0 || !this.isHealthy) {
        this.flushing = false;
        return;
      }
      const batch = this.queue;
      this.queue = [];
      const bytes = Buffer.from(batch.map((pending) => pending.line).join(''), 'utf8');
      try {
        await this.writeBatch(bytes);
      } catch (error) {
        this.flushing = false;
        await this.failClosed(batch, error);
        return;
      }
      this.segmentBytes += bytes.length;
      const newest = batch.at(-1);
      if (newest !== undefined) this.durable = { seq: newest.record.seq, hash: newest.record.hash };
      this.counters.records += batch.length;
      this.counters.commits += 1;
      this.counters.maxBatch = Math.max(this.counters.maxBatch, batch.length);
      for (const pending of batch) pending.resolve(pending.record);
      this.requestAnchor();
    }
  }

  private async writeBatch(bytes: Buffer): Promise<void> {
    if (this.segmentBytes > 0 && this.segmentBytes + bytes.length > this.maxFileBytes) await this.rotate();
    const handle = this.handle;
    if (handle === null) throw new Error('no open segment');
    await writeFully(handle, bytes);
    // fdatasync covers the data and the size change of an append; no need for the full fsync.
    if (!SYNC_ON_WRITE) await handle.datasync();
    this.counters.fsyncs += 1;
  }

  /** Continues the chain in the next segment; the switch happens only once the new file is durable. */
  private async rotate(): Promise<void> {
    const index = this.segmentIndex + 1;
    const path = join(this.dir, segmentName(index));
    const next = await open(path, SEGMENT_FLAGS, SEGMENT_MODE);
    try {
      // A leftover file from a failed earlier rotation is fine only if it is still empty.
      if ((await next.stat()).size !== 0) throw new Error('next segment is not empty');
      await syncDirectory(this.dir);
    } catch (error) {
      await next.close().catch(() => undefined);
      throw error;
    }
    const previous = this.handle;
    this.handle = next;
    this.segmentIndex = index;
    this.segmentPath = path;
    this.segmentBytes = 0;
    this.counters.rotations += 1;
    await previous?.close().catch(() => undefined); // its records are already durable
  }

  private failClosed(batch: PendingAppend[], error: unknown): Promise<void> {
    // Synchronously: stop accepting, forget everything that is not durable.
    this.isHealthy = false;
    const victims = [...batch, ...this.queue];
    this.queue = [];
    this.head = this.durable;
    this.counters.failures += 1;
    this.refusedSinceFailure = victims.length;
    this.lastRecoveryAttempt = Date.now();
    const reason = ioReason(error);
    this.repairTask = this.discardUndurable().then(() => {
      // One synchronous pass, newest first: callers undo their in-memory changes in reverse order.
      for (let i = victims.length - 1; i >= 0; i -= 1) victims[i]?.reject(auditDown(reason));
    });
    return this.repairTask;
  }

  /**
   * After a failed write or fsync the handle is never used again: Linux may have dropped the dirty
   * pages and marked them clean, so a later fsync on the same fd can report success for data that
   * never reached the disk ("fsyncgate"). Then cut the segment back to its durable length so no
   * half line and no rejected record stays behind.
   */
  private async discardUndurable(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await handle?.close().catch(() => undefined);
    await this.truncateToDurable().catch(() => undefined);
  }

  private async truncateToDurable(): Promise<void> {
    const { size } = await stat(this.segmentPath);
    // Shorter than what was fsynced means durable records vanished; never pad with zeros.
    if (size < this.segmentBytes) throw corrupt('segment_shorter_than_durable');
    if (size === this.segmentBytes) return;
    const handle = await open(this.segmentPath, 'r+');
    try {
      await handle.truncate(this.segmentBytes);
      await handle.datasync();
    } finally {
      await handle.close();
    }
  }

  private maybeRetryRecovery(): void {
    if (this.recoverTask === null && !this.closing && Date.now() - this.lastRecoveryAttempt >= this.retryMs) {
      void this.tryRecover();
    }
  }

  private async recover(): Promise<boolean> {
    await this.repairTask;
    this.lastRecoveryAttempt = Date.now();
    if (this.isHealthy || this.closing) return this.isHealthy;
    let handle: FileHandle | null = null;
    try {
      await this.truncateToDurable();
      handle = await open(this.segmentPath, SEGMENT_FLAGS, SEGMENT_MODE);
      const event = validateAuditEvent({
        type: 'lifecycle',
        severity: 'warning',
        principal: { role: 'system', id: 'tenantguard' },
        action: 'audit.recovered',
        decision: 'allow',
        reasons: ['audit_write_failed'],
        counts: { refused: this.refusedSinceFailure },
      });
      const encoded = encodeRecord(this.key, event, this.durable.seq + 1, new Date().toISOString(), this.durable.hash);
      const bytes = Buffer.from(encoded.line, 'utf8');
      await writeFully(handle, bytes);
      if (!SYNC_ON_WRITE) await handle.datasync();
      this.counters.fsyncs += 1;
      this.handle = handle;
      this.segmentBytes += bytes.length;
      this.durable = { seq: encoded.record.seq, hash: encoded.record.hash };
      this.head = this.durable;
      this.refusedSinceFailure = 0;
      this.counters.records += 1;
      this.counters.recoveries += 1;
      this.isHealthy = true;
      this.requestAnchor();
      return true;
    } catch {
      await handle?.close().catch(() => undefined);
      await this.truncateToDurable().catch(() => undefined);
      return false;
    }
  }

  /**
   * The anchor records the last durable seq and hash after each group commit, without an fsync of
   * its own: it may lag after a crash (harmless), but it is written only after the records it names
   * are durable, so it is never ahead of an untampered log. Writes coalesce: at most one is in
   * flight and it always writes the newest durable head.
   */
  private requestAnchor(): void {
    this.anchorWanted = this.durable;
    if (this.anchorTask === null) this.anchorTask = this.writeAnchors();
  }

  private async writeAnchors(): Promise<void> {
    await Promise.resolve(); // lets requestAnchor store this task before the loop may clear it
    for (;;) {
      const wanted: Anchor = this.anchorWanted;
      if (wanted.seq <= this.anchorWrittenSeq) {
        this.anchorTask = null;
        return;
      }
      try {
        await writeFully(this.anchorHandle, formatAnchor(this.key, wanted), 0);
        this.anchorWrittenSeq = wanted.seq;
      } catch {
        this.counters.anchorErrors += 1;
        this.anchorTask = null;
        return;
      }
    }
  }
}

function tailHead(key: AuditKey, line: string, file: string): ChainHead {
  const decoded = decodeLine(line);
  if (!decoded.ok || !hashMatches(key, decoded) || typedRecord(decoded) === null) throw corrupt('tail_record_invalid', { file });
  return { seq: decoded.seq, hash: decoded.hash };
}

/**
 * Only a log without records may lack its anchor: the anchor is made durable before the first
 * record (open), so a missing one was deleted, e.g. together with the newest records (issue 20.2).
 */
function checkAnchor(anchor: Anchor | null | 'invalid' | 'forged', head: ChainHead): void {
  if (anchor === 'invalid') throw corrupt('anchor_unreadable');
  if (anchor === 'forged') throw corrupt('anchor_forged');
  if (anchor === null) {
    if (head.seq > 0) throw corrupt('anchor_missing', { logSeq: head.seq });
    return;
  }
  if (anchor.seq > head.seq) throw corrupt('anchor_ahead_of_log', { anchorSeq: anchor.seq, logSeq: head.seq });
  if (anchor.seq === head.seq && anchor.hash !== head.hash) throw corrupt('anchor_mismatch', { seq: anchor.seq });
}

/**
 * A directory group or others can write lets them delete or replace segments and the anchor
 * (issue 20.10: a directory the sidecar did not create kept whatever mode it had).
 */
async function refuseSharedDirectory(dir: string): Promise<void> {
  const info = await stat(dir);
  if (!info.isDirectory() || (info.mode & 0o022) !== 0) {
    throw new TgError(Errors.CONFIG_INVALID, {
      reasons: ['audit_dir_shared'],
      message: `audit directory ${dir} must be a directory that only its owner can write (chmod 700 it)`,
    });
  }
}

async function saveTornTail(path: string, from: number, to: number, target: string): Promise<void> {
  const source = await open(path, 'r');
  const bytes = Buffer.alloc(to - from);
  try {
    await source.read(bytes, 0, bytes.length, from);
  } finally {
    await source.close();
  }
  const sink = await open(target, 'wx', 0o600);
  try {
    await writeFully(sink, bytes);
    await sink.sync();
  } finally {
    await sink.close();
  }
}
