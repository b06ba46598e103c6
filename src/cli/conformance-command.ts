import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CommanderError, InvalidArgumentError, type Command } from 'commander';
import {
  CONTROLS,
  ConformanceTarget,
  ConsoleReporter,
  EXIT_HARNESS_ERROR,
  EXIT_USAGE,
  ReportInputError,
  compareWithBaseline,
  auditHead,
  describeInitDirectory,
  describeLiveTenants,
  exitCodeFor,
  loadWaivers,
  runConformance,
  selectionProblems,
  spawnTarget,
  writeReports,
  REPORT_FORMATS,
  TargetTenantsError,
  type ReportFormat,
  type TargetDescription,
} from '../../conformance/index.js';

interface ConformanceOptions {
  spawn: boolean;
  target?: string;
  dir?: string;
  apiKeys?: string;
  auditDir?: string;
  only: string[];
  skip: string[];
  seed?: number;
  replay?: string;
  runs: number;
  out: string;
  format: string;
  waivers?: string;
  baseline?: string;
  failOnNew: boolean;
}

const list = (value: string, previous: string[]): string[] => [...previous, ...value.split(',').map((s) => s.trim()).filter(Boolean)];

export function registerConformanceCommand(program: Command): void {
  program
    .command('conformance')
    .description('run the isolation controls (probes and fast-check hunts) against a sidecar and report against SOC 2 and HIPAA')
    .option('--spawn', 'start a fresh sidecar with a throw-away PKI and config (no setup needed)', false)
    .option('--target <url>', 'URL of a live sidecar, e.g. https://127.0.0.1:8443')
    .option('--dir <dir>', 'the `tenantguard init` directory with the CA, operator, worker and tenant certificates (with --target)', '.tenantguard')
    .option('--api-keys <file>', 'JSON {"tenant-id": "tg_..."} of tenant API keys, for the API-key probes (with --target)')
    .option('--audit-dir <dir>', 'the sidecar\'s audit log directory, for the content-free checks (with --target)')
    .option('--only <selectors>', 'control ids (TG-I2-* prefixes), frameworks (soc2, hipaa), references (CC6.1) or invariants (I2); repeatable', list, [])
    .option('--skip <selectors>', 'like --only, to leave controls out', list, [])
    .option('--seed <n>', 'fast-check seed (printed with every finding)', (v) => Number.parseInt(v, 10))
    .option('--replay <path>', 'fast-check path of a finding, with --seed, to reproduce it')
    .option('--runs <n>', 'fast-check runs per hunt (hunt depth), at least 1', positiveInt, 20)
    .option('--out <dir>', 'where reports are written', 'conformance-report')
    .option('--format <list>', 'report formats: json,junit,html', formats, 'json,junit,html')
    .option('--waivers <file>', 'YAML/JSON waivers {waivers: [{control, justification, approver, expires}]}')
    .option('--baseline <file>', 'a previous JSON report; with --fail-on-new only new failures fail the run')
    .option('--fail-on-new', 'fail only on failures not in the baseline', false)
    .addHelpText(
      'after',
      '\nWith --target the run acts on a live sidecar as the tenants it serves (GET /v1/tenants) that --dir holds certificates for, and the sidecar ' +
        `keeps an audit record of each request (${LIVE_RECORDS_HINT} with --runs 20); the number appended is printed at the end.` +
        '\n\nExit codes: 0 all controls pass (waived counts as pass), 1 a control failed, 2 harness error (target unreachable, a control errored, fewer than two usable tenants), 3 usage error.',
    )
    // A usage error is exit 3 here (the codes above), not the 2 of other commands: 2 is a harness error.
    .exitOverride((error) => {
      throw error.exitCode === 1 ? new CommanderError(EXIT_USAGE, error.code, error.message) : error;
    })
    .action(async (opts: ConformanceOptions) => {
      process.exitCode = await runConformanceCommand(opts);
    });
}

/** Silent misuse (`--runs abc` ran NaN runs and passed, issue 17.3) is refused instead. */
function positiveInt(value: string): number {
  if (!/^[1-9]\d*$/.test(value)) throw new InvalidArgumentError('give a whole number of at least 1.');
  return Number(value);
}

function formats(value: string): string {
  const unknown = value.split(',').filter((f) => !(REPORT_FORMATS as readonly string[]).includes(f.trim()));
  if (unknown.length > 0) throw new InvalidArgumentError(`unknown report format ${unknown.join(', ')}: choose from ${REPORT_FORMATS.join(', ')}.`);
  return value;
}

