/**
 * Renders one `npm run bench` run as Markdown (bench/results/latest.md): tenantguard beside OPA
 * with ratios, the fixed-rate sweep, the issue's targets (held or not), the profile, scheduler
 * steps (`POST /v1/steps`), and the in-process micro-benchmarks.
 */
import type { BenchResult } from './report.js';
import type { GrowthResult, LevelResult, ServerBenchResult, SystemResult } from './sidecar-vs-opa.js';
import type { StepsBenchResult, StepsRunResult } from './steps.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../src/project-root.js';
import { CALLS_PER_CYCLE } from './cycles.js';
import { TARGET_CALLS_PER_SEC } from './sidecar-vs-opa.js';

const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en') : '—');
const ms = (n: number): string => (Number.isFinite(n) ? (n >= 100 ? n.toFixed(0) : n.toFixed(2)) : '—');
const ratio = (a: number, b: number): string => (b > 0 && Number.isFinite(a) ? (a / b).toFixed(2) : '—');

function levelAt(system: SystemResult | undefined, callsPerSec: number): LevelResult | undefined {
  return system?.levels.find((l) => l.offeredCallsPerSec === callsPerSec);
}

/** p99 ratio, only where both levels were sustained (an overloaded level's latency is its queue). */
function latencyRatio(a: LevelResult | undefined, b: LevelResult | undefined): string {
  if (!a || !b || !a.sustained || !b.sustained) return '—';
  return `${ratio(a.cycleLatencyMs.p99, b.cycleLatencyMs.p99)} (p99)`;
}

function latencyCell(level: LevelResult | undefined, pick: (l: LevelResult) => number): string {
  if (!level) return 'not run (saturated below)';
  return `${ms(pick(level))}${level.sustained ? '' : ' (not sustained)'}`;
}

export interface TargetCheck {
  readonly target: string;
  readonly holds: boolean;
  readonly measured: string;
}

export function checkTargets(server: ServerBenchResult): TargetCheck[] {
  const mtls = server.systems.find((s) => s.system === 'tenantguard-mtls');
  const unix = server.systems.find((s) => s.system === 'tenantguard-unix');
  const opa = server.systems.find((s) => s.system === 'opa-rest');
  const half = TARGET_CALLS_PER_SEC / 2;
  const checks: TargetCheck[] = [];
  const growthOf = (name: string): GrowthResult | undefined => server.growth?.find((g) => g.system === name);
  const growthAt = (g: GrowthResult | undefined, rate: number): GrowthResult['levels'][number] | undefined => g?.levels.find((l) => l.offeredAllocateCallsPerSec === rate);
  const mtlsGrowth = growthOf('tenantguard-mtls');
  if (mtls) {
    const atTarget = growthAt(mtlsGrowth, TARGET_CALLS_PER_SEC);
    const cycleAllocatePeak = mtls.peak.callsPerSec / CALLS_PER_CYCLE;
    checks.push({
      target: `≥ ${int(TARGET_CALLS_PER_SEC)} allocate calls/s of 16 blocks (${int(TARGET_CALLS_PER_SEC * 16)} block decisions/s) over mTLS + policy + durable audit`,
      holds: atTarget?.sustained === true,
      measured:
        (mtlsGrowth && atTarget
          ? `allocation path: ${int(atTarget.achievedAllocateCallsPerSec)} allocate calls/s at ${int(TARGET_CALLS_PER_SEC)} offered, ${atTarget.sustained ? 'sustained' : 'not sustained'}; peak ${int(mtlsGrowth.peak.allocateCallsPerSec)} allocate calls/s (${int(mtlsGrowth.peak.blockDecisionsPerSec)} block decisions/s). `
          : 'allocation path not run. ') +
        `In the allocate + access + free cycle (a third of the calls allocate): peak ${int(mtls.peak.callsPerSec)} calls/s (${int(cycleAllocatePeak)} of them allocate), highest sustained fixed rate ${int(mtls.maxSustainedCallsPerSec)} calls/s`,
    });
    const atHalf = growthAt(mtlsGrowth, half);
    const cycleAtHalf = levelAt(mtls, half);
    checks.push({
      target: `allocate-call p99 < 5 ms at ${int(half)} allocate calls/s over mTLS`,
      holds: atHalf !== undefined && atHalf.sustained && atHalf.allocateLatencyMs.p99 < 5,
      measured:
        (atHalf ? `allocate p50 / p99 / p99.9 ${ms(atHalf.allocateLatencyMs.p50)} / ${ms(atHalf.allocateLatencyMs.p99)} / ${ms(atHalf.allocateLatencyMs.p999)} ms${atHalf.sustained ? '' : ' (level not sustained)'}. ` : 'allocation path not run. ') +
        (cycleAtHalf ? `Cycle at ${int(half)} calls/s: per-call p99 ${ms(cycleAtHalf.callLatencyMs.p99)} ms, whole cycle (3 durable calls in a row) p99 ${ms(cycleAtHalf.cycleLatencyMs.p99)} ms` : ''),
    });
  }
  const opaGrowth = growthOf('opa-rest');
  if (opaGrowth) {
    for (const name of ['tenantguard-mtls', 'tenantguard-unix']) {
      const g = growthOf(name);
      if (!g) continue;
      const r = g.peak.allocateCallsPerSec / opaGrowth.peak.allocateCallsPerSec;
      checks.push({ target: `throughput ratio ${name} / opa-rest ≥ 1.0 on the allocation path`, holds: r >= 1, measured: `peak ${r.toFixed(2)} (${int(g.peak.allocateCallsPerSec)} / ${int(opaGrowth.peak.allocateCallsPerSec)} allocate calls/s)` });
    }
  }
  if (opa) {
    for (const tg of [mtls, unix]) {
      if (!tg) continue;
      const peak = tg.peak.callsPerSec / opa.peak.callsPerSec;
      const sustained = opa.maxSustainedCallsPerSec > 0 ? tg.maxSustainedCallsPerSec / opa.maxSustainedCallsPerSec : NaN;
      checks.push({
        target: `throughput ratio ${tg.system} / opa-rest ≥ 1.0 for the same cycle`,
        holds: peak >= 1 && !(sustained < 1),
        measured: `peak ${peak.toFixed(2)}; highest sustained ${Number.isFinite(sustained) ? sustained.toFixed(2) : '—'}`,
      });
    }
  }
  return checks;
}

