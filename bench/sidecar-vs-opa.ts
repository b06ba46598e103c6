/**
 * tenantguard against the alternative a platform team would deploy today: OPA as a sidecar
 * (`opa run --server`) queried over REST, with the same Rego and the same data.
 *
 * Both run as child processes on loopback; this process is the load generator. Per system:
 *  1. warm-up (JIT, connections, group commit) — not reported;
 *  2. peak: closed loop, `PEAK_CONCURRENCY` cycles in flight, throughput only;
 *  3. sweep: fixed-rate levels (calls/s, the same for every system), latency measured from each
 *     cycle's scheduled send time; a system's sweep stops after two levels in a row it cannot
 *     sustain;
 *  4. the allocation path (cycles.ts, `tenantguardGrowth`): peak allocate calls/s and allocate-call
 *     latency at fixed rates of half the target and the target.
 * Then a profile: a fresh tenantguard under `node --cpu-prof`, driven over mTLS at the target rate.
 *
 * Run: npm run build && node dist/bench/sidecar-vs-opa.js   (options: BENCH_QUICK=1 for short levels)
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BLOCKS_PER_CALL, CALLS_PER_CYCLE, GROWTH_STEPS, opaCycle, opaGrowth, tenantguardCycle, tenantguardGrowth, type CallLatencies, type Cycle } from './cycles.js';
import { createJsonClient as createAgentClient, type JsonClient } from './http-client.js';
import { createRawClient } from './raw-client.js';
import { runClosedLoop, runFixedRate, Samples, type LatencySummary } from './loadgen.js';
import { summariseProfile, type ProfileSummary } from './profile-summary.js';
import { BENCH_TENANTS, opaDataFor, prepareTenantguard, spawnOpa, spawnTenantguard, type TenantguardSetup } from './targets.js';

const QUICK = process.env['BENCH_QUICK'] === '1';
/** Offered loads, in calls per second (3 calls = 1 cycle); identical for every system. */
export const LEVELS_CALLS_PER_SEC = [500, 1000, 2500, 4000, 5000, 6000, 7500, 9000, 12000, 15000];
const WARMUP_MS = QUICK ? 1000 : 3000;
const LEVEL_WARMUP_MS = 1000;
const PRIME_MS = 300;
const LEVEL_MEASURE_MS = QUICK ? 2000 : 5000;
const PEAK_MS = QUICK ? 2000 : 5000;
const PEAK_CONCURRENCY = 64;
/** Keep-alive connections per system (a worker's pool); more cycles in flight wait for one. */
const CONNECTIONS = 64;
const MAX_OUTSTANDING_CYCLES = 2000;
const DRAIN_MS = 5000;
/** The issue's targets: calls/s through mTLS + policy + durable audit, and p99 at half of it. */
export const TARGET_CALLS_PER_SEC = 5000;
const PROFILE_MS = QUICK ? 4000 : 8000;
/** Allocation path (requests growing 16 blocks per allocate call): offered allocate calls/s. */
export const GROWTH_LEVELS_ALLOCATE_PER_SEC = [TARGET_CALLS_PER_SEC / 2, TARGET_CALLS_PER_SEC];
/** Larger batches measured at peak, besides the 16 of the main comparison. */
export const BATCH_SIZES = [64, 256];
/**
 * The load generator's HTTP client: `raw` (default, raw-client.ts) or `agent` (node:http(s)
 * Agents, http-client.ts, ~3× the client CPU per call: a cross-check, not for the headline figures).
 */
const CLIENT = process.env['BENCH_CLIENT'] === 'agent' ? 'agent' : 'raw';
const createJsonClient = CLIENT === 'agent' ? createAgentClient : createRawClient;

export interface LevelResult {
  readonly offeredCallsPerSec: number;
  readonly offeredCyclesPerSec: number;
  readonly achievedCallsPerSec: number;
  readonly achievedCyclesPerSec: number;
  readonly blockDecisionsPerSec: number;
  readonly cycleLatencyMs: LatencySummary;
  readonly callLatencyMs: LatencySummary;
  readonly sustained: boolean;
  readonly dropped: number;
  readonly errors: number;
  readonly unfinished: number;
  readonly backlogAtStart: number;
  readonly backlogAtEnd: number;
  readonly firstError?: string;
  /** share of one core the load generator used during the level */
  readonly loadgenCpuPercent: number;
  /** CPU time of the server process(es) per call during the level, all threads */
  readonly serverCpuUsPerCall: number;
}

