import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Errors, TgError } from '../errors.js';
import { type AuditKey, decodeLine, GENESIS_PREV, hashMatches, typedRecord, type DecodedLine } from './chain.js';
import { ANCHOR_FILE, listSegments, readAnchor, readLines, segmentName, type Line } from './files.js';
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
  /**
   * Anchor file to check against, `null` for none. By default `<dir>/audit.anchor` for a directory
   * and, for segment files, `audit.anchor` beside the last of them (issue 17.7).
   */
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

/** A path that is not there is the caller's mistake, named as such (issue 17.7: it was a raw ENOENT, exit 70). */
async function statOrRefuse(path: string): Promise<Stats> {
  try {
    return await stat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new TgError(Errors.AUDIT_PATH_MISSING, { message: `audit log path ${path} does not exist; give the audit directory (paths.audit of the config) or segment files in it` });
    }
    throw error;
  }
}

async function resolveInputs(dirOrFiles: string | readonly string[]): Promise<{ files: string[]; dir: string | undefined }> {
  if (typeof dirOrFiles === 'string') {
    if ((await statOrRefuse(dirOrFiles)).isDirectory()) {
      return { files: (await listSegments(dirOrFiles)).map((segment) => segment.path), dir: dirOrFiles };
    }
    return { files: [dirOrFiles], dir: undefined };
  }
  for (const file of dirOrFiles) await statOrRefuse(file);
  return { files: [...dirOrFiles], dir: undefined };
}

/**
 * The anchor that vouches for segment files given on their own: the one in the directory of the
 * last file (the newest segment holds the head of the log). Without it a log cut at its end
 * verified OK as soon as its segments were named instead of its directory (issue 17.7).
 */
function anchorBesideFiles(files: readonly string[]): string | null {
  const last = files.at(-1);
  return last === undefined ? null : join(dirname(last), ANCHOR_FILE);
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
  const anchorPath = options.anchorFile === undefined ? (dir === undefined ? anchorBesideFiles(files) : join(dir, ANCHOR_FILE)) : options.anchorFile;
  const anchor = anchorPath === null ? null : await readAnchor(anchorPath, key);
  if (anchor === 'invalid' || anchor === 'forged') {
    return { ok: false, records: 0, problem: anchor === 'invalid' ? 'anchor unreadable' : 'anchor forged', file: ANCHOR_FILE };
  }

  let records = 0;
  let last: AuditRecord | undefined;
  // Segment 1 given as a file starts the log, so its first record must be seq 1 on 64 zeros: else
  // cutting records off the front of the log went unnoticed when its segments were named.
  const fromGenesis = dir !== undefined || (files[0] !== undefined && basename(files[0]) === segmentName(1));
  // A live log keeps growing while it is verified: records that became durable after the caller
  // took `stopAfterSeq` may already be anchored. The anchor is written only after its records are
  // durable (and carries a MAC), so walking up to it is safe and keeps "anchor ahead" meaning loss.
  const stopAfterSeq = options.stopAfterSeq === undefined ? undefined : Math.max(options.stopAfterSeq, anchor?.seq ?? 0);
  const walk = walkChain(files, { key, fromGenesis, ...(stopAfterSeq === undefined ? {} : { stopAfterSeq }) });
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

export interface AuditVerifyCliOptions {
  /** An anchor file to check instead of the default one, or `false` to check none (`--no-anchor`). */
  anchor?: string | false;
  /** A log without a single record is OK (`--allow-empty`); otherwise it fails. */
  allowEmpty?: boolean;
}

/**
 * CLI entry for `tenantguard audit verify [FILES]`: no paths means `defaultDir`; one directory
 * verifies the whole log with its anchor; otherwise the files form one segment, checked against the
 * anchor beside the last of them. Exit code 0 when the chain verifies, 1 when it does not.
 *
 * A log with no record fails unless `allowEmpty` (issue 17.7): an audit directory emptied of its
 * segments and anchor is indistinguishable from one never written, so "OK" would vouch for a log
 * deleted wholesale, or for the wrong directory. `--allow-empty` is for a sidecar not yet started.
 */
export async function runAuditVerify(
  paths: readonly string[],
  defaultDir: string,
  key: AuditKey,
  options: AuditVerifyCliOptions = {},
): Promise<{ exitCode: 0 | 1; output: string; result: VerifyResult }> {
  const target = paths.length === 0 ? defaultDir : paths.length === 1 && paths[0] !== undefined ? paths[0] : paths;
  const verifyOptions: VerifyOptions = options.anchor === undefined ? {} : { anchorFile: options.anchor === false ? null : options.anchor };
  const result = await verifyAuditLog(target, key, verifyOptions);
  if (result.ok && result.records === 0 && options.allowEmpty !== true) {
    const where = typeof target === 'string' ? target : target.join(', ');
    return { exitCode: 1, output: `audit log FAILED: no records in ${where}; an audit log that was written holds at least one (pass --allow-empty if none is expected yet)`, result };
  }
  const output = formatVerifyResult(result);
  const unanchored = options.anchor === false && result.ok ? `${output} (anchor not checked: records cut from the end of the log are not detected)` : output;
  return { exitCode: result.ok ? 0 : 1, output: unanchored, result };
}
