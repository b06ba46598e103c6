import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { RunReport } from '../model.js';
import { toHtml } from './html.js';
import { writeJson } from './json.js';
import { toJUnitXml } from './junit.js';

export type ReportFormat = 'json' | 'junit' | 'html';
export const REPORT_FORMATS: readonly ReportFormat[] = ['json', 'junit', 'html'];

export const REPORT_FILE_NAMES: Readonly<Record<ReportFormat, string>> = {
  json: 'conformance-report.json',
  junit: 'conformance-junit.xml',
  html: 'conformance-report.html',
};

export interface WriteReportsOptions {
  dir: string;
  formats: readonly ReportFormat[];
}

/** Writes the requested reports into `dir` (created if missing); returns the absolute paths written. */
export function writeReports(report: RunReport, options: WriteReportsOptions): string[] {
  const dir = resolve(options.dir);
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const format of REPORT_FORMATS.filter((f) => options.formats.includes(f))) {
    const file = join(dir, REPORT_FILE_NAMES[format]);
    if (format === 'json') writeJson(report, file);
    else writeFileSync(file, format === 'junit' ? toJUnitXml(report) : toHtml(report));
    written.push(file);
  }
  return written;
}
