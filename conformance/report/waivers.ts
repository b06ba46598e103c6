import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import type { ControlResult, Waiver } from '../model.js';
import { issuePath } from '../../src/zod-issues.js';
import { ReportInputError } from './input-error.js';

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A real calendar day written YYYY-MM-DD (2025-02-30 is refused, not rolled over). */
function isCalendarDate(text: string): boolean {
  const match = DATE.exec(text);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/** A string field whose absence reads "is missing" rather than zod's "received undefined". */
function text(): z.ZodString {
  return z.string({ error: (issue) => (issue.input === undefined ? 'is missing' : 'must be a string') });
}

const waiverSchema = z.strictObject({
  control: text().trim().min(1, 'must name the control id it waives'),
  justification: text().trim().min(1, 'must say why the failure is accepted'),
  approver: text().trim().min(1, 'must name who approved the waiver'),
  expires: text().refine(isCalendarDate, 'must be a date YYYY-MM-DD (the last day the waiver is valid)'),
});

const waiverFileSchema = z.strictObject({ waivers: z.array(waiverSchema) });

/**
 * Reads a waiver file, YAML or JSON: `{ waivers: [{ control, justification, approver, expires }] }`.
 * Every problem is reported at once, each naming its entry (`waivers[1] (TG-I2-...): expires: ...`);
 * a bad file is a usage error (ReportInputError, exit code 3). One waiver per control: two for the
 * same control are refused, because which one applies would be a guess.
 */
export function loadWaivers(file: string): Waiver[] {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new ReportInputError(path, ['cannot read the file (does it exist?)'], 'waiver file');
  }
  // JSON is YAML, so one parser reads both. The core schema keeps `2025-12-31` a string.
  const document = parseDocument(text, { uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new ReportInputError(
      path,
      document.errors.map((e) => `syntax error at line ${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0] ?? e.code}`),
      'waiver file',
    );
  }
  const data: unknown = document.toJS();
  const parsed = waiverFileSchema.safeParse(data);
  if (!parsed.success) {
    throw new ReportInputError(path, parsed.error.issues.map((issue) => describeIssue(issue.path, issue.message, data)), 'waiver file');
  }
  const waivers: Waiver[] = parsed.data.waivers;
  const firstIndex = new Map<string, number>();
  const problems: string[] = [];
  waivers.forEach((w, i) => {
    const first = firstIndex.get(w.control);
    if (first === undefined) firstIndex.set(w.control, i);
    else problems.push(`waivers[${i}] (${w.control}): a second waiver for this control (first is waivers[${first}]); keep one`);
  });
  if (problems.length > 0) throw new ReportInputError(path, problems, 'waiver file');
  return waivers;
}

/** `waivers[2] (TG-X): expires: must be ...`: the entry by index and, when it has one, its control. */
function describeIssue(path: readonly PropertyKey[], message: string, data: unknown): string {
  if (path[0] === 'waivers' && typeof path[1] === 'number') {
    const entry = (data as { waivers: unknown[] }).waivers[path[1]];
    const control = typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>)['control'] : undefined;
    const name = typeof control === 'string' && control.trim() !== '' ? ` (${control.trim()})` : '';
    const field = path.length > 2 ? `${issuePath(path.slice(2))}: ` : '';
    return `waivers[${path[1]}]${name}: ${field}${message}`;
  }
  if (path.length === 0 && (data === null || typeof data !== 'object')) return 'expected a mapping with a `waivers:` list';
  return `${issuePath(path)}: ${message}`;
}

/** Today's date as YYYY-MM-DD in UTC, so a CI runner and a laptop agree on whether a waiver expired. */
export function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/**
 * Applies waivers to results (returns new results; the inputs are not changed).
 * - A failing control with a waiver that expires today or later becomes 'waived', waiver attached.
 * - A failing control whose waiver has expired stays 'fail'; `expiredWaiver` is set and the
 *   evidence says so.
 * - A passing control with a waiver notes that the waiver is no longer needed.
 * Errors and skips are never waived: a waiver accepts a known failure, not an unchecked control.
 */
export function applyWaivers(results: readonly ControlResult[], waivers: readonly Waiver[], today: Date): ControlResult[] {
  const byControl = new Map(waivers.map((w) => [w.control, w]));
  const day = isoDay(today);
  return results.map((result): ControlResult => {
    const waiver = byControl.get(result.control.id);
    if (!waiver) return result;
    if (result.status === 'fail') {
      // ISO dates compare correctly as strings.
      if (waiver.expires >= day) {
        return {
          ...result,
          status: 'waived',
          waiver,
          evidence: [...result.evidence, `failure waived until ${waiver.expires} (approved by ${waiver.approver}): ${waiver.justification}`],
        };
      }
      return {
        ...result,
        expiredWaiver: waiver,
        evidence: [...result.evidence, `waiver expired on ${waiver.expires} (approved by ${waiver.approver}); the failure counts`],
      };
    }
    if (result.status === 'pass') {
      return { ...result, evidence: [...result.evidence, `a waiver for this control (expires ${waiver.expires}) is no longer needed: the control passes`] };
    }
    return result;
  });
}

/** Waivers naming a control that is not among the results (typo, or a control that was removed). */
export function unmatchedWaivers(results: readonly ControlResult[], waivers: readonly Waiver[]): Waiver[] {
  const ids = new Set(results.map((r) => r.control.id));
  return waivers.filter((w) => !ids.has(w.control));
}