export interface SystemResult {
  readonly system: string;
  readonly transport: string;
  readonly does: string;
  readonly peak: { readonly cyclesPerSec: number; readonly callsPerSec: number; readonly blockDecisionsPerSec: number; readonly serverCpuUsPerCall: number; readonly loadgenCpuPercent: number; readonly errors: number };
  readonly levels: readonly LevelResult[];
  /** highest offered level sustained (≥ 97% delivered, nothing dropped, no errors) */
  readonly maxSustainedCallsPerSec: number;
}

/** Peak throughput with larger batches (batching is the worker's main lever). */
export interface BatchScaling {
  readonly system: string;
  readonly blocksPerCall: number;
  readonly callsPerSec: number;
  readonly blockDecisionsPerSec: number;
  readonly serverCpuUsPerCall: number;
}

/** The allocation path (cycles.ts, `tenantguardGrowth`): allocate calls/s and allocate-call latency. */
export interface GrowthResult {
  readonly system: string;
  readonly peak: { readonly allocateCallsPerSec: number; readonly blockDecisionsPerSec: number; readonly serverCpuUsPerCall: number; readonly errors: number };
  readonly levels: ReadonlyArray<{
    readonly offeredAllocateCallsPerSec: number;
    readonly achievedAllocateCallsPerSec: number;
    readonly allocateLatencyMs: LatencySummary;
    readonly sustained: boolean;
    readonly dropped: number;
    readonly errors: number;
    readonly firstError?: string;
  }>;
}

export interface ServerBenchResult {
  readonly settings: Record<string, unknown>;
  readonly systems: readonly SystemResult[];
  readonly batchScaling: readonly BatchScaling[];
  readonly growth: readonly GrowthResult[];
  readonly profile:
    | (ProfileSummary & {
        readonly offeredCallsPerSec: number;
        readonly achievedCallsPerSec: number;
        readonly serverCpuUsPerCall: number;
        readonly sustained: boolean;
        readonly cycleLatencyMs: LatencySummary;
      })
    | null;
  readonly opaVersion: string;
}

/** User + system CPU milliseconds of a process (all threads), from /proc; null where unavailable. */
function processCpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks (USER_HZ = 100)
  } catch {
    return null;
  }
}

interface System {
  readonly name: string;
  readonly transport: string;
  readonly does: string;
  readonly pid: number | undefined;
  readonly cycle: Cycle;
  readonly calls: CallLatencies;
  readonly client: JsonClient;
  /** the same cycle with another batch size */
  readonly withBatch: (blocksPerCall: number) => Cycle;
  /** the allocation path (requests growing by allocate calls) and its allocate-call latencies */
  readonly growth: Cycle;
  readonly growthCalls: CallLatencies;
}

async function measure<T>(pid: number | undefined, run: () => Promise<T>): Promise<{ result: T; serverCpuMs: number; loadgenCpuMs: number; wallMs: number }> {
  const server0 = processCpuMs(pid);
  const loadgen0 = process.cpuUsage();
  const wall0 = performance.now();
  const result = await run();
  const loadgen = process.cpuUsage(loadgen0);
  const server1 = processCpuMs(pid);
  return { result, serverCpuMs: server0 === null || server1 === null ? NaN : server1 - server0, loadgenCpuMs: (loadgen.user + loadgen.system) / 1000, wallMs: performance.now() - wall0 };
}

/**
 * Opens every connection of the pool before a level: the sidecar closes keep-alive connections
 * idle for 5 s (Node's default), which they are while the other systems run their levels, and a
 * burst of TLS handshakes at the start of a fixed-rate level would be measured as a stall of the
 * steady state. Same primer for every system.
 */
async function primeConnections(system: System): Promise<void> {
  await runClosedLoop({ concurrency: CONNECTIONS, warmupMs: 0, measureMs: PRIME_MS, op: () => system.cycle() });
}

