/**
 * Claim mode, `POST /v1/steps`: the latency of one scheduler step as an engine sees it.
 *
 * A simulated engine (this process) owns a 65,536-block shared pool, chooses its blocks itself and
 * calls the sidecar once per scheduler step with `SidecarClient` (src/client, undici) on one
 * kept-alive connection, over the worker Unix socket and, for comparison, over mTLS. The sidecar is
 * a child process started as the other server benchmarks start it (targets.ts: a fresh `init`
 * directory, real dev PKI, real durable audit log on this machine's disk).
 *
 * Steps are sent open-loop at a fixed rate (100 steps/s): step k is due at start + k × 10 ms. Like
 * an engine, the simulation needs step k's answer (its scrub list) before step k+1, so a step that
 * comes due while the previous one is still in flight is sent when that one answers; every latency
 * is measured from the step's scheduled time (no coordinated omission), into an HDR histogram
 * (node:perf_hooks `createHistogram`, HdrHistogram, 3 significant digits). The sender waits with a
 * timer, then `Atomics.wait`, then a spin of ~0.2 ms, so it sends within a few µs of the due time
 * (the send lateness is reported; its CPU is left out of the engine's CPU per step).
 *
 * One sidecar serves every run. It is JIT-warmed first (realistic steps back to back over each
 * transport, unmeasured); each run then ages the pool, fills the batch, sends 600 of its steps back
 * to back (measured separately: the cost per step without idle gaps), then paces: 2 s unmeasured,
 * 8 s measured. An `empty` run (`{step, ops: []}`: no record, no fsync) gives the fixed cost of the
 * call itself.
 *
 * Workload per step, `running` requests in the batch (4 tenants, 40/30/20/10% of requests, each
 * with an 8-block system prompt kept warm by a long-lived holder request):
 *  - realistic mix: a request's decode crosses a 16-token block boundary every 16 steps, so 1/16
 *    of the running requests claim one new block; finished requests (128 output tokens on average,
 *    16–240) release all their blocks into the prefix cache (`cache: true`) and are replaced in the
 *    same step by new requests claiming a prompt of 2–62 new blocks plus prefix hits on their
 *    tenant's system prompt; one `scrubbed` op confirms the previous step's scrub list;
 *  - worst case: the same, but every running request claims one block in the step.
 * The pool is aged before each run (every block last held by one of the tenants, by id mod 4), so
 * claims of recycled blocks come back in `scrub` as they would in a busy shared engine, and the
 * same seed gives both transports the same steps.
 *
 * Run: npm run build && node dist/bench/steps.js (prints the results as JSON and Markdown; `npm run
 * bench` runs it too and writes bench/results/). BENCH_QUICK=1: short runs (a smoke test);
 * BENCH_STEPS_PROFILE=1 also profiles a fresh sidecar under `node --cpu-prof` through the
 * 256-request worst case over the socket (`<running>:<mix>` for another run).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { LatencySummary } from './loadgen.js';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { parse, stringify } from 'yaml';
import { SidecarClient, type StepOp, type StepRequest, type StepResponse } from '../src/client/index.js';
import { measureDurableAppend } from './disk.js';
import { pressure } from './report.js';
import { summariseProfile, type ProfileSummary } from './profile-summary.js';
import { BENCH_TENANTS, prepareTenantguard, spawnTenantguard, type TenantguardProcess, type TenantguardSetup } from './targets.js';

const QUICK = process.env['BENCH_QUICK'] === '1';
export const STEPS_PER_SEC = 100;
/**
 * Before the paced run, the same steps back to back (closed loop): a sidecar that has served an
 * engine for hours has its step path JIT-compiled, which 2 s at 100 steps/s (200 calls) does not
 * do. A fixed number of steps (so both transports then see the same steps), at most `BURST_MAX_MS`.
 * Measured too: the per-step cost without idle gaps between calls.
 */
const BURST_STEPS = QUICK ? 150 : 600;
const BURST_MAX_MS = 15_000;
/**
 * Once per transport before any run: realistic 256-request steps back to back, unmeasured. The
 * step path (Express, validation, ledger, audit encoding) needs a few thousand calls before V8 has
 * optimised it (measured: per-step CPU falls by about a fifth over the first ~3,500 steps).
 */
