import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { RunReport } from '../model.js';
import { summarize, type ReportSummary } from './summary.js';

/** Identifies the layout of conformance-report.json; bumped only on incompatible changes. */
export const JSON_REPORT_FORMAT = 'tenantguard-conformance-report/v1';

/** conformance-report.json: the RunReport as run, plus its summary. It is also a --baseline input. */
export type JsonReport = RunReport & { format: typeof JSON_REPORT_FORMAT; summary: ReportSummary };

export function toJsonReport(report: RunReport): JsonReport {
  return { format: JSON_REPORT_FORMAT, ...report, summary: summarize(report) };
}

/** Writes the JSON report (creating the directory) and returns the absolute path written. */
export function writeJson(report: RunReport, file: string): string {
  const path = resolve(file);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(toJsonReport(report), null, 2)}\n`);
  return path;
}