function serverSection(server: ServerBenchResult): string[] {
  const out: string[] = [];
  const by = (name: string): SystemResult | undefined => server.systems.find((s) => s.system === name);
  const mtls = by('tenantguard-mtls');
  const unix = by('tenantguard-unix');
  const opa = by('opa-rest');
  const settings = server.settings as { levelWarmupMs: number; levelMeasureMs: number; connectionsPerSystem: number; peakConcurrencyCycles: number };
  out.push('## tenantguard vs OPA sidecar: allocate + access + free, 16 blocks per call');
  out.push('');
  out.push('| system | transport | what one cycle does |');
  out.push('|---|---|---|');
  for (const s of server.systems) out.push(`| ${s.system} | ${s.transport} | ${s.does} |`);
  out.push('');
  out.push(
    `Every system runs in its own process on 127.0.0.1; the load generator (this process) holds ${settings.connectionsPerSystem} keep-alive ` +
      `connections per system. Fixed-rate levels: ${settings.levelWarmupMs / 1000} s unmeasured + ${settings.levelMeasureMs / 1000} s measured; ` +
      'latency is measured from each cycle\'s scheduled send time (no coordinated omission). "Peak" is a closed loop with ' +
      `${settings.peakConcurrencyCycles} cycles in flight. A call decides 16 blocks, so block decisions/s = 16 × calls/s.`,
  );
  out.push('');
  const cols = [mtls, unix, opa];
  const cell = (s: SystemResult | undefined, f: (s: SystemResult) => string): string => (s ? f(s) : '—');
  out.push('| | tenantguard mTLS | tenantguard Unix socket | OPA REST | mTLS / OPA | Unix / OPA |');
  out.push('|---|---|---|---|---|---|');
  const row = (label: string, f: (s: SystemResult) => number, fmt: (n: number) => string = int, ratios = true): void => {
    const v = cols.map((s) => (s ? f(s) : NaN));
    out.push(`| ${label} | ${cols.map((s, i) => cell(s, () => fmt(v[i]!))).join(' | ')} | ${ratios ? ratio(v[0]!, v[2]!) : ''} | ${ratios ? ratio(v[1]!, v[2]!) : ''} |`);
  };
  row('peak calls/s', (s) => s.peak.callsPerSec);
  row('peak block decisions/s', (s) => s.peak.blockDecisionsPerSec);
  row('highest fixed rate sustained, calls/s', (s) => s.maxSustainedCallsPerSec);
  row('server CPU per call at peak, µs (all threads)', (s) => s.peak.serverCpuUsPerCall);
  row('load generator CPU at peak, % of a core', (s) => s.peak.loadgenCpuPercent, int, false);
  for (const rate of [1000, TARGET_CALLS_PER_SEC / 2, TARGET_CALLS_PER_SEC]) {
    const v = cols.map((s) => levelAt(s, rate));
    out.push(
      `| cycle latency p50 / p99 / p99.9 at ${int(rate)} calls/s, ms | ${v
        .map((l) => (l ? `${ms(l.cycleLatencyMs.p50)} / ${ms(l.cycleLatencyMs.p99)} / ${ms(l.cycleLatencyMs.p999)}${l.sustained ? '' : ' (not sustained)'}` : 'saturated below'))
        .join(' | ')} | ${latencyRatio(v[0], v[2])} | ${latencyRatio(v[1], v[2])} |`,
    );
  }
  out.push('');
  out.push('### Fixed-rate sweep (each system until two levels in a row it cannot sustain)');
  out.push('');
  out.push('| offered calls/s | system | achieved calls/s | block decisions/s | cycle p50 ms | cycle p99 ms | cycle p99.9 ms | call p99 ms | server µs CPU/call | load gen % core | sustained |');
  out.push('|---|---|---|---|---|---|---|---|---|---|---|');
  const rates = [...new Set(server.systems.flatMap((s) => s.levels.map((l) => l.offeredCallsPerSec)))].sort((a, b) => a - b);
  for (const rate of rates) {
    for (const s of server.systems) {
      const l = levelAt(s, rate);
      if (!l) continue;
      const status = l.sustained ? 'yes' : `no${l.dropped ? `, ${int(l.dropped)} dropped` : ''}${l.errors ? `, ${int(l.errors)} errors` : ''}${l.unfinished ? `, ${int(l.unfinished)} unfinished` : ''}${Math.max(l.backlogAtStart, l.backlogAtEnd) > Math.max(16, l.offeredCyclesPerSec / 4) ? `, ${int(l.backlogAtStart)} → ${int(l.backlogAtEnd)} cycles behind` : ''}`;
      out.push(
        `| ${int(rate)} | ${s.system} | ${int(l.achievedCallsPerSec)} | ${int(l.blockDecisionsPerSec)} | ${latencyCell(l, (x) => x.cycleLatencyMs.p50)} | ${ms(l.cycleLatencyMs.p99)} | ${ms(l.cycleLatencyMs.p999)} | ${ms(l.callLatencyMs.p99)} | ${int(l.serverCpuUsPerCall)} | ${int(l.loadgenCpuPercent)} | ${status} |`,
      );
    }
  }
  out.push('');
  if (server.batchScaling.length > 0) {
    out.push('### Batching: the same cycle with more blocks per call (peak, closed loop)');
    out.push('');
    out.push('| blocks per call | tenantguard mTLS calls/s (block decisions/s) | tenantguard Unix calls/s (block decisions/s) | OPA REST calls/s (block decisions/s) | mTLS / OPA |');
    out.push('|---|---|---|---|---|');
    const sizes = [16, ...new Set(server.batchScaling.map((b) => b.blocksPerCall))];
    for (const size of sizes) {
      const at = (name: string): { calls: number; decisions: number } | undefined => {
        if (size === 16) {
          const sys = by(name);
          return sys ? { calls: sys.peak.callsPerSec, decisions: sys.peak.blockDecisionsPerSec } : undefined;
        }
        const b = server.batchScaling.find((x) => x.system === name && x.blocksPerCall === size);
        return b ? { calls: b.callsPerSec, decisions: b.blockDecisionsPerSec } : undefined;
      };
      const cells = ['tenantguard-mtls', 'tenantguard-unix', 'opa-rest'].map(at);
      out.push(`| ${size} | ${cells.map((c) => (c ? `${int(c.calls)} (${int(c.decisions)})` : '—')).join(' | ')} | ${cells[0] && cells[2] ? ratio(cells[0].calls, cells[2].calls) : '—'} |`);
    }
    out.push('');
  }
  if ((server.growth ?? []).length > 0) {
    const steps = (server.settings as { growthAllocateStepsPerRequest?: number }).growthAllocateStepsPerRequest ?? 8;
    out.push(`### Allocation path: requests growing by 16 blocks per allocate call (${steps} allocate calls, then one free of all ${steps * 16} blocks)`);
    out.push('');
    out.push(
      'How a decoding worker drives the ledger: one allocate call per step of a request, the steps of a request in sequence, every call on the full path ' +
        '(tenantguard: authenticated, authorized, decided, applied, durable before the answer; OPA: the same allocate decision, facts from the caller). ' +
        'Latency is per allocate call (the first of a request from its scheduled send time).',
    );
    out.push('');
    const rates = [...new Set(server.growth.flatMap((g) => g.levels.map((l) => l.offeredAllocateCallsPerSec)))];
    out.push(`| system | peak allocate calls/s (block decisions/s) | server CPU µs per call at peak | ${rates.map((r) => `allocate p50 / p99 / p99.9 ms at ${int(r)}/s offered`).join(' | ')} |`);
    out.push(`|---|---|---|${rates.map(() => '---').join('|')}|`);
    const opaPeak = server.growth.find((g) => g.system === 'opa-rest')?.peak.allocateCallsPerSec ?? NaN;
    for (const g of server.growth) {
      const cells = rates.map((r) => {
        const l = g.levels.find((x) => x.offeredAllocateCallsPerSec === r);
        if (!l) return '—';
        const lat = l.allocateLatencyMs;
        return `${ms(lat.p50)} / ${ms(lat.p99)} / ${ms(lat.p999)}${l.sustained ? '' : ` (not sustained: ${int(l.achievedAllocateCallsPerSec)}/s achieved)`}`;
      });
      const vsOpa = g.system === 'opa-rest' ? '' : ` — ${ratio(g.peak.allocateCallsPerSec, opaPeak)} × OPA`;
      out.push(`| ${g.system} | ${int(g.peak.allocateCallsPerSec)} (${int(g.peak.blockDecisionsPerSec)})${vsOpa} | ${int(g.peak.serverCpuUsPerCall)} | ${cells.join(' | ')} |`);
    }
    out.push('');
  }
  out.push('### Targets');
  out.push('');
  out.push('| target | holds | measured |');
  out.push('|---|---|---|');
  for (const c of checkTargets(server)) out.push(`| ${c.target} | ${c.holds ? 'yes' : '**no**'} | ${c.measured} |`);
  out.push('');
  if (server.profile) {
    const p = server.profile;
    out.push(`### Profile: tenantguard over mTLS at ${int(p.offeredCallsPerSec)} calls/s offered (\`node --cpu-prof\`)`);
    out.push('');
    out.push(
      `A fresh sidecar, mTLS traffic only: achieved ${int(p.achievedCallsPerSec)} calls/s` +
        (p.cycleLatencyMs ? ` (${p.sustained ? 'sustained' : 'not sustained'}; cycle p50 ${ms(p.cycleLatencyMs.p50)} ms, p99 ${ms(p.cycleLatencyMs.p99)} ms)` : '') +
        '; ' +
        `${int(p.serverCpuUsPerCall)} µs of sidecar CPU per call (all threads); main thread busy ${p.busyPercent}% of the ${int(p.totalMs)} ms ` +
        'fixed-rate window (start-up, warm-up and shutdown left out). Self time, share of all samples in the window:',
    );
    out.push('');
    out.push(...profileTable(p));
    out.push('');
  }
  return out;
}