async function runLevel(system: System, callsPerSec: number): Promise<LevelResult> {
  await primeConnections(system);
  const sink = new Samples();
  system.calls.sink = sink;
  const { result, serverCpuMs, loadgenCpuMs, wallMs } = await measure(system.pid, () =>
    runFixedRate({
      rate: callsPerSec / CALLS_PER_CYCLE,
      warmupMs: LEVEL_WARMUP_MS,
      measureMs: LEVEL_MEASURE_MS,
      maxOutstanding: MAX_OUTSTANDING_CYCLES,
      drainMs: DRAIN_MS,
      op: system.cycle,
    }),
  );
  system.calls.sink = null;
  const achievedCycles = result.achieved;
  // CPU over the whole level (warm-up + window + drain) divided by every call made in it.
  const callsMade = (result.completed * CALLS_PER_CYCLE * (LEVEL_WARMUP_MS + LEVEL_MEASURE_MS)) / LEVEL_MEASURE_MS;
  return {
    offeredCallsPerSec: callsPerSec,
    offeredCyclesPerSec: Number((callsPerSec / CALLS_PER_CYCLE).toFixed(1)),
    achievedCallsPerSec: achievedCycles * CALLS_PER_CYCLE,
    achievedCyclesPerSec: achievedCycles,
    blockDecisionsPerSec: achievedCycles * CALLS_PER_CYCLE * BLOCKS_PER_CALL,
    cycleLatencyMs: result.latencyMs,
    callLatencyMs: sink.summary(),
    sustained: result.sustained,
    dropped: result.dropped,
    errors: result.errors,
    unfinished: result.unfinished,
    backlogAtStart: result.backlogAtStart,
    backlogAtEnd: result.backlogAtEnd,
    ...(result.firstError !== undefined ? { firstError: result.firstError } : {}),
    loadgenCpuPercent: (100 * loadgenCpuMs) / wallMs,
    serverCpuUsPerCall: (1000 * serverCpuMs) / Math.max(1, callsMade),
  };
}

async function runPeak(system: System, cycle: Cycle = system.cycle, blocksPerCall = BLOCKS_PER_CALL): Promise<SystemResult['peak']> {
  const { result, serverCpuMs, loadgenCpuMs, wallMs } = await measure(system.pid, () =>
    runClosedLoop({ concurrency: PEAK_CONCURRENCY, warmupMs: 500, measureMs: PEAK_MS, op: () => cycle() }),
  );
  const calls = result.throughput * CALLS_PER_CYCLE;
  return {
    cyclesPerSec: result.throughput,
    callsPerSec: calls,
    blockDecisionsPerSec: calls * blocksPerCall,
    serverCpuUsPerCall: (1000 * serverCpuMs) / Math.max(1, (calls * wallMs) / 1000),
    loadgenCpuPercent: (100 * loadgenCpuMs) / wallMs,
    errors: result.errors,
  };
}

/** Calls in one growth request: the allocate steps and the final free. */
const GROWTH_CALLS = GROWTH_STEPS + 1;

