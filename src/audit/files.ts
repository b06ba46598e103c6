import { createReadStream } from 'node:fs';
import { open, readdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditKey } from './chain.js';

/** Log segments are `audit-000001.jsonl`, `audit-000002.jsonl`, ...; the chain runs across them. */
const SEGMENT_NAME = /^audit-(\d{6,})\.jsonl$/;
export const ANCHOR_FILE = 'audit.anchor';
/**
 * The anchor is rewritten in place at offset 0 with a fixed length, so a newer anchor always
 * covers an older one completely and no truncate is needed. 256 bytes sit inside one disk sector,
 * whose writes are atomic on the devices we run on, so a crash leaves the old or the new anchor.
 * It carries a MAC under the audit key (domain-separated from record hashes), so whoever can edit
 * the audit directory cannot point it at an earlier record after cutting the log (issue 20.2).
 */
export const ANCHOR_BYTES = 256;
const ANCHOR_VERSION = 2;
/** A line longer than this is not a record (MAX_RECORD_BYTES is 2 MiB); stop instead of buffering. */
export const MAX_LINE_BYTES = 4 * 1024 * 1024;

export function segmentName(index: number): string {
  return `audit-${String(index).padStart(6, '0')}.jsonl`;
}

export interface Segment {
  index: number;
  path: string;
}

/** The segments of a log directory in chain order. */
export async function listSegments(dir: string): Promise<Segment[]> {
  const segments: Segment[] = [];
  for (const name of await readdir(dir)) {
    const match = SEGMENT_NAME.exec(name);
    if (match?.[1] !== undefined) segments.push({ index: Number(match[1]), path: join(dir, name) });
  }
  return segments.sort((a, b) => a.index - b.index);
}

export interface Anchor {
  seq: number;
  hash: string;
}

export function formatAnchor(key: AuditKey, anchor: Anchor): Buffer {
  const text = JSON.stringify({ v: ANCHOR_VERSION, seq: anchor.seq, hash: anchor.hash, mac: key.anchorMac(anchor.seq, anchor.hash) });
  return Buffer.from(`${text.padEnd(ANCHOR_BYTES - 1, ' ')}\n`, 'utf8');
}

/**
 * `null` for an absent or empty anchor (only a new log may have none: callers decide), `'invalid'`
 * for anything else that is not an anchor, `'forged'` for an anchor whose MAC does not verify under
 * the key (edited, or written under another key): neither may silently switch the truncation
 * check off.
 */
export async function readAnchor(path: string, key: AuditKey): Promise<Anchor | null | 'invalid' | 'forged'> {
  let text: string;
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    const buffer = Buffer.alloc(ANCHOR_BYTES * 2);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    text = buffer.subarray(0, bytesRead).toString('utf8').trim();
  } finally {
    await handle.close();
  }
  if (text === '') return null;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === 'object' && parsed !== null) {
      const { v, seq, hash, mac } = parsed as Record<string, unknown>;
      if (
        v === ANCHOR_VERSION &&
        typeof seq === 'number' &&
        Number.isSafeInteger(seq) &&
        seq >= 0 &&
        typeof hash === 'string' &&
        /^[0-9a-f]{64}$/.test(hash) &&
        typeof mac === 'string'
      ) {
        return mac === key.anchorMac(seq, hash) ? { seq, hash } : 'forged';
      }
    }
  } catch {
    // fall through
  }
  return 'invalid';
}

export interface Line {
  text: string;
  /** false for a final line without its newline: a torn write or a truncation */
  terminated: boolean;
  /** 1-based line number within the file */
  lineNo: number;
  /** true if the line exceeded MAX_LINE_BYTES; the reader stops after it */
  oversized: boolean;
}

/** Streams a file's lines, splitting on the newline byte so byte offsets stay exact. */
export async function* readLines(path: string): AsyncGenerator<Line> {
  const stream = createReadStream(path, { highWaterMark: 1024 * 1024 });
  let carry: Buffer[] = [];
  let carryBytes = 0;
  let lineNo = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let start = 0;
      for (;;) {
        const newline = chunk.indexOf(0x0a, start);
        if (newline === -1) break;
        const piece = chunk.subarray(start, newline);
        const whole = carryBytes > 0 ? Buffer.concat([...carry, piece]) : piece;
        carry = [];
        carryBytes = 0;
        lineNo += 1;
        if (whole.length > MAX_LINE_BYTES) {
          yield { text: '', terminated: true, lineNo, oversized: true };
          return;
        }
        yield { text: whole.toString('utf8'), terminated: true, lineNo, oversized: false };
        start = newline + 1;
      }
      if (start < chunk.length) {
        carry.push(chunk.subarray(start));
        carryBytes += chunk.length - start;
        if (carryBytes > MAX_LINE_BYTES) {
          yield { text: '', terminated: false, lineNo: lineNo + 1, oversized: true };
          return;
        }
      }
    }
    if (carryBytes > 0) {
      yield { text: Buffer.concat(carry).toString('utf8'), terminated: false, lineNo: lineNo + 1, oversized: false };
    }
  } finally {
    stream.destroy();
  }
}

export class TailCorruptError extends Error {
  constructor() {
    super('segment tail holds no record boundary within reach');
    this.name = 'TailCorruptError';
  }
}

export interface Tail {
  size: number;
  /** bytes up to and including the last newline: everything after it is a torn write */
  completeBytes: number;
  /** the last newline-terminated line, or null if the file holds none */
  lastLine: string | null;
}

/**
 * Reads only the end of a segment to find the last complete record, so opening a log costs the
 * size of one record, not of the log. The window doubles until it holds the last two newlines.
 */
export async function readTail(path: string): Promise<Tail> {
  const handle = await open(path, 'r');
  try {
    const size = (await handle.stat()).size;
    let window = Math.min(size, 64 * 1024);
    for (;;) {
      const base = size - window;
      const buffer = Buffer.alloc(window);
      let filled = 0;
      while (filled < window) {
        const { bytesRead } = await handle.read(buffer, filled, window - filled, base + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      const view = buffer.subarray(0, filled);
      const lastNewline = view.lastIndexOf(0x0a);
      if (lastNewline === -1) {
        if (base === 0) return { size, completeBytes: 0, lastLine: null };
      } else {
        // lastIndexOf with a negative offset would search from the end, hence the guard.
        const previousNewline = lastNewline > 0 ? view.lastIndexOf(0x0a, lastNewline - 1) : -1;
        if (previousNewline !== -1 || base === 0) {
          return {
            size,
            completeBytes: base + lastNewline + 1,
            lastLine: view.subarray(previousNewline + 1, lastNewline).toString('utf8'),
          };
        }
      }
      if (window > 2 * MAX_LINE_BYTES) {
        // No record boundary within reach: this tail is not something the writer produced, and
        // cutting it off would destroy evidence. The caller refuses to open the log.
        throw new TailCorruptError();
      }
      window = Math.min(size, window * 2);
    }
  } finally {
    await handle.close();
  }
}

export { syncDirectory } from '../durable-file.js';

/**
 * FileHandle.write may write fewer bytes than asked (a full disk, a file-size limit): loop.
 * `position` null appends (the segment is opened with O_APPEND); a number writes in place.
 */
export async function writeFully(handle: FileHandle, bytes: Buffer, position: number | null = null): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    const at = position === null ? null : position + offset;
    const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset, at);
    if (bytesWritten <= 0) throw new Error('write made no progress');
    offset += bytesWritten;
  }
}