const JIT_WARMUP_MS = QUICK ? 1000 : 6000;
const WARMUP_MS = QUICK ? 500 : 2000;
const MEASURE_MS = QUICK ? 2000 : 8000;
export const POOL_BLOCKS = 65_536;
const QUOTA_BLOCKS = POOL_BLOCKS / 4;
const SYSTEM_PROMPT_BLOCKS = 8;
const BLOCK_TOKENS = 16;
/** Output length in decode steps (one token per step): uniform, mean 128. */
const LIFETIME_STEPS: readonly [number, number] = [16, 240];
/** New prompt blocks of an arriving request (besides the system-prompt prefix hits): uniform. */
const PROMPT_BLOCKS: readonly [number, number] = [2, 62];
const TENANT_WEIGHTS = [0.4, 0.3, 0.2, 0.1];
export const BATCH_SIZES = [64, 256];
/** Issue 19's target. */
export const TARGET_P99_US = 500;
const BYTES_PER_BLOCK = 2 * 32 * 8 * 128 * 2 * 16; // the init geometry: 2 MiB

export type Transport = 'unix' | 'mtls';
/** `empty`: steps without ops (no record, no fsync): the fixed cost of the call itself, a baseline. */
export type Mix = 'realistic' | 'worst-case' | 'empty';

/** loadgen's latency summary, in microseconds here. */
export type MicrosSummary = LatencySummary;

export interface StepsRunResult {
  readonly transport: Transport;
  readonly running: number;
  readonly mix: Mix;
  readonly offeredStepsPerSec: number;
  readonly achievedStepsPerSec: number;
  /** from each step's scheduled time to its answer, µs */
  readonly latencyUs: MicrosSummary;
  /** from the actual send to the answer, µs (the call alone) */
  readonly serviceUs: MicrosSummary;
  /** actual send − scheduled time, µs (timer accuracy, or waiting for the previous step) */
  readonly sendLateUs: MicrosSummary;
  /** the same steps back to back (closed loop, one in flight) before the paced run: the per-step cost without idle gaps */
  readonly backToBack: { readonly steps: number; readonly stepsPerSec: number; readonly latencyUs: MicrosSummary; readonly serverCpuUsPerStep: number; readonly serverMainThreadCpuUsPerStep: number; readonly clientCpuUsPerStep: number };
  /** steps sent more than 1 ms after their scheduled time because the previous one was still in flight */
  readonly queuedSteps: number;
  /** how late the last step of the window was sent, ms: a growing backlog means the rate was not carried */
  readonly backlogAtEndMs: number;
  /** ≥ 97% of the offered steps/s delivered and less than 50 ms of backlog at the end */
  readonly sustained: boolean;
  readonly opsPerStep: { readonly mean: number; readonly max: number };
  readonly claimOpsPerStep: number;
  readonly releaseOpsPerStep: number;
  /** block ids named per step (claims, prefix hits, releases, scrub confirmations) */
  readonly blocksPerStep: { readonly mean: number; readonly max: number };
  /** blocks returned in `scrub` per step */
  readonly scrubPerStep: number;
  /** sidecar CPU per step (/proc): all threads, of it in the kernel, of it on the main (JS) thread; and the engine's (this process, without the wait for the due time) */
  readonly serverCpuUsPerStep: number;
  readonly serverSystemCpuUsPerStep: number;
  readonly serverMainThreadCpuUsPerStep: number;
  readonly clientCpuUsPerStep: number;
  readonly refusedOps: number;
}

export interface StepsBenchResult {
  readonly settings: Record<string, unknown>;
  readonly durableAppendMs: { readonly p50: number; readonly p99: number; readonly p999: number; readonly directory: string };
  readonly runs: readonly StepsRunResult[];
  /** Linux PSI (share of the last 10 s with a runnable task waiting for a CPU / for I/O) and load average, at start and end */
  readonly machine: Record<string, number | string>;
  readonly target: { readonly target: string; readonly holds: boolean; readonly measured: string };
  readonly profile: (ProfileSummary & { readonly running: number; readonly mix: Mix; readonly transport: Transport }) | null;
}

// ───────────────────────────── measurement helpers ─────────────────────────────

function histogram(): RecordableHistogram {
  return createHistogram({ lowest: 1, highest: 60_000_000_000, figures: 3 });
}

/** Records milliseconds (performance.now() differences) as integer nanoseconds. */
function recordMs(h: RecordableHistogram, ms: number): void {
  h.record(Math.max(1, Math.round(ms * 1e6)));
}

function micros(h: RecordableHistogram): MicrosSummary {
  const us = (ns: number): number => Number((ns / 1000).toFixed(1));
  const count = h.count;
  return {
    count,
    mean: count === 0 ? NaN : us(h.mean),
    p50: count === 0 ? NaN : us(h.percentile(50)),
    p90: count === 0 ? NaN : us(h.percentile(90)),
    p99: count === 0 ? NaN : us(h.percentile(99)),
    p999: count === 0 ? NaN : us(h.percentile(99.9)),
    max: count === 0 ? NaN : us(h.max),
  };
}

