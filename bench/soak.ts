/**
 * Soak: mixed traffic against a real sidecar child process for a configurable time, reporting
 * throughput, error counts and the sidecar's RSS over time. Not part of the test run.
 *
 *   npm run build && node dist/bench/soak.js --seconds 600 --rate 750 [--heap-snapshots]
 *
 * Loopback only; stops by itself. Exit 1 if any request failed unexpectedly, the offered rate could
 * not be kept (more than 256 operations in flight: slots are then missed, not queued), or RSS grew
 * by more than 10% from just after warm-up (the first fifth) to the end (means over a fifth each).
 * `--heap-snapshots` makes the sidecar write a V8 heap snapshot at the end of warm-up and at the
 * end, to tell a leak (retained objects grow) from allocator and GC sizing (they do not); writing
 * one pauses the sidecar, so such a run misses slots and is for diagnosis only.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PROJECT_ROOT } from '../src/project-root.js';
import { initDirectory } from '../src/setup/index.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const seconds = arg('seconds', 60);
const rate = arg('rate', 500); // operations per second, offered at a fixed schedule
/** Diagnosis only: the sidecar writes a heap snapshot (into its working directory) at the end of warm-up and at the end. */
const heapSnapshots = process.argv.includes('--heap-snapshots');

const dir = mkdtempSync(join(tmpdir(), 'tg-soak-'));
const setup = await initDirectory(dir, { port: 0 });
writeFileSync(setup.configFile, readFileSync(setup.configFile, 'utf8') + 'admission:\n  capacity_slots: 4096\n  max_queue_wait_ms: 0\n');
const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin/tenantguard.js'), 'serve', '--config', setup.configFile], { cwd: dir, env: { ...process.env, TENANTGUARD_LOG_LEVEL: 'info', ...(heapSnapshots ? { NODE_OPTIONS: '--heapsnapshot-signal=SIGUSR2' } : {}) }, stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise<string>((resolve) => {
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const entry = JSON.parse(line) as { msg?: string; url?: string };
    if (entry.msg === 'tenantguard listening' && entry.url) resolve(entry.url);
  });
});
const agent = new Agent({ keepAlive: true, maxSockets: 64, ca: readFileSync(setup.files.ca), cert: readFileSync(setup.files.worker.cert), key: readFileSync(setup.files.worker.key) });

interface Answer {
  readonly status: number;
  readonly body: Buffer;
}

