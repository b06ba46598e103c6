import { CONTROL_STATUSES, FRAMEWORKS, SEVERITIES, type ControlStatus, type Framework, type RunReport, type Severity } from '../model.js';
import { FRAMEWORK_LABELS, FRAMEWORK_REFERENCES, canonicalReference } from './frameworks.js';

export type StatusCounts = Record<ControlStatus, number> & { total: number };

/**
 * How one reference stands. 'passing': every mapped control passed or is waived. 'failing': at
 * least one failed. 'error': none failed but at least one errored. 'untested': none failed or
 * errored but at least one was skipped. 'not-covered': no control maps to it.
 */
export type ReferenceState = 'passing' | 'failing' | 'error' | 'untested' | 'not-covered';

export interface ReferenceCoverage {
  reference: string;
  description: string;
  /** false for a reference a control names that is not in FRAMEWORK_REFERENCES (likely a typo). */
  catalogued: boolean;
  controls: { id: string; status: ControlStatus; severity: Severity }[];
  state: ReferenceState;
}

export interface FrameworkCoverage {
  framework: Framework;
  label: string; // 'SOC 2', 'HIPAA'
  /** Catalogued references in catalogue order, then uncatalogued ones named by controls. */
  references: ReferenceCoverage[];
  /** Counts and lists below are over catalogued references only. */
  total: number;
  covered: number;
  passing: string[];
  failing: string[];
  errored: string[];
  untested: string[];
  notCovered: string[];
  /** References named by controls but missing from the catalogue. */
  uncatalogued: string[];
}

export interface ReportSummary {
  /** 'error' if the harness errored, else 'fail' if any control failed, else 'pass'. */
  outcome: 'pass' | 'fail' | 'error';
  durationMs: number;
  byStatus: StatusCounts;
  bySeverity: Record<Severity, StatusCounts>;
  frameworks: Record<Framework, FrameworkCoverage>;
}

export function emptyCounts(): StatusCounts {
  return { total: 0, pass: 0, fail: 0, error: 0, waived: 0, skipped: 0 };
}

/** Counts by status and severity, and per framework which controls cover which reference. */
export function summarize(report: RunReport): ReportSummary {
  const byStatus = emptyCounts();
  const bySeverity = Object.fromEntries(SEVERITIES.map((s) => [s, emptyCounts()])) as Record<Severity, StatusCounts>;
  for (const result of report.results) {
    byStatus.total++;
    byStatus[result.status]++;
    const severity = bySeverity[result.control.severity];
    // A severity outside the model (e.g. from a hand-edited baseline) is counted in the totals only.
    if (severity) {
      severity.total++;
      severity[result.status]++;
    }
  }
  const frameworks = Object.fromEntries(FRAMEWORKS.map((f) => [f, coverageOf(report, f)])) as Record<Framework, FrameworkCoverage>;
  const harnessError = byStatus.error > 0 || (report.harnessErrors?.length ?? 0) > 0;
  return {
    outcome: harnessError ? 'error' : byStatus.fail > 0 ? 'fail' : 'pass',
    durationMs: durationBetween(report.startedAt, report.finishedAt),
    byStatus,
    bySeverity,
    frameworks,
  };
}

function coverageOf(report: RunReport, framework: Framework): FrameworkCoverage {
  const rows = new Map<string, ReferenceCoverage>();
  for (const ref of FRAMEWORK_REFERENCES[framework]) {
    rows.set(ref.id, { reference: ref.id, description: ref.description, catalogued: true, controls: [], state: 'not-covered' });
  }
  for (const result of report.results) {
    const named = new Set((result.control.references?.[framework] ?? []).map((r) => canonicalReference(framework, r)));
    for (const reference of named) {
      let row = rows.get(reference);
      if (!row) {
        row = { reference, description: 'not in the tenantguard reference catalogue', catalogued: false, controls: [], state: 'not-covered' };
        rows.set(reference, row);
      }
      row.controls.push({ id: result.control.id, status: result.status, severity: result.control.severity });
    }
  }
  const references = [...rows.values()];
  for (const row of references) row.state = stateOf(row.controls.map((c) => c.status));
  const catalogued = references.filter((r) => r.catalogued);
  const withState = (state: ReferenceState): string[] => catalogued.filter((r) => r.state === state).map((r) => r.reference);
  return {
    framework,
    label: FRAMEWORK_LABELS[framework],
    references,
    total: catalogued.length,
    covered: catalogued.filter((r) => r.state !== 'not-covered').length,
    passing: withState('passing'),
    failing: withState('failing'),
    errored: withState('error'),
    untested: withState('untested'),
    notCovered: withState('not-covered'),
    uncatalogued: references.filter((r) => !r.catalogued).map((r) => r.reference),
  };
}

function stateOf(statuses: readonly ControlStatus[]): ReferenceState {
  if (statuses.length === 0) return 'not-covered';
  if (statuses.includes('fail')) return 'failing';
  if (statuses.includes('error')) return 'error';
  if (statuses.includes('skipped')) return 'untested';
  return 'passing';
}

/** Results worst first (error, fail, waived, skipped, pass), then by severity, then by id. */
export function orderResults<T extends { status: ControlStatus; control: { id: string; severity: Severity } }>(results: readonly T[]): T[] {
  const rank = (list: readonly string[], value: string): number => {
    const i = list.indexOf(value);
    return i === -1 ? list.length : i;
  };
  return [...results].sort(
    (a, b) =>
      rank(CONTROL_STATUSES, a.status) - rank(CONTROL_STATUSES, b.status) ||
      rank(SEVERITIES, a.control.severity) - rank(SEVERITIES, b.control.severity) ||
      a.control.id.localeCompare(b.control.id),
  );
}

function durationBetween(startedAt: string, finishedAt: string): number {
  const ms = Date.parse(finishedAt) - Date.parse(startedAt);
  return Number.isFinite(ms) && ms >= 0 ? ms : 0;
}

/** "850 ms", "12.3 s", "4 min 05 s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`;
}