async function runGrowth(system: System): Promise<GrowthResult> {
  await primeConnections(system);
  const { result, serverCpuMs, wallMs } = await measure(system.pid, () =>
    runClosedLoop({ concurrency: PEAK_CONCURRENCY, warmupMs: 500, measureMs: PEAK_MS, op: () => system.growth() }),
  );
  const allocateCallsPerSec = result.throughput * GROWTH_STEPS;
  const peak = {
    allocateCallsPerSec,
    blockDecisionsPerSec: allocateCallsPerSec * BLOCKS_PER_CALL,
    serverCpuUsPerCall: (1000 * serverCpuMs) / Math.max(1, (result.throughput * GROWTH_CALLS * wallMs) / 1000),
    errors: result.errors,
  };
  const levels: GrowthResult['levels'][number][] = [];
  for (const allocatePerSec of GROWTH_LEVELS_ALLOCATE_PER_SEC) {
    await primeConnections(system);
    const sink = new Samples();
    system.growthCalls.sink = sink;
    const level = await runFixedRate({
      rate: allocatePerSec / GROWTH_STEPS,
      warmupMs: LEVEL_WARMUP_MS,
      measureMs: LEVEL_MEASURE_MS,
      maxOutstanding: MAX_OUTSTANDING_CYCLES,
      drainMs: DRAIN_MS,
      op: system.growth,
    });
    system.growthCalls.sink = null;
    const l = sink.summary();
    levels.push({
      offeredAllocateCallsPerSec: allocatePerSec,
      achievedAllocateCallsPerSec: level.achieved * GROWTH_STEPS,
      allocateLatencyMs: l,
      sustained: level.sustained,
      dropped: level.dropped,
      errors: level.errors,
      ...(level.firstError !== undefined ? { firstError: level.firstError } : {}),
    });
    log(
      `  ${system.name.padEnd(18)} allocation path at ${allocatePerSec} allocate calls/s: achieved ${(level.achieved * GROWTH_STEPS).toFixed(0)}, allocate p50 ${l.p50.toFixed(2)} p99 ${l.p99.toFixed(2)} p99.9 ${l.p999.toFixed(2)} ms ${level.sustained ? 'ok' : `NOT SUSTAINED (dropped ${level.dropped}, errors ${level.errors})`}`,
    );
  }
  return { system: system.name, peak, levels };
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function describeLevel(system: string, level: LevelResult): string {
  const l = level.cycleLatencyMs;
  const status = level.sustained ? 'ok' : `NOT SUSTAINED (dropped ${level.dropped}, errors ${level.errors}, unfinished ${level.unfinished}, backlog ${level.backlogAtStart}→${level.backlogAtEnd}${level.firstError ? `, ${level.firstError}` : ''})`;
  return `  ${system.padEnd(18)} offered ${String(level.offeredCallsPerSec).padStart(6)} calls/s  achieved ${level.achievedCallsPerSec.toFixed(0).padStart(6)}  cycle p50 ${l.p50.toFixed(2)} p99 ${l.p99.toFixed(2)} p99.9 ${l.p999.toFixed(2)} ms  server ${level.serverCpuUsPerCall.toFixed(0)} µs/call  loadgen ${level.loadgenCpuPercent.toFixed(0)}%  ${status}`;
}

/** Starts a tenantguard under --cpu-prof, drives it over mTLS at `callsPerSec`, returns the summary. */
async function profileTenantguard(callsPerSec: number): Promise<ServerBenchResult['profile']> {
  const setup = await prepareTenantguard();
  const profDir = mkdtempSync(join(tmpdir(), 'tg-bench-prof-'));
  const tg = await spawnTenantguard(setup, { cpuProfDir: profDir });
  const client = mtlsClient(setup, tg.port);
  try {
    const cycle = tenantguardCycle(client);
    await runClosedLoop({ concurrency: CONNECTIONS, warmupMs: 0, measureMs: WARMUP_MS, op: () => cycle() });
    const measureStart = performance.now();
    const { result, serverCpuMs } = await measure(tg.child.pid, () =>
      runFixedRate({ rate: callsPerSec / CALLS_PER_CYCLE, warmupMs: 0, measureMs: PROFILE_MS, maxOutstanding: MAX_OUTSTANDING_CYCLES, drainMs: DRAIN_MS, op: cycle }),
    );
    const measureEnd = measureStart + PROFILE_MS;
    client.close();
    await tg.stop();
    const stopped = performance.now();
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) return null;
    const calls = result.completed * CALLS_PER_CYCLE;
    return {
      // Only the fixed-rate window: no start-up, warm-up, drain or shutdown.
      ...summariseProfile(join(profDir, file), 20, { fromEndMs: stopped - measureStart, toEndMs: stopped - measureEnd }),
      offeredCallsPerSec: callsPerSec,
      achievedCallsPerSec: result.achieved * CALLS_PER_CYCLE,
      serverCpuUsPerCall: (1000 * serverCpuMs) / Math.max(1, calls),
      sustained: result.sustained,
      cycleLatencyMs: result.latencyMs,
    };
  } finally {
    client.close();
    await tg.stop();
    rmSync(profDir, { recursive: true, force: true });
    rmSync(setup.dir, { recursive: true, force: true });
  }
}

function mtlsClient(setup: TenantguardSetup, port: number): JsonClient {
  return createJsonClient('tenantguard-mtls', { kind: 'https', host: '127.0.0.1', port, ca: setup.init.files.ca, ...setup.init.files.worker }, CONNECTIONS);
}