/** CPU milliseconds of a process from /proc (USER_HZ = 100): all threads, user and system, and its main thread alone. */
interface CpuSample {
  readonly user: number;
  readonly system: number;
  readonly main: number;
}

function statTimes(file: string): { user: number; system: number } | null {
  try {
    const fields = readFileSync(file, 'utf8').split(') ')[1]!.split(' ');
    return { user: Number(fields[11]) * 10, system: Number(fields[12]) * 10 };
  } catch {
    return null;
  }
}

function processCpu(pid: number | undefined): CpuSample | null {
  if (pid === undefined) return null;
  const all = statTimes(`/proc/${pid}/stat`);
  const main = statTimes(`/proc/${pid}/task/${pid}/stat`);
  return all && main ? { user: all.user, system: all.system, main: main.user + main.system } : null;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Resolves at `due` (performance.now() time) within a few µs: a timer until 2 ms before (timers
 * have 1 ms resolution), then a blocking `Atomics.wait` (a timed condition wait, which on this VM
 * wakes ~75 µs late) until 200 µs before, then a spin. Nothing else runs in this process while it
 * waits: the previous step has answered.
 */
async function sendAt(due: number): Promise<void> {
  const coarse = due - performance.now() - 2;
  if (coarse > 0) await new Promise((resolve) => setTimeout(resolve, coarse));
  const fine = due - performance.now() - 0.2;
  if (fine > 0) Atomics.wait(sleeper, 0, 0, fine);
  while (performance.now() < due) {
    /* spin for the last µs */
  }
}

/** mulberry32: a small seeded PRNG, so every run offers the same steps. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ───────────────────────────── the simulated engine ─────────────────────────────

interface Request {
  readonly id: string;
  readonly tenant: string;
  /** blocks this request claimed itself (not the shared system prompt) */
  readonly own: number[];
  readonly prefix: readonly number[];
  /** decode steps left */
  remaining: number;
  /** decode steps done; a new block is claimed when (age + phase) crosses a 16-token boundary */
  age: number;
  readonly phase: number;
}

/** FIFO of free block ids: claims take the least recently freed (vLLM's free block queue). */
class FreeQueue {
  private readonly ring: Int32Array;
  private head = 0;
  private size = 0;

  constructor(capacity: number) {
    this.ring = new Int32Array(capacity);
  }

  push(id: number): void {
    if (this.size === this.ring.length) throw new Error('free queue overflow');
    this.ring[(this.head + this.size) % this.ring.length] = id;
    this.size++;
  }

  take(n: number): number[] {
    if (n > this.size) throw new Error(`pool exhausted: wanted ${n}, ${this.size} free`);
    const out = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      out[i] = this.ring[this.head]!;
      this.head = (this.head + 1) % this.ring.length;
    }
    this.size -= n;
    return out;
  }

  get free(): number {
    return this.size;
  }
}

interface StepShape {
  readonly ops: number;
  readonly claims: number;
  readonly releases: number;
  readonly blocks: number;
}

/**
 * The engine's side of claim mode: which requests run, which blocks each holds, what the next step
 * says. Every op must be accepted; a refusal means the simulation and the ledger disagree (a bug
 * here), so it stops the run.
 */
export class Engine {
  private readonly free = new FreeQueue(POOL_BLOCKS);
  private readonly running: Request[] = [];
  private readonly systemPrompt = new Map<string, number[]>();
  private readonly random: () => number;
  private pendingScrub: number[] = [];
  private pendingEpochs: number[] = [];
  private nextId = 0;
  private stepNo = 0;
  refused = 0;

  constructor(
    private readonly name: string,
    private readonly client: SidecarClient,
    seed: number,
  ) {
    for (let id = 0; id < POOL_BLOCKS; id++) this.free.push(id);
    this.random = rng(seed);
  }

  private between([lo, hi]: readonly [number, number]): number {
    return lo + Math.floor(this.random() * (hi - lo + 1));
  }

  private pickTenant(): string {
    let r = this.random();
    for (let i = 0; i < BENCH_TENANTS.length; i++) {
      r -= TENANT_WEIGHTS[i]!;
      if (r < 0) return BENCH_TENANTS[i]!;
    }
    return BENCH_TENANTS[BENCH_TENANTS.length - 1]!;
  }

  /** Sends one step, checks every result, remembers the scrub list for the next step's confirmation. */
  async send(ops: StepOp[]): Promise<StepResponse> {
    const res = await this.client.step(this.request(ops));
    this.settle(ops, res);
    return res;
  }