const us = (n: number): string => (Number.isFinite(n) ? (n >= 1000 ? Math.round(n).toLocaleString('en') : n.toFixed(0)) : '—');

/** Claim mode: one `POST /v1/steps` per scheduler step at a fixed rate (bench/steps.ts). */
export function stepsSection(steps: StepsBenchResult): string[] {
  const s = steps.settings as { stepsPerSec: number; warmupMs: number; measureMs: number; poolBlocks: number; tenants: number; systemPromptBlocks: number; jitWarmupMsPerTransport?: number; backToBackSteps?: number };
  const m = steps.machine;
  const d = steps.durableAppendMs;
  const out: string[] = ['## Scheduler steps (`POST /v1/steps`)', ''];
  out.push(
    `One call per engine scheduler step, sent by a simulated engine with \`SidecarClient\` on one kept-alive connection, open loop at ${s.stepsPerSec} steps/s ` +
      `(${s.warmupMs / 1000} s unmeasured, then ${s.measureMs / 1000} s measured per run); latency from each step's scheduled time, HDR histogram. ` +
      (s.jitWarmupMsPerTransport ? `One sidecar for all runs, JIT-warmed first (${s.jitWarmupMsPerTransport / 1000} s of realistic 256-request steps back to back per transport, unmeasured). ` : '') +
      `${int(s.poolBlocks)}-block shared pool, aged (every block last held by one of ${s.tenants} tenants); each tenant's ${s.systemPromptBlocks}-block system prompt is a prefix hit of its new requests. ` +
      '**realistic**: 1/16 of the running requests claim one block (a 16-token block filled), finished requests release all their blocks and are replaced by new ones claiming their prompt, ' +
      'one `scrubbed` op confirms the previous step\'s scrub list. **worst case**: the same, and every running request claims one block. ' +
      '**empty**: `{step, ops: []}`, no record and no fsync: the fixed cost of one call (HTTP, Express, validation, both ends).',
  );
  out.push('');
  out.push(
    `Disk under the audit log, measured just before: one durable append (700 bytes, O_DSYNC) p50 ${us(d.p50 * 1000)} µs, p99 ${us(d.p99 * 1000)} µs, p99.9 ${us(d.p999 * 1000)} µs. ` +
      'Every step is answered only after its records are durable (one group commit per step), so no step is faster than one of these. ' +
      `CPU pressure ${m['cpuPressureStart'] ?? '?'}% at start, ${m['cpuPressureEnd'] ?? '?'}% at end; load average ${m['loadAverage1mStart'] ?? '?'} → ${m['loadAverage1mEnd'] ?? '?'}.`,
  );
  out.push('');
  out.push('| transport | running | mix | ops / step (max) | blocks / step (max) | scrub / step | p50 / p99 / p99.9 / max µs | call alone p50 / p99 µs | steps/s | sidecar CPU µs / step (main thread) | engine CPU µs / step | sustained |');
  out.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
  const label = (t: StepsRunResult['transport']): string => (t === 'unix' ? 'Unix socket' : 'mTLS');
  for (const r of steps.runs) {
    const l = r.latencyUs;
    out.push(
      `| ${label(r.transport)} | ${r.running} | ${r.mix} | ${r.opsPerStep.mean} (${r.opsPerStep.max}) | ${r.blocksPerStep.mean} (${r.blocksPerStep.max}) | ${r.scrubPerStep} | ` +
        `${us(l.p50)} / ${us(l.p99)} / ${us(l.p999)} / ${us(l.max)} | ${us(r.serviceUs.p50)} / ${us(r.serviceUs.p99)} | ${r.achievedStepsPerSec} | ` +
        `${us(r.serverCpuUsPerStep)} (${us(r.serverMainThreadCpuUsPerStep)}) | ${us(r.clientCpuUsPerStep)} | ${r.sustained ? 'yes' : `**no** (${ms(r.backlogAtEndMs)} ms behind at the end)`} |`,
    );
  }
  out.push('');
  out.push(
    `The same steps back to back (closed loop, one step in flight${s.backToBackSteps ? `, ${int(s.backToBackSteps)} steps` : ''}) just before each paced run: no idle gap between calls. ` +
      'A process that idles ~10 ms between calls can pay several times the CPU per call of one that does not (cold caches, idle-state exits; about 3× on the 2-core development VM), so compare the two:',
  );
  out.push('');
  out.push('| transport | running | mix | steps | steps/s | call p50 / p99 µs | sidecar CPU µs / step (main thread) | engine CPU µs / step |');
  out.push('|---|---|---|---|---|---|---|---|');
  for (const r of steps.runs) {
    const b = r.backToBack;
    if (!b) continue;
    out.push(`| ${label(r.transport)} | ${r.running} | ${r.mix} | ${int(b.steps)} | ${int(b.stepsPerSec)} | ${us(b.latencyUs.p50)} / ${us(b.latencyUs.p99)} | ${us(b.serverCpuUsPerStep)} (${us(b.serverMainThreadCpuUsPerStep)}) | ${us(b.clientCpuUsPerStep)} |`);
  }
  out.push('');
  out.push(`| target | holds | measured |`);
  out.push('|---|---|---|');
  out.push(`| ${steps.target.target} | ${steps.target.holds ? 'yes' : '**no**'} | ${steps.target.measured} |`);
  out.push('');
  if (steps.profile) {
    const p = steps.profile;
    out.push(`### Profile: the sidecar through ${p.running} running, ${p.mix}, over the Unix socket (\`node --cpu-prof\`)`);
    out.push('');
    out.push(`Main thread busy ${p.busyPercent}% of the ${int(p.totalMs)} ms measured window. Self time, share of all samples in the window:`);
    out.push('');
    out.push(...profileTable(p));
    out.push('');
  }
  return out;
}

