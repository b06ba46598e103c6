/** Conformance reporting: summary, writers (JSON, JUnit XML, HTML), console, waivers, baseline, exit codes. */
export { summarize, formatDuration, type ReportSummary, type StatusCounts, type FrameworkCoverage, type ReferenceCoverage, type ReferenceState } from './summary.js';
export { FRAMEWORK_REFERENCES, FRAMEWORK_LABELS, canonicalReference, type FrameworkReference } from './frameworks.js';
export { writeJson, toJsonReport, JSON_REPORT_FORMAT, type JsonReport } from './json.js';
export { toJUnitXml } from './junit.js';
export { toHtml } from './html.js';
export { writeReports, REPORT_FORMATS, REPORT_FILE_NAMES, type ReportFormat, type WriteReportsOptions } from './write-reports.js';
export { ConsoleReporter, type ConsoleReporterOptions, type FinishOptions, type ReporterStream } from './console.js';
export { loadWaivers, applyWaivers, unmatchedWaivers } from './waivers.js';
export { compareWithBaseline, diffWithBaseline, readBaseline, type Baseline, type BaselineDiff } from './baseline.js';
export { exitCodeFor, EXIT_PASS, EXIT_FAILURES, EXIT_HARNESS_ERROR, EXIT_USAGE, EXIT_CODES, type ExitCode, type ExitCodeOptions } from './exit-codes.js';
export { ReportInputError } from './input-error.js';
