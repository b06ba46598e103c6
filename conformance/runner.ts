import type { Control, ControlContext } from './control.js';
import { CONTROLS } from './controls/catalogue.js';
import type { ControlResult, RunReport, Waiver } from './model.js';
import { applyWaivers, type ConsoleReporter } from './report/index.js';
import type { ConformanceTarget } from './target.js';

export const HARNESS_VERSION = '0.1.0';

export interface RunOptions {
  readonly target: ConformanceTarget;
  readonly freshTarget: boolean;
  readonly seed: number;
  readonly runs: number;
  readonly replayPath?: string;
  /** Control ids (`TG-I2-*` prefixes allowed), frameworks (`soc2`, `hipaa`), references (`CC6.1`) or invariants (`I2`). */
  readonly only?: readonly string[];
  readonly skip?: readonly string[];
  readonly waivers?: readonly Waiver[];
  readonly reporter?: ConsoleReporter;
  readonly today?: Date;
  readonly controls?: readonly Control[];
}

/** Does a control match a selector: an id (or `PREFIX*`), a framework, a reference or an invariant? */
export function matchesSelector(control: Control, selector: string): boolean {
  const d = control.definition;
  const s = selector.trim();
  if (s.endsWith('*')) return d.id.startsWith(s.slice(0, -1));
  const lower = s.toLowerCase();
  if (lower === 'soc2') return d.references.soc2.length > 0;
  if (lower === 'hipaa') return d.references.hipaa.length > 0;
  return d.id === s || d.invariants.includes(s) || d.references.soc2.includes(s) || d.references.hipaa.includes(s);
}

export function selectControls(all: readonly Control[], only: readonly string[] = [], skip: readonly string[] = []): Control[] {
  return all.filter((c) => (only.length === 0 || only.some((s) => matchesSelector(c, s))) && !skip.some((s) => matchesSelector(c, s)));
}

/**
 * What is wrong with a selection before anything runs (issue 17.3): `--only NOPE` selected 0
 * controls and the run passed, and a waiver for a misspelt id waived nothing, silently. Each
 * selector must match at least one control, something must be left to run, and every waiver must
 * name a control of the catalogue. Empty when the selection is fine; the CLI makes it exit 3.
 */
export function selectionProblems(
  all: readonly Control[],
  only: readonly string[] = [],
  skip: readonly string[] = [],
  waivers: readonly Waiver[] = [],
): string[] {
  const problems: string[] = [];
  for (const [flag, selectors] of [['--only', only], ['--skip', skip]] as const) {
    for (const selector of selectors) {
      if (!all.some((c) => matchesSelector(c, selector))) {
        problems.push(`${flag} ${selector} matches no control: give control ids (TG-I2-* prefixes), soc2, hipaa, a reference such as CC6.1, or an invariant such as I2`);
      }
    }
  }
  if (problems.length === 0 && selectControls(all, only, skip).length === 0) problems.push('no control left to run: --skip removes every control --only selects');
  const ids = new Set(all.map((c) => c.definition.id));
  waivers.forEach((w, i) => {
    if (!ids.has(w.control)) problems.push(`waivers[${i}] (${w.control}): no such control; waivers name control ids exactly (see the JSON report or conformance/controls/catalogue.ts)`);
  });
  return problems;
}

/** Runs the selected controls one after another against the target and builds the report. */
export async function runConformance(options: RunOptions): Promise<RunReport> {
  const startedAt = new Date();
  const selected = selectControls(options.controls ?? CONTROLS, options.only, options.skip);
  const ctx: ControlContext = {
    target: options.target,
    seed: options.seed,
    runs: options.runs,
    freshTarget: options.freshTarget,
    ...(options.replayPath ? { replayPath: options.replayPath } : {}),
  };
  const harnessErrors: string[] = [];
  const ready = await options.target.call('anonymous', 'GET', '/healthz').catch((error: unknown) => error);
  if (ready instanceof Error) harnessErrors.push(`target ${options.target.description.url} unreachable: ${ready.message}`);

  options.reporter?.start(selected.length);
  const results: ControlResult[] = [];
  for (const control of harnessErrors.length > 0 ? [] : selected) {
    options.reporter?.controlStarted(control.definition);
    const started = performance.now();
    let result: ControlResult;
    try {
      const outcome = await control.run(ctx);
      result = {
        control: control.definition,
        status: outcome.skipped ? 'skipped' : outcome.finding ? 'fail' : 'pass',
        durationMs: performance.now() - started,
        evidence: outcome.skipped ? [...outcome.evidence, `skipped: ${outcome.skipped}`] : outcome.evidence,
        ...(outcome.finding ? { finding: outcome.finding } : {}),
      };
    } catch (error) {
      result = { control: control.definition, status: 'error', durationMs: performance.now() - started, evidence: [], error: error instanceof Error ? error.message : String(error) };
    }
    results.push(result);
    options.reporter?.controlFinished(result);
  }
  return {
    tool: { name: 'tenantguard-conformance', version: HARNESS_VERSION },
    target: options.target.description.url,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    seed: options.seed,
    runs: options.runs,
    results: applyWaivers(results, options.waivers ?? [], options.today ?? new Date()),
    ...(harnessErrors.length > 0 ? { harnessErrors } : {}),
  };
}
