import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { type AuditKey, decodeLine, GENESIS_PREV, hashMatches, typedRecord, type DecodedLine } from './chain.js';
import { ANCHOR_FILE, listSegments, readAnchor, readLines, type Line } from './files.js';
import type { AuditRecord } from './schema.js';

export type VerifyProblem =
  | 'hash mismatch'
  | 'prev mismatch'
  | 'missing record'
  | 'out of order'
  | 'truncated line'
  | 'malformed line'
  | 'oversized line'
  | 'schema violation'
  | 'anchor ahead of log'
  | 'anchor mismatch'
  | 'anchor unreadable'
  | 'anchor forged'
  | 'anchor missing';

export interface VerifyResult {
  ok: boolean;
  /** records that verified before the first problem (all of them when ok) */
  records: number;
  /**
   * The first sequence number at which the log differs from an intact chain: the edited record,
   * the first missing one, the position where a reordered record sits, the record whose line is
   * torn, or the first record the anchor vouches for that the log no longer has.
   */
  firstBadSeq?: number;
  problem?: VerifyProblem;
  /** where the problem was found: segment file name and 1-based line number */
  file?: string;
  line?: number;
  /** seq and hash of the last good record, e.g. to anchor the log somewhere else */
  lastSeq?: number;
  lastHash?: string;
}

export interface VerifyOptions {
  /** Stop after this seq (the live log's durable head: later bytes may still be in flight). */
  stopAfterSeq?: number;
  /** Anchor file to check against; by default `<dir>/audit.anchor` for a directory, none for files. */
  anchorFile?: string | null;
}

interface SourceLine extends Line {
  file: string;
}

async function* linesOf(files: readonly string[]): AsyncGenerator<SourceLine> {
  for (const file of files) {
    for await (const line of readLines(file)) yield { ...line, file };
  }
}

/** One line of lookahead, used only to tell a reordering from a deletion. */
class Lookahead {
  private buffered: SourceLine | undefined;
  private hasBuffered = false;
  constructor(private readonly source: AsyncGenerator<SourceLine>) {}

  async next(): Promise<SourceLine | undefined> {
    if (this.hasBuffered) {
      this.hasBuffered = false;
      return this.buffered;
    }
    const step = await this.source.next();
    return step.done ? undefined : step.value;
  }

  async peek(): Promise<SourceLine | undefined> {
    if (!this.hasBuffered) {
      const step = await this.source.next();
      this.buffered = step.done ? undefined : step.value;
      this.hasBuffered = true;
    }
    return this.buffered;
  }

  async close(): Promise<void> {
    await this.source.return(undefined);
  }
}

export type WalkItem =
  | { kind: 'record'; record: AuditRecord }
  | { kind: 'problem'; problem: VerifyProblem; seq: number | undefined; file: string; line: number };

/**
 * Walks the chain in file order and yields each verified record, or one problem and stops. With
 * `fromGenesis` the first record must be seq 1 with 64 zeros as prev (a whole log: deleting the
 * first segment is detected); without it, the first record's own seq and prev are the baseline (a
 * segment given on its own).
 */
export async function* walkChain(
  files: readonly string[],
  options: { key: AuditKey; fromGenesis: boolean; stopAfterSeq?: number },
): AsyncGenerator<WalkItem> {
  const lines = new Lookahead(linesOf(files));
  let expected: number | undefined = options.fromGenesis ? 1 : undefined;
  let prevHash = GENESIS_PREV;
  try {
    for (;;) {
      if (options.stopAfterSeq !== undefined && expected !== undefined && expected > options.stopAfterSeq) return;
      const current = await lines.next();
      if (current === undefined) return;
      const where = { file: basename(current.file), line: current.lineNo };
      if (current.oversized) {
        yield { kind: 'problem', problem: 'oversized line', seq: expected, ...where };
        return;
      }
      const decoded: DecodedLine = decodeLine(current.text);
      if (!current.terminated) {
        // Even a parseable line without its newline is reported: the writer always ends lines.
        yield { kind: 'problem', problem: 'truncated line', seq: expected ?? decoded.seq, ...where };
        return;
      }
      if (!decoded.ok) {
        yield { kind: 'problem', problem: 'malformed line', seq: expected ?? decoded.seq, ...where };
        return;
      }
      if (expected === undefined) {
        expected = decoded.seq;
        prevHash = decoded.seq === 1 ? GENESIS_PREV : decoded.prev;
      }
      if (decoded.seq > expected) {
        const next = await lines.peek();
        const nextDecoded = next?.terminated ? decodeLine(next.text) : undefined;
        const reordered = nextDecoded?.ok === true && nextDecoded.seq >= expected && nextDecoded.seq < decoded.seq;
        yield { kind: 'problem', problem: reordered ? 'out of order' : 'missing record', seq: expected, ...where };
        return;
      }
      if (decoded.seq < expected) {
        yield { kind: 'problem', problem: 'out of order', seq: expected, ...where };
        return;
      }
      if (decoded.prev !== prevHash) {
        yield { kind: 'problem', problem: 'prev mismatch', seq: expected, ...where };
        return;
      }
      if (!hashMatches(options.key, decoded)) {
        yield { kind: 'problem', problem: 'hash mismatch', seq: expected, ...where };
        return;
      }
      // A record that hashes correctly but carries content the schema forbids was forged or
      // written by a broken writer; either way it must not be replayed or trusted (L1).
      const record = typedRecord(decoded);
      if (record === null) {
        yield { kind: 'problem', problem: 'schema violation', seq: expected, ...where };
        return;
      }
      yield { kind: 'record', record };
      prevHash = decoded.hash;
      expected = decoded.seq + 1;
    }
  } finally {
    await lines.close();
  }
}

