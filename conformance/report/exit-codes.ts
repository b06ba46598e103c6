import type { ControlResult, RunReport } from '../model.js';

/*
 * Exit codes of `tenantguard conformance` (also in conformance/report/README.md):
 *
 *   0  EXIT_PASS           every control passed; a waived control (a failure covered by a valid,
 *                          unexpired waiver) counts as passing, and so does a skipped one.
 *   1  EXIT_FAILURES       at least one control failed. With --fail-on-new: at least one failure
 *                          that the baseline report did not already have.
 *   2  EXIT_HARNESS_ERROR  the harness could not do its job: a control errored, or the run itself
 *                          failed (target unreachable, ...). Takes precedence over 1: a run that
 *                          could not check everything must not look like a clean list of failures.
 *   3  EXIT_USAGE          the command line or an input file is wrong (bad flags, bad waiver
 *                          file, unreadable baseline, a selector or waiver naming no control:
 *                          issue 17.3). Nothing was checked.
 */
export const EXIT_PASS = 0;
export const EXIT_FAILURES = 1;
export const EXIT_HARNESS_ERROR = 2;
export const EXIT_USAGE = 3;

export const EXIT_CODES = {
  PASS: EXIT_PASS,
  FAILURES: EXIT_FAILURES,
  HARNESS_ERROR: EXIT_HARNESS_ERROR,
  USAGE: EXIT_USAGE,
} as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

export interface ExitCodeOptions {
  /**
   * The new failures from compareWithBaseline (--fail-on-new). When given, only these make the run
   * fail; failures already in the baseline do not.
   */
  failOnNew?: readonly ControlResult[];
}

/** The process exit code for a finished run; see the table above. */
export function exitCodeFor(report: RunReport, options: ExitCodeOptions = {}): ExitCode {
  const harnessError = (report.harnessErrors?.length ?? 0) > 0 || report.results.some((r) => r.status === 'error');
  if (harnessError) return EXIT_HARNESS_ERROR;
  const failing = options.failOnNew ?? report.results.filter((r) => r.status === 'fail');
  return failing.length > 0 ? EXIT_FAILURES : EXIT_PASS;
}