  settle(ops: readonly StepOp[], res: StepResponse): void {
    const bad = res.results.filter((r) => !r.ok);
    if (bad.length > 0) {
      this.refused += bad.length;
      const first = bad[0]!;
      throw new Error(`${this.name}: step ${res.step}: ${bad.length} of ${ops.length} ops refused, first ${JSON.stringify(ops[first.index])?.slice(0, 200)} → ${first.code} ${(first.reasons ?? []).slice(0, 3).join(',')}`);
    }
    this.pendingScrub = [...res.scrub];
    this.pendingEpochs = [...res.scrub_epochs];
  }

  /** The body of the engine's next step. */
  request(ops: StepOp[]): StepRequest {
    return { step: this.stepNo++, ops };
  }

  /** The scrubbed op confirming the previous step's scrub list (an engine zeroes them first). */
  private scrubOp(ops: StepOp[]): void {
    if (this.pendingScrub.length > 0) ops.push({ op: 'scrubbed', blocks: this.pendingScrub, epochs: this.pendingEpochs });
    this.pendingScrub = [];
    this.pendingEpochs = [];
  }

  /** Ages the pool: every block claimed by one of the tenants (by id mod 4) and released dirty. */
  async agePool(): Promise<void> {
    const chunk = 1024;
    for (let round = 0; round < POOL_BLOCKS / (chunk * BENCH_TENANTS.length); round++) {
      const ids = this.free.take(chunk * BENCH_TENANTS.length);
      const ops: StepOp[] = BENCH_TENANTS.map((tenant, t) => ({ op: 'claim', tenant, request_id: `${this.name}-age-${round}-${t}`, blocks: ids.filter((id) => id % BENCH_TENANTS.length === t) }));
      await this.send(ops);
      const release: StepOp[] = [];
      this.scrubOp(release);
      for (const op of ops) if (op.op === 'claim') release.push({ op: 'release', tenant: op.tenant, request_id: op.request_id, blocks: op.blocks, cache: false });
      await this.send(release);
      for (const id of ids) this.free.push(id);
    }
  }

  /** Each tenant's system prompt, kept warm by a holder request for the whole run; then the batch. */
  async fill(count: number): Promise<void> {
    const pins: StepOp[] = BENCH_TENANTS.map((tenant) => {
      const blocks = this.free.take(SYSTEM_PROMPT_BLOCKS);
      this.systemPrompt.set(tenant, blocks);
      return { op: 'claim', tenant, request_id: `${this.name}-sys-${tenant}`, blocks };
    });
    await this.send(pins);
    while (this.running.length < count) {
      const ops: StepOp[] = [];
      this.scrubOp(ops);
      for (let i = 0; i < 64 && this.running.length < count; i++) {
        // A snapshot of a busy engine: requests at every point of their decode.
        const lifetime = this.between(LIFETIME_STEPS);
        const age = Math.floor(this.random() * lifetime);
        ops.push(this.arrive(lifetime - age, age, Math.floor(age / BLOCK_TOKENS)));
      }
      await this.send(ops);
    }
    const confirm: StepOp[] = [];
    this.scrubOp(confirm);
    if (confirm.length > 0) await this.send(confirm);
  }

  private arrive(remaining: number, age: number, decodedBlocks: number): StepOp {
    const tenant = this.pickTenant();
    const own = this.free.take(this.between(PROMPT_BLOCKS) + decodedBlocks);
    const prefix = this.systemPrompt.get(tenant)!;
    const request: Request = { id: `${this.name}-${this.nextId++}`, tenant, own, prefix, remaining, age, phase: Math.floor(this.random() * BLOCK_TOKENS) };
    this.running.push(request);
    return { op: 'claim', tenant, request_id: request.id, blocks: [...own], prefix_hits: [...prefix] };
  }

