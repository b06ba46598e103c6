import type { ControlDefinition, ControlResult, ControlStatus, RunReport } from '../model.js';
import { formatDuration, orderResults, summarize, type FrameworkCoverage } from './summary.js';
import { findingLines, waiverLine } from './text.js';

/** What the reporter writes to: process.stdout, a file stream, or a test double. */
export interface ReporterStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ConsoleReporterOptions {
  /** Default process.stdout. */
  stream?: ReporterStream;
  /** Redraw a progress bar in place. Default: the stream is a TTY. */
  tty?: boolean;
  /** ANSI colours. Default: on a TTY unless NO_COLOR is set (https://no-color.org). */
  color?: boolean;
  /** Where NO_COLOR is read from. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Witness steps printed per failure before "... N more" (the HTML report has them all). Default 30. */
  maxWitnessSteps?: number;
}

export interface FinishOptions {
  /** New failures against a baseline (--fail-on-new): listed, and the others marked as known. */
  newFailures?: readonly ControlResult[];
}

const ANSI = { red: 31, green: 32, yellow: 33, magenta: 35, gray: 90, bold: 1 } as const;
type Style = keyof typeof ANSI;
const STATUS_STYLE: Readonly<Record<ControlStatus, Style>> = { pass: 'green', fail: 'red', error: 'magenta', waived: 'yellow', skipped: 'gray' };
const BAR_WIDTH = 20;

/**
 * Console output of a run. On a TTY a progress bar is redrawn in place with `\r`
 * (`[#####...............] 6/24 TG-I2-SCRUB-BEFORE-READ`) and failures are printed above it as
 * they happen; elsewhere (CI logs) one plain line per finished control. finish() prints the
 * per-framework coverage and the details of every failure: message, seed, replay command, witness.
 */
export class ConsoleReporter {
  private readonly stream: ReporterStream;
  private readonly tty: boolean;
  private readonly color: boolean;
  private readonly maxWitnessSteps: number;
  private total = 0;
  private done = 0;
  private current = '';
  /** Length of the bar line on screen, to blank it before writing over it. */
  private drawn = 0;

  constructor(options: ConsoleReporterOptions = {}) {
    this.stream = options.stream ?? process.stdout;
    this.tty = options.tty ?? this.stream.isTTY === true;
    const env = options.env ?? process.env;
    const noColor = env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '';
    this.color = options.color ?? (this.tty && !noColor);
    this.maxWitnessSteps = options.maxWitnessSteps ?? 30;
  }

  start(total: number): void {
    this.total = total;
    this.done = 0;
    this.current = '';
    if (this.tty) this.drawBar();
    else this.line(`tenantguard conformance: running ${total} control${total === 1 ? '' : 's'}`);
  }

  controlStarted(def: ControlDefinition): void {
    this.current = def.id;
    if (this.tty) this.drawBar();
  }

  controlFinished(result: ControlResult): void {
    this.done++;
    const status = this.paint(STATUS_STYLE[result.status], result.status.toUpperCase().padEnd(7));
    if (this.tty) {
      // Only what needs attention scrolls up; passes just advance the bar.
      if (result.status === 'fail' || result.status === 'error') {
        this.clearBar();
        this.line(`${status} ${result.control.id} ${result.control.title}`);
      }
      this.current = '';
      this.drawBar();
      return;
    }
    const width = String(this.total).length;
    this.line(`[${String(this.done).padStart(width)}/${this.total}] ${status} ${result.control.id} (${formatDuration(result.durationMs)})`);
  }