/** One call; status 0 for a connection error (a keep-alive socket closed as idle just as it was reused is retried once). */
function call(method: string, path: string, body?: unknown, raw?: Buffer, headers: Record<string, string> = {}, retried = false): Promise<Answer> {
  const payload = raw ?? (body === undefined ? undefined : Buffer.from(JSON.stringify(body)));
  return new Promise((resolve) => {
    const req = request(new URL(path, url), { method, agent, servername: 'localhost', headers: { ...headers, ...(payload ? { 'content-type': raw ? 'application/octet-stream' : 'application/json', 'content-length': String(payload.length) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (!retried && req.reusedSocket && error.code === 'ECONNRESET') void call(method, path, body, raw, headers, true).then(resolve);
      else resolve({ status: 0, body: Buffer.from(error.code ?? error.message) });
    });
    req.end(payload);
  });
}

/** Throws unless the answer's status is one of `expected`: the failure names the call and what came back. */
function expectStatus(what: string, answer: Answer, ...expected: number[]): Answer {
  if (!expected.includes(answer.status)) throw new Error(`${what}: ${answer.status} ${answer.body.toString().slice(0, 200)}`);
  return answer;
}

const tenants = ['free-demo', 'standard-demo', 'enterprise-demo'];
let sequence = 0;
/** One mixed operation; throws on any answer it does not expect (429s from rate limits and quotas are expected). */
async function operation(): Promise<void> {
  const n = sequence++;
  const tenant = tenants[n % 3]!;
  switch (n % 5) {
    case 0: {
      const id = `soak-${n}`;
      if (expectStatus('admission', await call('POST', '/v1/admission', { tenant, request_id: id, max_tokens: 10 }), 200, 429).status === 429) return;
      expectStatus('complete', await call('POST', `/v1/admission/${id}/complete`, { input_tokens: 3, output_tokens: 4 }), 200);
      return;
    }
    case 1:
    case 2: {
      const allocated = expectStatus('allocate', await call('POST', '/v1/blocks/allocate', { tenant, request_id: `soak-${n}`, count: 4 }), 200, 429);
      if (allocated.status === 429) return;
      const given = (JSON.parse(allocated.body.toString()) as { blocks: { id: number; epoch: number }[] }).blocks;
      const ids = given.map((b) => b.id);
      expectStatus('scrubbed', await call('POST', '/v1/blocks/scrubbed', { blocks: ids, epochs: given.map((b) => b.epoch) }), 200);
      expectStatus('access', await call('POST', '/v1/blocks/access', { tenant, blocks: ids, mode: 'read' }), 200);
      expectStatus('free', await call('POST', '/v1/blocks/free', { tenant, blocks: ids, cache: n % 4 === 1 }), 200);
      return;
    }
    case 3: {
      const path = `/v1/offload/${tenant}/blk-${n % 64}`;
      expectStatus('offload put', await call('PUT', path, undefined, randomBytes(16 * 1024), { 'x-tenantguard-acting-for': tenant }), 201);
      expectStatus('offload get', await call('GET', path, undefined, undefined, { 'x-tenantguard-acting-for': tenant }), 200);
      return;
    }
    default:
      expectStatus('cache salt', await call('GET', `/v1/tenants/${tenant}/cache-salt`), 200);
  }
}

async function waitForSnapshots(count: number): Promise<void> {
  // A snapshot is complete when its file stops growing; give up after two minutes (the run must end by itself).
  const deadline = Date.now() + 120_000;
  for (let last = -1; Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 2000));
    const files = readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot'));
    const size = files.reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
    if (files.length >= count && size === last) return;
    last = size;
  }
  console.log('heap snapshots not complete after 2 minutes; continuing without them');
}

function rssMiB(): number {
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

const started = Date.now();
const samples: Array<{ t: number; rss: number; done: number; failed: number }> = [];
let done = 0;
let failed = 0;
let inFlight = 0;
/**
 * The offered rate ramps up linearly over the first RAMP_MS (part of warm-up): a cold sidecar
 * (JIT, 64 TLS handshakes, first keys) would otherwise see a burst it misses slots on.
 */
const RAMP_MS = Math.min(10_000, (seconds * 1000) / 10);
const intervalAt = (elapsedMs: number): number => 1000 / (rate * Math.min(1, 0.1 + (0.9 * elapsedMs) / RAMP_MS));
/** Past this many operations in flight the target is saturated: further slots are counted as missed, not queued. */
const maxInFlight = 256;
let missed = 0;
let next = started;
let warmSnapshotTaken = false;
const sampler = setInterval(() => {
  samples.push({ t: (Date.now() - started) / 1000, rss: rssMiB(), done, failed });
  const s = samples.at(-1)!;
  if (heapSnapshots && !warmSnapshotTaken && s.t >= seconds / 5) {
    warmSnapshotTaken = true;
    child.kill('SIGUSR2');
  }
  console.log(`t=${s.t.toFixed(0)}s ops=${done} failed=${failed} missed=${missed} in-flight=${inFlight} rss=${s.rss.toFixed(1)} MiB`);
}, 5000);
while (Date.now() - started < seconds * 1000) {
  const now = Date.now();
  while (next <= now) {
    next += intervalAt(next - started);
    if (inFlight >= maxInFlight) {
      missed++;
      continue;
    }
    inFlight++;
    void operation().then(
      () => {
        inFlight--;
        done++;
      },
      (error: Error) => {
        inFlight--;
        done++;
        failed++;
        if (failed <= 20) console.log(`failed at t=${((Date.now() - started) / 1000).toFixed(1)}s: ${error.message}`);
      },
    );
  }
  await new Promise((r) => setTimeout(r, Math.max(1, next - Date.now())));
}
while (inFlight > 0) await new Promise((r) => setTimeout(r, 50));
clearInterval(sampler);
samples.push({ t: (Date.now() - started) / 1000, rss: rssMiB(), done, failed });
if (heapSnapshots) {
  child.kill('SIGUSR2');
  await waitForSnapshots(2);
  console.log(`heap snapshots in ${dir}`);
}
child.kill('SIGTERM');
agent.destroy();
if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
if (!heapSnapshots) rmSync(dir, { recursive: true, force: true }); // the audit log alone grows by ~50 MiB a minute

// RSS saw-tooths with garbage collection by ±15%, so one sample at each end says little about a
// trend: growth compares the mean of the second fifth of the run (just after warm-up, the first
// fifth) with the mean of the last fifth.
const meanRss = (from: number, to: number): number => {
  const window = samples.filter((s) => s.t >= from * seconds && s.t <= to * seconds + 5);
  return window.reduce((sum, s) => sum + s.rss, 0) / Math.max(1, window.length);
};
const end = samples.at(-1)!;
const warmRss = meanRss(0.2, 0.4);
const endRss = meanRss(0.8, 1);
const growth = (endRss - warmRss) / warmRss;
const rssAfterWarmup = samples.filter((s) => s.t >= 0.2 * seconds).map((s) => s.rss);
console.log(
  JSON.stringify({
    seconds,
    offeredRate: rate,
    operations: done,
    opsPerSecond: Number((done / end.t).toFixed(1)),
    failed,
    missedSlots: missed,
    rssAfterWarmupMeanMiB: Number(warmRss.toFixed(1)),
    rssEndMeanMiB: Number(endRss.toFixed(1)),
    rssAfterWarmupMinMaxMiB: [Number(Math.min(...rssAfterWarmup).toFixed(1)), Number(Math.max(...rssAfterWarmup).toFixed(1))],
    rssGrowth: Number(growth.toFixed(3)),
  }),
);
process.exitCode = failed > 0 || missed > 0 || growth > 0.1 ? 1 : 0;