  /** The next scheduler step's ops (advances the simulation: the engine decided them). */
  nextStep(mix: Mix): { ops: StepOp[]; shape: StepShape } {
    const ops: StepOp[] = [];
    if (mix === 'empty') return { ops, shape: { ops: 0, claims: 0, releases: 0, blocks: 0 } };
    this.scrubOp(ops);
    let claims = 0;
    let releases = 0;
    let finished = 0;
    const stillRunning: Request[] = [];
    const releasedBlocks: number[] = [];
    for (const r of this.running) {
      r.age++;
      r.remaining--;
      if (r.remaining <= 0) {
        ops.push({ op: 'release', tenant: r.tenant, request_id: r.id, blocks: [...r.prefix, ...r.own], cache: true });
        releasedBlocks.push(...r.own);
        releases++;
        finished++;
        continue;
      }
      stillRunning.push(r);
      if (mix === 'worst-case' || (r.age + r.phase) % BLOCK_TOKENS === 0) {
        const [id] = this.free.take(1);
        r.own.push(id!);
        ops.push({ op: 'claim', tenant: r.tenant, request_id: r.id, blocks: [id!] });
        claims++;
      }
    }
    this.running.length = 0;
    this.running.push(...stillRunning);
    // The batch stays full: the waiting queue refills it in the same step.
    for (let i = 0; i < finished; i++) {
      ops.push(this.arrive(this.between(LIFETIME_STEPS), 0, 0));
      claims++;
    }
    // Blocks freed in this step are reusable from the next one on (end of the free queue).
    for (const id of releasedBlocks) this.free.push(id);
    let blocks = 0;
    for (const op of ops) blocks += op.blocks.length + (op.op === 'claim' ? (op.prefix_hits?.length ?? 0) : 0);
    return { ops, shape: { ops: ops.length, claims, releases, blocks } };
  }

  /** Releases every request and the system-prompt holders, so the next run starts from an idle pool. */
  async drain(): Promise<void> {
    const all: StepOp[] = this.running.map((r) => ({ op: 'release', tenant: r.tenant, request_id: r.id, blocks: [...r.prefix, ...r.own], cache: true }));
    for (const [tenant, blocks] of this.systemPrompt) all.push({ op: 'release', tenant, request_id: `${this.name}-sys-${tenant}`, blocks, cache: true });
    this.running.length = 0;
    this.systemPrompt.clear();
    for (let i = 0; i < all.length || this.pendingScrub.length > 0; i += 256) {
      const ops: StepOp[] = [];
      this.scrubOp(ops);
      ops.push(...all.slice(i, i + 256));
      await this.send(ops);
    }
  }
}

// ───────────────────────────── runs ─────────────────────────────

async function runBackToBack(tg: TenantguardProcess, client: SidecarClient, engine: Engine, mix: Mix): Promise<StepsRunResult['backToBack']> {
  const latency = histogram();
  const server0 = processCpu(tg.child.pid);
  const client0 = process.cpuUsage();
  const start = performance.now();
  let steps = 0;
  while (steps < BURST_STEPS && performance.now() - start < BURST_MAX_MS) {
    const { ops } = engine.nextStep(mix);
    const sent = performance.now();
    const res = await client.step(engine.request(ops));
    recordMs(latency, performance.now() - sent);
    engine.settle(ops, res);
    steps++;
  }
  const wallMs = performance.now() - start;
  const server1 = processCpu(tg.child.pid);
  const clientCpu = process.cpuUsage(client0);
  const serverUs = (pick: (c: CpuSample) => number): number => (server0 && server1 ? Number(((1000 * (pick(server1) - pick(server0))) / steps).toFixed(0)) : NaN);
  return {
    steps,
    stepsPerSec: Number(((steps * 1000) / wallMs).toFixed(0)),
    latencyUs: micros(latency),
    serverCpuUsPerStep: serverUs((c) => c.user + c.system),
    serverMainThreadCpuUsPerStep: serverUs((c) => c.main),
    clientCpuUsPerStep: Number(((clientCpu.user + clientCpu.system) / steps).toFixed(0)),
  };
}

async function warmUp(client: SidecarClient, name: string): Promise<number> {
  const engine = new Engine(name, client, 1);
  await engine.agePool();
  await engine.fill(256);
  let steps = 0;
  const end = performance.now() + JIT_WARMUP_MS;
  while (performance.now() < end) {
    const { ops } = engine.nextStep('realistic');
    engine.settle(ops, await client.step(engine.request(ops)));
    steps++;
  }
  await engine.drain();
  return steps;
}