function microSection(micro: readonly BenchResult[]): string[] {
  const out: string[] = ['## In-process', ''];
  const table = (title: string, header: string, rows: BenchResult[], fmt: (r: BenchResult) => string): void => {
    if (rows.length === 0) return;
    out.push(`### ${title}`, '', header, header.replace(/[^|]+/g, '---'));
    for (const r of rows) out.push(fmt(r));
    out.push('');
  };
  table('Policy evaluation (one `PolicyEngine.decide`)', '| decision | µs per batch | µs per operation |', micro.filter((r) => r.unit === 'us/decision'), (r) => `| ${r.name} | ${r.value.toFixed(1)} | ${Number(r.extra?.['usPerOperation'] ?? NaN).toFixed(3)} |`);
  table('Ledger cost per block', '| ledger | ns per block (allocate + free) |', micro.filter((r) => r.name.startsWith('ledger')), (r) => `| ${r.name} | ${r.value.toFixed(0)} |`);
  table('Durable audit appends (group commit, one O_DSYNC write per commit)', '| writers | records/s | records per commit |', micro.filter((r) => r.name.startsWith('audit')), (r) => `| ${r.name} | ${int(r.value)} | ${String(r.extra?.['recordsPerFsync'] ?? '')} |`);
  table(
    'Offload seal/open beside raw AES-256-GCM',
    '| operation | GB/s | raw AES-256-GCM GB/s | ratio |',
    micro.filter((r) => r.name.startsWith('offload')),
    (r) => `| ${r.name} | ${r.value.toFixed(2)} | ${String(r.extra?.['rawGBps'] ?? '')} | ${String(r.extra?.['ratio'] ?? '')} |`,
  );
  return out;
}