async function resolveInputs(dirOrFiles: string | readonly string[]): Promise<{ files: string[]; dir: string | undefined }> {
  if (typeof dirOrFiles === 'string') {
    if ((await stat(dirOrFiles)).isDirectory()) {
      return { files: (await listSegments(dirOrFiles)).map((segment) => segment.path), dir: dirOrFiles };
    }
    return { files: [dirOrFiles], dir: undefined };
  }
  return { files: [...dirOrFiles], dir: undefined };
}

/**
 * Verifies a log (L2). Given a directory: every `audit-NNNNNN.jsonl` in order from seq 1, plus the
 * directory's anchor. Given files: those files in the given order as one chain segment, which may
 * start after seq 1 (archived segments); pass `anchorFile` to check an anchor too.
 *
 * The anchor closes the one gap a chain cannot see by itself: deleting the newest record(s) leaves
 * a shorter, valid chain. The anchor holds the last durable seq and hash, so a log that ends before
 * the anchor, or disagrees with it at that seq, fails. Both the records and the anchor carry MACs
 * under `key` (chain.ts), so neither can be recomputed after an edit without it. A log with records
 * but no anchor fails too: the writer makes the anchor durable before the first record. What is
 * left: someone who saved an older anchor can cut the log back to it; copying anchors off the host
 * (`lastSeq`/`lastHash`, the audit metrics) detects that.
 */
export async function verifyAuditLog(dirOrFiles: string | readonly string[], key: AuditKey, options: VerifyOptions = {}): Promise<VerifyResult> {
  const { files, dir } = await resolveInputs(dirOrFiles);
  const anchorPath = options.anchorFile === undefined ? (dir === undefined ? null : join(dir, ANCHOR_FILE)) : options.anchorFile;
  const anchor = anchorPath === null ? null : await readAnchor(anchorPath, key);
  if (anchor === 'invalid' || anchor === 'forged') {
    return { ok: false, records: 0, problem: anchor === 'invalid' ? 'anchor unreadable' : 'anchor forged', file: ANCHOR_FILE };
  }

  let records = 0;
  let last: AuditRecord | undefined;
  // A live log keeps growing while it is verified: records that became durable after the caller
  // took `stopAfterSeq` may already be anchored. The anchor is written only after its records are
  // durable (and carries a MAC), so walking up to it is safe and keeps "anchor ahead" meaning loss.
  const stopAfterSeq = options.stopAfterSeq === undefined ? undefined : Math.max(options.stopAfterSeq, anchor?.seq ?? 0);
  const walk = walkChain(files, { key, fromGenesis: dir !== undefined, ...(stopAfterSeq === undefined ? {} : { stopAfterSeq }) });
  for await (const item of walk) {
    if (item.kind === 'problem') {
      return {
        ok: false,
        records,
        ...(item.seq === undefined ? {} : { firstBadSeq: item.seq }),
        problem: item.problem,
        file: item.file,
        line: item.line,
        ...(last === undefined ? {} : { lastSeq: last.seq, lastHash: last.hash }),
      };
    }
    records += 1;
    last = item.record;
    if (anchor !== null && item.record.seq === anchor.seq && item.record.hash !== anchor.hash) {
      return { ok: false, records: records - 1, firstBadSeq: anchor.seq, problem: 'anchor mismatch', file: ANCHOR_FILE };
    }
  }
  const lastSeq = last?.seq ?? 0;
  if (anchorPath !== null && anchor === null && lastSeq > 0) {
    return { ok: false, records, problem: 'anchor missing', file: ANCHOR_FILE, lastSeq, ...(last === undefined ? {} : { lastHash: last.hash }) };
  }
  if (anchor !== null && anchor.seq > lastSeq) {
    // Deleting the final record(s) leaves a valid but shorter chain; only the anchor remembers.
    return { ok: false, records, firstBadSeq: lastSeq + 1, problem: 'anchor ahead of log', file: ANCHOR_FILE, ...(last === undefined ? {} : { lastSeq, lastHash: last.hash }) };
  }
  return { ok: true, records, ...(last === undefined ? {} : { lastSeq, lastHash: last.hash }) };
}

/** One-line human summary of a verification, for `tenantguard audit verify`. */
export function formatVerifyResult(result: VerifyResult): string {
  if (result.ok) {
    return result.lastSeq === undefined
      ? 'audit log OK: no records'
      : `audit log OK: ${result.records} records, last seq ${result.lastSeq}, last hash ${result.lastHash ?? ''}`;
  }
  const at = result.firstBadSeq === undefined ? '' : ` at seq ${result.firstBadSeq}`;
  const where = result.file === undefined ? '' : ` (${result.file}${result.line === undefined ? '' : `:${result.line}`})`;
  return `audit log FAILED${at}: ${result.problem ?? 'unknown problem'}${where}; ${result.records} records verified before it`;
}

/**
 * CLI entry for `tenantguard audit verify [FILES]`: no paths means `defaultDir`; one directory
 * verifies the whole log with its anchor; otherwise the files form one segment. Exit code 0 when the
 * chain verifies, 1 when it does not.
 */
export async function runAuditVerify(
  paths: readonly string[],
  defaultDir: string,
  key: AuditKey,
): Promise<{ exitCode: 0 | 1; output: string; result: VerifyResult }> {
  const target = paths.length === 0 ? defaultDir : paths.length === 1 && paths[0] !== undefined ? paths[0] : paths;
  const result = await verifyAuditLog(target, key);
  return { exitCode: result.ok ? 0 : 1, output: formatVerifyResult(result), result };
}