export async function runServerBench(options: { profile?: boolean } = {}): Promise<ServerBenchResult> {
  const setup = await prepareTenantguard();
  const data = opaDataFor(setup.configFile);
  const quotaBlocks = (data['tenants'] as Record<string, { quota_blocks: number }>)[BENCH_TENANTS[0]]!.quota_blocks;
  const tg = await spawnTenantguard(setup);
  const opa = await spawnOpa(data);
  const clients: JsonClient[] = [];
  try {
    const mtls = mtlsClient(setup, tg.port);
    const unix = createJsonClient('tenantguard-unix', { kind: 'unix', socketPath: setup.socketPath }, CONNECTIONS);
    const rest = createJsonClient('opa-rest', { kind: 'http', host: '127.0.0.1', port: opa.port }, CONNECTIONS);
    clients.push(mtls, unix, rest);
    const system = (
      name: string,
      transport: string,
      does: string,
      pid: number | undefined,
      client: JsonClient,
      make: (calls: CallLatencies, blocksPerCall?: number) => Cycle,
      grow: (calls: CallLatencies) => Cycle,
    ): System => {
      const calls: CallLatencies = { sink: null };
      const growthCalls: CallLatencies = { sink: null };
      return { name, transport, does, pid, cycle: make(calls), calls, client, withBatch: (blocks) => make({ sink: null }, blocks), growth: grow(growthCalls), growthCalls };
    };
    const tgDoes = 'allocate 16 + access 16 + free 16: 3 calls, each authenticated, authorized (authz policy), decided (blocks policy), applied to the ledger and fsynced to the hash-chained audit log before the answer';
    const systems: System[] = [
      system('tenantguard-mtls', 'HTTPS, TLS 1.3, client certificate (SPIFFE worker)', tgDoes, tg.child.pid, mtls, (calls, blocks) => tenantguardCycle(mtls, calls, blocks), (calls) => tenantguardGrowth(mtls, calls)),
      system('tenantguard-unix', 'HTTP on the worker Unix socket (0600)', tgDoes, tg.child.pid, unix, (calls, blocks) => tenantguardCycle(unix, calls, blocks), (calls) => tenantguardGrowth(unix, calls)),
      system(
        'opa-rest',
        'HTTP (no TLS) to opa run --server',
        '3 queries of POST /v1/data/tenantguard/blocks/decision with the input tenantguard builds (facts supplied by the caller); no identity, no state, no audit',
        opa.child.pid,
        rest,
        (calls, blocks) => opaCycle(rest, quotaBlocks, calls, blocks),
        (calls) => opaGrowth(rest, quotaBlocks, calls),
      ),
    ];

    log(`server bench: ${systems.map((s) => s.name).join(', ')}; levels ${LEVEL_WARMUP_MS / 1000}+${LEVEL_MEASURE_MS / 1000} s; ${CONNECTIONS} keep-alive connections each`);
    for (const s of systems) await runClosedLoop({ concurrency: PEAK_CONCURRENCY, warmupMs: 0, measureMs: WARMUP_MS, op: () => s.cycle() });

    const peaks = new Map<string, SystemResult['peak']>();
    for (const s of systems) {
      const peak = await runPeak(s);
      peaks.set(s.name, peak);
      log(`  ${s.name.padEnd(18)} peak (closed loop, ${PEAK_CONCURRENCY} cycles in flight): ${peak.callsPerSec.toFixed(0)} calls/s = ${peak.blockDecisionsPerSec.toFixed(0)} block decisions/s, server ${peak.serverCpuUsPerCall.toFixed(0)} µs CPU/call, loadgen ${peak.loadgenCpuPercent.toFixed(0)}% of a core`);
    }

    // Levels interleave the systems, so drift on a shared machine hits all of them alike. A
    // system's sweep ends after two levels in a row it could not sustain (one may be a stall of
    // the machine rather than saturation), or after one that left work unfinished.
    const levels = new Map<string, LevelResult[]>(systems.map((s) => [s.name, []]));
    const failures = new Map<string, number>(systems.map((s) => [s.name, 0]));
    const done = new Set<string>();
    for (const callsPerSec of LEVELS_CALLS_PER_SEC) {
      const active = systems.filter((s) => !done.has(s.name));
      if (active.length === 0) break;
      for (const s of active) {
        const level = await runLevel(s, callsPerSec);
        levels.get(s.name)!.push(level);
        log(describeLevel(s.name, level));
        const failed = level.sustained ? 0 : failures.get(s.name)! + 1;
        failures.set(s.name, failed);
        if (failed >= 2 || level.unfinished > 0) {
          done.add(s.name);
          // Cut what it still has in flight so it cannot load the runs that follow.
          if (level.unfinished > 0) s.client.close();
        }
      }
    }

    /** A system whose last level left work unfinished had its client closed: nothing more can run on it. */
    const clientCut = (s: System): boolean => done.has(s.name) && levels.get(s.name)!.at(-1)!.unfinished > 0;

    // Batching: the same cycle with more blocks per call, at peak, for every system still usable.
    const batchScaling: BatchScaling[] = [];
    for (const blocksPerCall of BATCH_SIZES) {
      for (const s of systems) {
        if (clientCut(s)) continue;
        const peak = await runPeak(s, s.withBatch(blocksPerCall), blocksPerCall);
        batchScaling.push({ system: s.name, blocksPerCall, callsPerSec: peak.callsPerSec, blockDecisionsPerSec: peak.blockDecisionsPerSec, serverCpuUsPerCall: peak.serverCpuUsPerCall });
        log(`  ${s.name.padEnd(18)} peak with ${blocksPerCall} blocks per call: ${peak.callsPerSec.toFixed(0)} calls/s = ${peak.blockDecisionsPerSec.toFixed(0)} block decisions/s`);
      }
    }

    // The allocation path, for every system still usable.
    const growth: GrowthResult[] = [];
    for (const s of systems) {
      if (clientCut(s)) continue;
      const g = await runGrowth(s);
      growth.push(g);
      log(`  ${s.name.padEnd(18)} allocation path peak: ${g.peak.allocateCallsPerSec.toFixed(0)} allocate calls/s = ${g.peak.blockDecisionsPerSec.toFixed(0)} block decisions/s`);
    }

    const results: SystemResult[] = systems.map((s) => {
      const own = levels.get(s.name)!;
      return {
        system: s.name,
        transport: s.transport,
        does: s.does,
        peak: peaks.get(s.name)!,
        levels: own,
        maxSustainedCallsPerSec: Math.max(0, ...own.filter((l) => l.sustained).map((l) => l.offeredCallsPerSec)),
      };
    });
    for (const c of clients) c.close();
    await tg.stop();
    await opa.stop();

    let profile: ServerBenchResult['profile'] = null;
    if (options.profile !== false) {
      log(`profiling tenantguard (node --cpu-prof) over mTLS at ${TARGET_CALLS_PER_SEC} calls/s offered`);
      profile = await profileTenantguard(TARGET_CALLS_PER_SEC);
    }
    return {
      settings: {
        levelsCallsPerSec: LEVELS_CALLS_PER_SEC,
        levelWarmupMs: LEVEL_WARMUP_MS,
        levelMeasureMs: LEVEL_MEASURE_MS,
        peakConcurrencyCycles: PEAK_CONCURRENCY,
        connectionsPerSystem: CONNECTIONS,
        blocksPerCall: BLOCKS_PER_CALL,
        callsPerCycle: CALLS_PER_CYCLE,
        growthAllocateStepsPerRequest: GROWTH_STEPS,
        maxOutstandingCycles: MAX_OUTSTANDING_CYCLES,
        cores: cpus().length,
        quick: QUICK,
        client: CLIENT === 'agent' ? 'node:http(s) Agent (http-client.ts)' : 'raw keep-alive HTTP/1.1 over node:tls / node:net (raw-client.ts)',
      },
      systems: results,
      batchScaling,
      growth,
      profile,
      opaVersion: opa.version,
    };
  } finally {
    for (const c of clients) c.close();
    await tg.stop();
    await opa.stop();
    rmSync(setup.dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runServerBench({ profile: process.env['BENCH_PROFILE'] !== '0' });
  console.log(JSON.stringify(result, null, 2));
}
