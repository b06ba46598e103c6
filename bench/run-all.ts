/**
 * `npm run bench`: every benchmark in one run.
 *  - tenantguard vs `opa run --server` over loopback (sidecar-vs-opa.ts): peak, fixed-rate sweep,
 *    latency percentiles, ratios, the targets, a CPU profile of the sidecar;
 *  - claim mode (steps.ts): one `POST /v1/steps` per scheduler step at 100 steps/s over the Unix
 *    socket and mTLS, 64 and 256 running requests, a realistic mix and a worst case;
 *  - in-process: policy evaluation, ledger, durable audit, offload sealing.
 * Writes bench/results/<timestamp>.json, bench/results/latest.json and bench/results/latest.md.
 *
 * Options (environment): BENCH_SKIP_SERVER=1 skips tenantguard vs OPA; BENCH_SKIP_STEPS=1 skips the
 * scheduler steps; BENCH_QUICK=1 uses short levels (a smoke test, not for numbers); BENCH_PROFILE=0
 * skips the server profile; BENCH_STEPS_PROFILE=1 profiles the sidecar through a steps run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../src/project-root.js';
import { runAuditBench } from './audit.js';
import { runLedgerBench } from './ledger.js';
import { checkTargets, renderMarkdown } from './markdown.js';
import { runOffloadBench } from './offload.js';
import { runPolicyBench } from './policy-eval.js';
import { measureDurableAppend } from './disk.js';
import { machineNote, pressure, reportLine, type BenchResult } from './report.js';
import { runServerBench, type ServerBenchResult } from './sidecar-vs-opa.js';
import { profileOption, runStepsBench, type StepsBenchResult } from './steps.js';
import { opaVersion } from './targets.js';

const started = Date.now();
// A run must end by itself: if anything stalls, give up (children are killed on exit, targets.ts).
const WATCHDOG_MINUTES = Number(process.env['BENCH_WATCHDOG_MINUTES'] ?? 15);
setTimeout(() => {
  console.error(`bench: still running after ${WATCHDOG_MINUTES} minutes; aborting`);
  process.exit(2);
}, WATCHDOG_MINUTES * 60_000).unref();
const atStart = pressure();
const machine = machineNote({ opa: opaVersion(), cpuPressureStart: atStart.cpuSome10s ?? 'n/a', ioPressureStart: atStart.ioSome10s ?? 'n/a' });
const disk = await measureDurableAppend();
machine['durableAppendP50Ms'] = Number(disk.p50.toFixed(3));
machine['durableAppendP99Ms'] = Number(disk.p99.toFixed(3));
machine['durableAppendP999Ms'] = Number(disk.p999.toFixed(3));
console.log(`machine: ${JSON.stringify(machine)}`);

let server: ServerBenchResult | null = null;
if (process.env['BENCH_SKIP_SERVER'] !== '1') {
  server = await runServerBench({ profile: process.env['BENCH_PROFILE'] !== '0' });
}

let steps: StepsBenchResult | null = null;
if (process.env['BENCH_SKIP_STEPS'] !== '1') {
  steps = await runStepsBench({ profile: profileOption() });
}

const micro: BenchResult[] = [];
const record = (batch: BenchResult[]): void => {
  for (const result of batch) {
    console.log(reportLine(result));
    micro.push(result);
  }
};
record(await runPolicyBench());
record(runLedgerBench());
record(await runAuditBench());
record(await runOffloadBench());

machine['loadAverageEnd1m'] = Number(loadavg()[0]!.toFixed(2));
const atEnd = pressure();
machine['cpuPressureEnd'] = atEnd.cpuSome10s ?? 'n/a';
machine['ioPressureEnd'] = atEnd.ioSome10s ?? 'n/a';
machine['durationSeconds'] = Math.round((Date.now() - started) / 1000);
const run = { machine, server, steps, targets: [...(server ? checkTargets(server) : []), ...(steps ? [steps.target] : [])], micro };
const dir = join(PROJECT_ROOT, 'bench/results');
mkdirSync(dir, { recursive: true });
const stamp = String(machine['date']).replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
const json = JSON.stringify(run, null, 2) + '\n';
writeFileSync(join(dir, `${stamp}.json`), json);
writeFileSync(join(dir, 'latest.json'), json);
const markdown = renderMarkdown(run);
writeFileSync(join(dir, 'latest.md'), markdown);
console.log(`\n${markdown}`);
console.log(`written to bench/results/${stamp}.json, bench/results/latest.json and bench/results/latest.md (${machine['durationSeconds']} s)`);