async function runConformanceCommand(opts: ConformanceOptions): Promise<number> {
  let waivers;
  try {
    if (!opts.spawn && !opts.target) {
      process.stderr.write('tenantguard conformance: give --spawn, or --target URL with --dir (see --help)\n');
      return EXIT_USAGE;
    }
    waivers = opts.waivers ? loadWaivers(opts.waivers) : [];
    const problems = selectionProblems(CONTROLS, opts.only, opts.skip, waivers);
    if (problems.length > 0) {
      process.stderr.write(`tenantguard conformance: nothing was checked:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
      return EXIT_USAGE;
    }
  } catch (error) {
    process.stderr.write(`tenantguard conformance: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_USAGE;
  }
  const formats = opts.format.split(',').map((f) => f.trim()) as ReportFormat[];
  let spawned: Awaited<ReturnType<typeof spawnTarget>> | undefined;
  try {
    spawned = opts.spawn ? await spawnTarget() : undefined;
    const description = spawned?.description ?? (await describeLiveTarget(opts));
    if (!spawned) process.stderr.write(liveTargetNotice(description, opts.runs));
    const headBefore = spawned ? undefined : await auditHead(description);
    const target = new ConformanceTarget(description);
    const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
    const reporter = new ConsoleReporter();
    const report = await runConformance({ target, freshTarget: opts.spawn, seed, runs: opts.runs, only: opts.only, skip: opts.skip, waivers, reporter, ...(opts.replay ? { replayPath: opts.replay } : {}) });
    target.close();
    const newFailures = opts.baseline && opts.failOnNew ? compareWithBaseline(report, opts.baseline) : undefined;
    reporter.finish(report, newFailures ? { newFailures } : {});
    if (!spawned) {
      const headAfter = headBefore === undefined ? undefined : await auditHead(description);
      process.stdout.write(
        headBefore !== undefined && headAfter !== undefined
          ? `audit: ${headAfter - headBefore} records appended to the target's audit log during the run (seq ${headBefore} -> ${headAfter}; other traffic included)\n`
          : 'audit: records appended to the target\'s audit log not measured (GET /v1/audit/verify refused)\n',
      );
    }
    const written = writeReports(report, { dir: resolve(opts.out), formats });
    process.stdout.write(`reports: ${written.join(', ')}\n`);
    return exitCodeFor(report, newFailures ? { failOnNew: newFailures } : {});
  } catch (error) {
    if (error instanceof TargetTenantsError) {
      process.stderr.write(`tenantguard conformance: harness error: ${error.message}; nothing was checked\n`);
      return EXIT_HARNESS_ERROR;
    }
    if (error instanceof ReportInputError) {
      process.stderr.write(`tenantguard conformance: ${error.message}\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`tenantguard conformance: harness error: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_HARNESS_ERROR;
  } finally {
    await spawned?.close();
  }
}

/**
 * `--target`: credentials from the init directory, tenants from the live sidecar (issue 17.3).
 * Throws TargetTenantsError (exit 2) when the sidecar does not serve enough tenants we hold
 * certificates for.
 */
async function describeLiveTarget(opts: ConformanceOptions): Promise<TargetDescription> {
  const dir = resolve(opts.dir ?? '.tenantguard');
  const apiKeys = opts.apiKeys ? (JSON.parse(readFileSync(opts.apiKeys, 'utf8')) as Record<string, string>) : {};
  const { tenants: _none, auditDir: _ignored, ...base } = describeInitDirectory(dir, opts.target!, apiKeys, {});
  const { description, withoutCertificate } = await describeLiveTenants(dir, { ...base, ...(opts.auditDir ? { auditDir: resolve(opts.auditDir) } : {}) }, apiKeys);
  if (withoutCertificate.length > 0) process.stderr.write(`tenantguard conformance: not testing ${withoutCertificate.join(', ')}: no certificate in ${dir}/pki/tenant/\n`);
  return description;
}

/**
 * A live sidecar keeps what the run does: printed before the controls send anything, so nobody finds thousands of
 * unexplained records in a production audit log afterwards (issue 17.3).
 */
function liveTargetNotice(description: TargetDescription, runs: number): string {
  return (
    `tenantguard conformance: NOTICE: ${description.url} is a live sidecar. This run acts on it as ${Object.keys(description.tenants).join(', ')} and as the operator and worker: ` +
    'it allocates, frees and scrubs KV blocks, offloads and deletes canary blobs, registers adapters, admits requests and provokes refusals, ' +
    `and the sidecar writes an audit record for each (${LIVE_RECORDS_HINT} with --runs 20${runs === 20 ? '' : `; this run uses --runs ${runs}`}). ` +
    'Nothing is erased. Use --spawn for a throw-away sidecar.\n'
  );
}

/**
 * Measured 2026-12-03: a full run (all 24 controls, --runs 20, --seed 3, no --audit-dir) against
 * `tenantguard serve` of a fresh init directory appended 2,444 records (issue 17.3 reported
 * ~1,150 on an earlier build).
 */
const LIVE_RECORDS_HINT = 'about 2,400 records';
