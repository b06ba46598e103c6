import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import type { ControlResult, ControlStatus, RunReport } from '../model.js';
import { describeIssue } from '../../src/zod-issues.js';
import { ReportInputError } from './input-error.js';

/**
 * What a baseline needs: each result's control id and status. Everything else a JSON report holds
 * is accepted and ignored, so baselines from older tool versions keep working.
 */
const baselineSchema = z.object({
  results: z.array(z.object({ control: z.object({ id: z.string().min(1) }), status: z.enum(['pass', 'fail', 'error', 'waived', 'skipped']) })),
});

/** The part of a JSON report a baseline comparison reads. */
export interface Baseline {
  results: { control: { id: string }; status: ControlStatus }[];
}

export interface BaselineDiff {
  /** Failing now, not failing in the baseline (or absent from it): these fail --fail-on-new. */
  newFailures: ControlResult[];
  /** Failing now and in the baseline: known, tolerated by --fail-on-new. */
  knownFailures: ControlResult[];
  /** Control ids failing in the baseline that no longer fail. */
  fixed: string[];
}

/**
 * The failures of `report` that are new relative to a baseline written by writeJson (e.g. the
 * last run on the main branch). Pass the result to exitCodeFor as `failOnNew`.
 */
export function compareWithBaseline(report: RunReport, baselineFile: string): ControlResult[] {
  return diffWithBaseline(report, readBaseline(baselineFile)).newFailures;
}

/**
 * Failures are matched by control id. A control counts as failing in the baseline when its status
 * was 'fail' or 'waived' (a waived control did fail; its waiver is a separate question). One that
 * errored or was skipped in the baseline was not known to fail, so failing now is new.
 */
export function diffWithBaseline(report: RunReport, baseline: Baseline): BaselineDiff {
  const failedBefore = new Set(baseline.results.filter((r) => r.status === 'fail' || r.status === 'waived').map((r) => r.control.id));
  const failingNow = report.results.filter((r) => r.status === 'fail');
  const failingIds = new Set(failingNow.map((r) => r.control.id));
  return {
    newFailures: failingNow.filter((r) => !failedBefore.has(r.control.id)),
    knownFailures: failingNow.filter((r) => failedBefore.has(r.control.id)),
    fixed: [...failedBefore].filter((id) => !failingIds.has(id)),
  };
}

/** Reads a baseline JSON report; a missing or malformed file is a usage error (exit code 3). */
export function readBaseline(file: string): Baseline {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new ReportInputError(path, ['cannot read the file (a baseline is the conformance-report.json of an earlier run)'], 'baseline report');
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ReportInputError(path, [`not valid JSON: ${(error as Error).message}`], 'baseline report');
  }
  const parsed = baselineSchema.safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => describeIssue(issue));
    throw new ReportInputError(path, problems, 'baseline report');
  }
  return parsed.data;
}