export function renderMarkdown(run: { machine: Record<string, string | number>; server: ServerBenchResult | null; steps?: StepsBenchResult | null; micro: readonly BenchResult[] }): string {
  const m = run.machine;
  const out: string[] = [
    '# Benchmark results (generated by `npm run bench`)',
    '',
    `Machine: ${m['cpus']} cores (${m['cpuModel']}), ${m['memoryGiB']} GiB, ${m['kernel']}; Node ${m['node']}; OPA ${m['opa'] ?? 'unknown'}; ` +
      `load average (1 min) ${m['loadAverage1m']} at start, ${m['loadAverageEnd1m'] ?? '?'} at end; ` +
      `CPU pressure (share of the last 10 s with a runnable task waiting for a CPU) ${m['cpuPressureStart'] ?? '?'}% at start, ${m['cpuPressureEnd'] ?? '?'}% at end; ${m['date']}. ` +
      'Load generator and servers share this machine.',
    '',
    `Disk under the audit log: one durable append (700 bytes, O_DSYNC) takes p50 ${m['durableAppendP50Ms'] ?? '?'} ms, p99 ${m['durableAppendP99Ms'] ?? '?'} ms, ` +
      `p99.9 ${m['durableAppendP999Ms'] ?? '?'} ms. A tenantguard cycle is three calls in a row, each answered after its record is durable: no cycle is faster than three of these.`,
    '',
  ];
  if (run.server) out.push(...serverSection(run.server));
  if (run.steps) out.push(...stepsSection(run.steps));
  out.push(...microSection(run.micro));
  return `${out.join('\n')}\n`;
}

/** Re-renders a results file: node dist/bench/markdown.js [bench/results/<file>.json] (default latest). */
if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2] ?? join(PROJECT_ROOT, 'bench/results/latest.json');
  const run = JSON.parse(readFileSync(file, 'utf8')) as Parameters<typeof renderMarkdown>[0];
  const out = process.argv[3] ?? join(PROJECT_ROOT, 'bench/results/latest.md');
  writeFileSync(out, renderMarkdown(run));
  console.log(`rendered ${file} to ${out}`);
}

/** The profile's top areas and functions side by side (self time, % of samples). */
function profileTable(p: { byArea: ReadonlyArray<{ name: string; percent: number }>; topFunctions: ReadonlyArray<{ name: string; percent: number }> }): string[] {
  const rows = ['| by area | % | by function | % |', '|---|---|---|---|'];
  for (let i = 0; i < 15; i++) {
    const a = p.byArea[i];
    const f = p.topFunctions[i];
    if (!a && !f) break;
    rows.push(`| ${a ? a.name : ''} | ${a ? a.percent.toFixed(1) : ''} | ${f ? `\`${f.name}\`` : ''} | ${f ? f.percent.toFixed(1) : ''} |`);
  }
  return rows;
}
