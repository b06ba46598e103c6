/**
 * The conformance results model: what a control is, what running it produced, and the run as a
 * whole. Controls, the runner, the reporters and the CLI all speak these types; the JSON report
 * (conformance-report.json) is a RunReport plus a summary.
 */

export type Severity = 'critical' | 'high' | 'medium' | 'low';
export type Framework = 'soc2' | 'hipaa';

/** Most severe first; reporters order by it. */
export const SEVERITIES: readonly Severity[] = ['critical', 'high', 'medium', 'low'];
export const FRAMEWORKS: readonly Framework[] = ['soc2', 'hipaa'];

export interface ControlDefinition {
  id: string; // e.g. 'TG-I2-SCRUB-BEFORE-READ'
  title: string;
  rationale: string;
  severity: Severity;
  invariants: string[]; // e.g. ['I2']
  references: { soc2: string[]; hipaa: string[] }; // e.g. soc2: ['CC6.1','CC6.7'], hipaa: ['164.312(a)(1)']
  kind: 'probe' | 'hunt';
}

/** One request the harness made, as recorded in the history a witness is cut from. */
export interface HistoryEntry {
  step: number;
  actor: string;
  method: string;
  path: string;
  status: number;
  note?: string;
}

export interface Finding {
  message: string;
  seed?: number; // fast-check seed
  path?: string; // fast-check replay path
  witness?: HistoryEntry[]; // the minimal (shrunk) request sequence
  replay?: string; // a command line that reproduces it, e.g. 'tenantguard conformance --only X --seed 1 --replay "0:1"'
}

export type ControlStatus = 'pass' | 'fail' | 'error' | 'waived' | 'skipped';

/** Worst first: the order reporters list results in. */
export const CONTROL_STATUSES: readonly ControlStatus[] = ['error', 'fail', 'waived', 'skipped', 'pass'];

export interface ControlResult {
  control: ControlDefinition;
  status: ControlStatus; // 'waived' = failed but covered by a valid waiver
  durationMs: number;
  evidence: string[]; // human-readable facts checked, e.g. "POST /v1/blocks/free as worker for tenant B on A's block -> 403 TG_ERR_NOT_OWNER"
  finding?: Finding;
  error?: string; // harness error (status 'error')
  waiver?: Waiver; // the valid waiver that turned 'fail' into 'waived'
  /** A waiver for this control that had expired on the run date: it did not waive the failure. */
  expiredWaiver?: Waiver;
}

export interface Waiver {
  control: string;
  justification: string;
  approver: string;
  expires: string; // YYYY-MM-DD, the last day the waiver is valid (inclusive, UTC)
}

export interface RunReport {
  tool: { name: 'tenantguard-conformance'; version: string };
  target: string; // URL of the sidecar
  startedAt: string;
  finishedAt: string;
  seed: number;
  runs: number;
  results: ControlResult[];
  /**
   * Problems of the run itself rather than of one control (e.g. "target unreachable: ECONNREFUSED").
   * Any entry makes the run a harness error (exit code 2), like a control with status 'error'.
   */
  harnessErrors?: string[];
}

/** A failure that counts: 'fail'. A 'waived' result failed too, but a valid waiver covers it. */
export function isFailing(result: ControlResult): boolean {
  return result.status === 'fail';
}