  finish(report: RunReport, options: FinishOptions = {}): void {
    if (this.tty) this.clearBar();
    const summary = summarize(report);
    const c = summary.byStatus;
    this.line('');
    const statusParts = (['pass', 'fail', 'error', 'waived', 'skipped'] as const).filter((s) => c[s] > 0).map((s) => this.paint(STATUS_STYLE[s], `${c[s]} ${s}`));
    this.line(`${this.paint('bold', `${c.total} control${c.total === 1 ? '' : 's'}`)}: ${statusParts.join(', ') || 'none run'} in ${formatDuration(summary.durationMs)} (seed ${report.seed}, ${report.runs} runs)`);
    for (const coverage of Object.values(summary.frameworks)) this.line(this.frameworkLine(coverage));

    for (const message of report.harnessErrors ?? []) this.line(`${this.paint('magenta', 'HARNESS ERROR')} ${message}`);
    const newIds = options.newFailures ? new Set(options.newFailures.map((r) => r.control.id)) : undefined;
    for (const result of orderResults(report.results)) {
      if (result.status === 'fail') this.failureDetails(result, newIds);
      else if (result.status === 'error') {
        this.line('');
        this.line(`${this.paint('magenta', 'ERROR')} ${result.control.id} ${result.control.title}`);
        this.line(`  ${result.error ?? 'harness error (no message recorded)'}`);
      }
    }
    const waived = report.results.filter((r) => r.status === 'waived');
    if (waived.length > 0) {
      this.line('');
      for (const result of waived) {
        this.line(`${this.paint('yellow', 'WAIVED')} ${result.control.id}: ${result.waiver ? waiverLine(result.waiver) : 'waived'}`);
      }
    }
    if (newIds) {
      const known = c.fail - newIds.size;
      this.line('');
      this.line(`against the baseline: ${newIds.size} new failure${newIds.size === 1 ? '' : 's'}, ${Math.max(known, 0)} already known`);
    }
  }

  private frameworkLine(coverage: FrameworkCoverage): string {
    const parts = [`${coverage.covered}/${coverage.total} references covered`, `${coverage.passing.length} passing`];
    const list = (names: string[]): string => (names.length > 0 ? ` (${names.join(', ')})` : '');
    parts.push(this.paint(coverage.failing.length > 0 ? 'red' : 'bold', `${coverage.failing.length} failing${list(coverage.failing)}`));
    if (coverage.errored.length > 0) parts.push(this.paint('magenta', `${coverage.errored.length} errored${list(coverage.errored)}`));
    if (coverage.untested.length > 0) parts.push(`${coverage.untested.length} untested${list(coverage.untested)}`);
    if (coverage.notCovered.length > 0) parts.push(this.paint('yellow', `not covered: ${coverage.notCovered.join(', ')}`));
    if (coverage.uncatalogued.length > 0) parts.push(`unknown references: ${coverage.uncatalogued.join(', ')}`);
    return `${coverage.label}: ${parts.join(', ')}`;
  }

  private failureDetails(result: ControlResult, newIds: Set<string> | undefined): void {
    const { control } = result;
    const tag = newIds ? (newIds.has(control.id) ? ' [new]' : ' [known]') : '';
    this.line('');
    this.line(`${this.paint('red', 'FAIL')} ${this.paint('bold', control.id)} (${control.severity})${tag} ${control.title}`);
    for (const l of findingLines(result.finding ?? { message: 'control failed (no finding recorded)' }, this.maxWitnessSteps)) this.line(`  ${l}`);
    if (result.expiredWaiver) this.line(`  ${this.paint('yellow', `waiver expired on ${result.expiredWaiver.expires}`)} (approved by ${result.expiredWaiver.approver})`);
  }

  private drawBar(): void {
    const filled = this.total > 0 ? Math.min(BAR_WIDTH, Math.round((this.done / this.total) * BAR_WIDTH)) : 0;
    let text = `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${this.done}/${this.total}${this.current ? ` ${this.current}` : ''}`;
    const columns = this.stream.columns;
    if (columns !== undefined && columns > 1 && text.length > columns - 1) text = text.slice(0, columns - 1);
    const pad = Math.max(0, this.drawn - text.length);
    this.stream.write(`\r${text}${' '.repeat(pad)}`);
    this.drawn = text.length;
  }

  private clearBar(): void {
    if (this.drawn === 0) return;
    this.stream.write(`\r${' '.repeat(this.drawn)}\r`);
    this.drawn = 0;
  }

  private line(text: string): void {
    this.stream.write(`${text}\n`);
  }

  private paint(style: Style, text: string): string {
    return this.color ? `\u001b[${ANSI[style]}m${text}\u001b[0m` : text;
  }
}