async function runOne(tg: TenantguardProcess, client: SidecarClient, transport: Transport, running: number, mix: Mix, seed: number, window?: { from: number; to: number }): Promise<StepsRunResult> {
  const engine = new Engine(`${transport}-${running}-${mix.slice(0, 1)}-${seed}`, client, seed);
  if (mix !== 'empty') {
    // Every run starts from the same aged pool, so the same seed gives the same steps and scrubs.
    await engine.agePool();
    await engine.fill(running);
  }
  const backToBack = await runBackToBack(tg, client, engine, mix);
  const latency = histogram();
  const service = histogram();
  const late = histogram();
  let queued = 0;
  let steps = 0;
  let ops = 0;
  let opsMax = 0;
  let claims = 0;
  let releases = 0;
  let blocks = 0;
  let blocksMax = 0;
  let scrubbed = 0;
  let server0: CpuSample | null = null;
  let client0 = process.cpuUsage();
  let pacingCpuUs = 0;
  const interval = 1000 / STEPS_PER_SEC;
  const total = Math.round(((WARMUP_MS + MEASURE_MS) / 1000) * STEPS_PER_SEC);
  const warmupSteps = Math.round((WARMUP_MS / 1000) * STEPS_PER_SEC);
  let start = performance.now() + 20;
  let windowStart = 0;
  let windowEnd = 0;
  let lastLateMs = 0;
  for (let k = 0; k < total; k++) {
    if (k === warmupSteps) {
      // The measured window begins: counters from here on.
      start = performance.now() + 20 - k * interval;
      server0 = processCpu(tg.child.pid);
      client0 = process.cpuUsage();
      pacingCpuUs = 0;
      windowStart = start + k * interval;
    }
    const due = start + k * interval;
    const { ops: stepOps, shape } = engine.nextStep(mix);
    if (performance.now() < due) {
      const pacing0 = process.cpuUsage();
      await sendAt(due);
      const pacing = process.cpuUsage(pacing0);
      pacingCpuUs += pacing.user + pacing.system;
    }
    const sent = performance.now();
    const res = await client.step(engine.request(stepOps));
    const done = performance.now();
    engine.settle(stepOps, res);
    if (k < warmupSteps) continue;
    recordMs(latency, done - due);
    recordMs(service, done - sent);
    recordMs(late, sent - due);
    lastLateMs = sent - due;
    if (sent - due > 1) queued++;
    steps++;
    ops += shape.ops;
    opsMax = Math.max(opsMax, shape.ops);
    claims += shape.claims;
    releases += shape.releases;
    blocks += shape.blocks;
    blocksMax = Math.max(blocksMax, shape.blocks);
    scrubbed += res.scrub.length;
    windowEnd = done;
    // Far behind: the rate is not carried; stop rather than queue for ever (bounded run).
    if (lastLateMs > 5000) break;
  }
  const server1 = processCpu(tg.child.pid);
  if (window) {
    window.from = windowStart;
    window.to = windowEnd;
  }
  const serverUs = (pick: (c: CpuSample) => number): number => (server0 && server1 ? (1000 * (pick(server1) - pick(server0))) / steps : NaN);
  const clientCpu = process.cpuUsage(client0);
  await engine.drain();
  const round = (n: number, digits = 1): number => Number(n.toFixed(digits));
  const achieved = steps / ((windowEnd - windowStart) / 1000);
  return {
    transport,
    running,
    mix,
    offeredStepsPerSec: STEPS_PER_SEC,
    achievedStepsPerSec: round(achieved),
    latencyUs: micros(latency),
    serviceUs: micros(service),
    sendLateUs: micros(late),
    backToBack,
    queuedSteps: queued,
    backlogAtEndMs: round(lastLateMs, 2),
    sustained: achieved >= 0.97 * STEPS_PER_SEC && lastLateMs < 50,
    opsPerStep: { mean: round(ops / steps), max: opsMax },
    claimOpsPerStep: round(claims / steps),
    releaseOpsPerStep: round(releases / steps, 2),
    blocksPerStep: { mean: round(blocks / steps), max: blocksMax },
    scrubPerStep: round(scrubbed / steps),
    serverCpuUsPerStep: round(serverUs((c) => c.user + c.system), 0),
    serverSystemCpuUsPerStep: round(serverUs((c) => c.system), 0),
    serverMainThreadCpuUsPerStep: round(serverUs((c) => c.main), 0),
    clientCpuUsPerStep: round((clientCpu.user + clientCpu.system - pacingCpuUs) / steps, 0),
    refusedOps: engine.refused,
  };
}

/** The bench sidecar (targets.ts), its shared pool cut to 65,536 blocks and quotas to a quarter each. */
export async function prepareStepsSidecar(): Promise<TenantguardSetup> {
  const setup = await prepareTenantguard();
  const config = parse(readFileSync(setup.configFile, 'utf8')) as { pools: Array<Record<string, unknown>>; tenants: Array<Record<string, unknown>> };
  config.pools = [
    { name: 'shared', first: 0, last: POOL_BLOCKS - 1 },
    { name: 'enterprise-demo-pool', first: POOL_BLOCKS, last: POOL_BLOCKS + 8191, dedicated_to: 'enterprise-demo' },
  ];
  for (const tenant of config.tenants) {
    if ((BENCH_TENANTS as readonly unknown[]).includes(tenant['id'])) tenant['overrides'] = { kv_quota_bytes: QUOTA_BLOCKS * BYTES_PER_BLOCK };
  }
  writeFileSync(setup.configFile, stringify(config), { mode: 0o600 });
  return setup;
}

function clients(setup: TenantguardSetup, tg: TenantguardProcess): Record<Transport, SidecarClient> {
  const files = setup.init.files;
  return {
    unix: new SidecarClient({ socketPath: setup.socketPath }),
    mtls: new SidecarClient({ url: tg.url, ca: readFileSync(files.ca), cert: readFileSync(files.worker.cert), key: readFileSync(files.worker.key), servername: 'localhost' }),
  };
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function describe(r: StepsRunResult): string {
  const l = r.latencyUs;
  return (
    `  steps ${r.transport.padEnd(4)} ${String(r.running).padStart(3)} running ${r.mix.padEnd(10)}: ${r.opsPerStep.mean} ops, ${r.blocksPerStep.mean} blocks, ${r.scrubPerStep} scrub per step; ` +
    `p50 ${l.p50} p99 ${l.p99} p99.9 ${l.p999} max ${l.max} µs (call alone p50 ${r.serviceUs.p50} p99 ${r.serviceUs.p99}; send late p99 ${r.sendLateUs.p99} µs, ${r.queuedSteps} queued); ` +
    `back to back ${r.backToBack.stepsPerSec} steps/s, p50 ${r.backToBack.latencyUs.p50} µs, sidecar main thread ${r.backToBack.serverMainThreadCpuUsPerStep} µs/step; ` +
    `${r.achievedStepsPerSec} steps/s${r.sustained ? '' : ` NOT SUSTAINED (${r.backlogAtEndMs} ms behind at the end)`}; sidecar ${r.serverCpuUsPerStep} µs CPU/step (kernel ${r.serverSystemCpuUsPerStep}, main thread ${r.serverMainThreadCpuUsPerStep}), engine ${r.clientCpuUsPerStep} µs`
  );
}

/** Profiles a fresh sidecar (node --cpu-prof) through one run over the Unix socket. */
export async function profileRun(running: number, mix: Mix): Promise<StepsBenchResult['profile']> {
  const setup = await prepareStepsSidecar();
  const profDir = mkdtempSync(join(tmpdir(), 'tg-bench-steps-prof-'));
  const tg = await spawnTenantguard(setup, { cpuProfDir: profDir });
  const c = clients(setup, tg);
  try {
    await warmUp(c.unix, 'warm-prof');
    const window = { from: 0, to: 0 };
    const result = await runOne(tg, c.unix, 'unix', running, mix, 99, window);
    log(describe(result));
    await Promise.all([c.unix.close(), c.mtls.close()]);
    await tg.stop();
    const stopped = performance.now();
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) return null;
    return { ...summariseProfile(join(profDir, file), 20, { fromEndMs: stopped - window.from, toEndMs: stopped - window.to }), running, mix, transport: 'unix' };
  } finally {
    await tg.stop();
    rmSync(profDir, { recursive: true, force: true });
    rmSync(setup.dir, { recursive: true, force: true });
  }
}

export function checkStepsTarget(runs: readonly StepsRunResult[], durableP50Ms: number): StepsBenchResult['target'] {
  const at = (mix: Mix): StepsRunResult | undefined => runs.find((r) => r.transport === 'unix' && r.running === 256 && r.mix === mix);
  const realistic = at('realistic');
  const worst = at('worst-case');
  const fsyncUs = Math.round(durableP50Ms * 1000);
  const line = (r: StepsRunResult | undefined, label: string): string =>
    r ? `${label}: p50 / p99 / p99.9 ${Math.round(r.latencyUs.p50)} / ${Math.round(r.latencyUs.p99)} / ${Math.round(r.latencyUs.p999)} µs (${r.opsPerStep.mean} ops, ${r.blocksPerStep.mean} blocks per step${r.sustained ? '' : ', rate not sustained'})` : `${label}: not run`;
  return {
    target: `p99 of one 256-request step ≤ ${TARGET_P99_US} µs over the Unix socket at ${STEPS_PER_SEC} steps/s`,
    holds: realistic !== undefined && realistic.latencyUs.p99 <= TARGET_P99_US,
    measured: `${line(realistic, 'realistic mix')}; ${line(worst, 'worst case (every request claims)')}; one durable append on this disk alone: p50 ${fsyncUs} µs, and every step waits for one`,
  };
}

export async function runStepsBench(options: { profile?: { running: number; mix: Mix } | null } = {}): Promise<StepsBenchResult> {
  const started = Date.now();
  const atStart = pressure();
  const load1mStart = Number(loadavg()[0]!.toFixed(2));
  const disk = await measureDurableAppend();
  log(`steps: durable append on ${disk.directory}: p50 ${disk.p50.toFixed(3)} p99 ${disk.p99.toFixed(3)} p99.9 ${disk.p999.toFixed(3)} ms`);
  const setup = await prepareStepsSidecar();
  const tg = await spawnTenantguard(setup);
  const c = clients(setup, tg);
  const runs: StepsRunResult[] = [];
  try {
    for (const transport of ['unix', 'mtls'] as const) {
      const warm = await warmUp(c[transport], `warm-${transport}`);
      log(`steps: JIT warm-up over ${transport}: ${warm} realistic 256-request steps back to back`);
    }
    for (const transport of ['unix', 'mtls'] as const) {
      const result = await runOne(tg, c[transport], transport, 0, 'empty', 0);
      log(describe(result));
      runs.push(result);
    }
    let seed = 7;
    for (const running of BATCH_SIZES) {
      for (const mix of ['realistic', 'worst-case'] as const) {
        // Both transports back to back, the same steps (same seed), so drift hits both alike.
        for (const transport of ['unix', 'mtls'] as const) {
          const result = await runOne(tg, c[transport], transport, running, mix, seed);
          log(describe(result));
          runs.push(result);
        }
        seed++;
      }
    }
  } finally {
    await Promise.all([c.unix.close(), c.mtls.close()]);
    await tg.stop();
    rmSync(setup.dir, { recursive: true, force: true });
  }
  let profile: StepsBenchResult['profile'] = null;
  const atEnd = pressure();
  const machine = {
    date: new Date(started).toISOString(),
    durationSeconds: Math.round((Date.now() - started) / 1000),
    loadAverage1mStart: load1mStart,
    loadAverage1mEnd: Number(loadavg()[0]!.toFixed(2)),
    cpuPressureStart: atStart.cpuSome10s ?? 'n/a',
    cpuPressureEnd: atEnd.cpuSome10s ?? 'n/a',
    ioPressureStart: atStart.ioSome10s ?? 'n/a',
    ioPressureEnd: atEnd.ioSome10s ?? 'n/a',
  };
  if (options.profile) {
    log(`steps: profiling the sidecar (node --cpu-prof) through ${options.profile.running} running, ${options.profile.mix}, over the Unix socket`);
    profile = await profileRun(options.profile.running, options.profile.mix);
  }
  return {
    settings: {
      stepsPerSec: STEPS_PER_SEC,
      jitWarmupMsPerTransport: JIT_WARMUP_MS,
      backToBackSteps: BURST_STEPS,
      warmupMs: WARMUP_MS,
      measureMs: MEASURE_MS,
      poolBlocks: POOL_BLOCKS,
      quotaBlocksPerTenant: QUOTA_BLOCKS,
      tenants: BENCH_TENANTS.length,
      tenantWeights: TENANT_WEIGHTS,
      systemPromptBlocks: SYSTEM_PROMPT_BLOCKS,
      lifetimeSteps: LIFETIME_STEPS,
      promptBlocks: PROMPT_BLOCKS,
      blockTokens: BLOCK_TOKENS,
      client: 'SidecarClient (src/client, undici), one kept-alive connection per transport',
      histogram: 'node:perf_hooks createHistogram (HdrHistogram, 3 significant digits)',
      quick: QUICK,
    },
    durableAppendMs: { p50: Number(disk.p50.toFixed(3)), p99: Number(disk.p99.toFixed(3)), p999: Number(disk.p999.toFixed(3)), directory: disk.directory },
    runs,
    machine,
    target: checkStepsTarget(runs, disk.p50),
    profile,
  };
}

/** BENCH_STEPS_PROFILE: unset or 0 = no profile; 1 = 256 running, worst case; `<running>:<mix>` for another run. */
export function profileOption(value = process.env['BENCH_STEPS_PROFILE']): { running: number; mix: Mix } | null {
  if (value === undefined || value === '' || value === '0') return null;
  if (value === '1') return { running: 256, mix: 'worst-case' };
  const [running, mix] = value.split(':');
  if (!Number.isInteger(Number(running)) || (mix !== 'realistic' && mix !== 'worst-case' && mix !== 'empty')) throw new Error(`BENCH_STEPS_PROFILE=${value}: expected 1 or <running>:realistic|worst-case|empty`);
  return { running: Number(running), mix };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runStepsBench({ profile: profileOption() });
  const { stepsSection } = await import('./markdown.js');
  console.log(JSON.stringify(result, null, 2));
  console.log(`\n${stepsSection(result).join('\n')}`);
}
