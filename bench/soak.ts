/**
 * Soak: mixed traffic against a real sidecar child process for a configurable time, reporting
 * throughput, error counts and the sidecar's RSS over time. Not part of the test run.
 *
 *   npm run build && node dist/bench/soak.js --seconds 600 --rate 1000
 *
 * Loopback only; stops by itself. Exit 1 if any request failed unexpectedly, the offered rate could
 * not be kept (more than 256 operations in flight: slots are then missed, not queued), or RSS grew
 * by more than 10% between the end of warm-up (the first fifth) and the end.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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

const dir = mkdtempSync(join(tmpdir(), 'tg-soak-'));
const setup = await initDirectory(dir, { port: 0 });
writeFileSync(setup.configFile, readFileSync(setup.configFile, 'utf8') + 'admission:\n  capacity_slots: 4096\n  max_queue_wait_ms: 0\n');
const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin/tenantguard.js'), 'serve', '--config', setup.configFile], { env: { ...process.env, TENANTGUARD_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise<string>((resolve) => {
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const entry = JSON.parse(line) as { msg?: string; url?: string };
    if (entry.msg === 'tenantguard listening' && entry.url) resolve(entry.url);
  });
});
const agent = new Agent({ keepAlive: true, maxSockets: 64, ca: readFileSync(setup.files.ca), cert: readFileSync(setup.files.worker.cert), key: readFileSync(setup.files.worker.key) });

/** Status of one call, 0 for a connection error (a keep-alive socket closed as idle just as it was reused is retried once). */
function call(method: string, path: string, body?: unknown, raw?: Buffer, headers: Record<string, string> = {}, retried = false): Promise<number> {
  const payload = raw ?? (body === undefined ? undefined : Buffer.from(JSON.stringify(body)));
  return new Promise((resolve) => {
    const req = request(new URL(path, url), { method, agent, servername: 'localhost', headers: { ...headers, ...(payload ? { 'content-type': raw ? 'application/octet-stream' : 'application/json', 'content-length': String(payload.length) } : {}) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (!retried && req.reusedSocket && error.code === 'ECONNRESET') void call(method, path, body, raw, headers, true).then(resolve);
      else resolve(0);
    });
    if (payload) req.write(payload);
    req.end();
  });
}

const tenants = ['free-demo', 'standard-demo', 'enterprise-demo'];
let sequence = 0;
/** One mixed operation: each kind checks its own expected statuses. */
async function operation(): Promise<boolean> {
  const n = sequence++;
  const tenant = tenants[n % 3]!;
  switch (n % 5) {
    case 0: {
      const id = `soak-${n}`;
      if ((await call('POST', '/v1/admission', { tenant, request_id: id, max_tokens: 10 })) !== 200) return true; // rate limits are fine
      return (await call('POST', `/v1/admission/${id}/complete`, { input_tokens: 3, output_tokens: 4 })) === 200;
    }
    case 1:
    case 2: {
      const status = await new Promise<number>((resolve) => {
        const req = request(new URL('/v1/blocks/allocate', url), { method: 'POST', agent, servername: 'localhost', headers: { 'content-type': 'application/json' } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            if (res.statusCode !== 200) return resolve(res.statusCode ?? 0);
            const ids = (JSON.parse(Buffer.concat(chunks).toString()) as { blocks: { id: number }[] }).blocks.map((b) => b.id);
            void call('POST', '/v1/blocks/scrubbed', { blocks: ids })
              .then(() => call('POST', '/v1/blocks/access', { tenant, blocks: ids, mode: 'read' }))
              .then(() => call('POST', '/v1/blocks/free', { tenant, blocks: ids, cache: n % 4 === 1 }))
              .then(resolve);
          });
        });
        req.on('error', () => resolve(0));
        req.end(JSON.stringify({ tenant, request_id: `soak-${n}`, count: 4 }));
      });
      return status === 200 || status === 429;
    }
    case 3: {
      const key = `blk-${n % 64}`;
      const put = await call('PUT', `/v1/offload/${tenant}/${key}`, undefined, randomBytes(16 * 1024), { 'x-tenantguard-acting-for': tenant });
      const get = await call('GET', `/v1/offload/${tenant}/${key}`, undefined, undefined, { 'x-tenantguard-acting-for': tenant });
      return put === 201 && get === 200;
    }
    default:
      return (await call('GET', `/v1/tenants/${tenant}/cache-salt`)) === 200;
  }
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
const interval = 1000 / rate;
/** Past this many operations in flight the target is saturated: further slots are counted as missed, not queued. */
const maxInFlight = 256;
let missed = 0;
let next = started;
const sampler = setInterval(() => {
  samples.push({ t: (Date.now() - started) / 1000, rss: rssMiB(), done, failed });
  const s = samples.at(-1)!;
  console.log(`t=${s.t.toFixed(0)}s ops=${done} failed=${failed} missed=${missed} in-flight=${inFlight} rss=${s.rss.toFixed(1)} MiB`);
}, 5000);
while (Date.now() - started < seconds * 1000) {
  const now = Date.now();
  while (next <= now) {
    next += interval;
    if (inFlight >= maxInFlight) {
      missed++;
      continue;
    }
    inFlight++;
    void operation().then((ok) => {
      inFlight--;
      done++;
      if (!ok) failed++;
    });
  }
  await new Promise((r) => setTimeout(r, Math.max(1, next - Date.now())));
}
while (inFlight > 0) await new Promise((r) => setTimeout(r, 50));
clearInterval(sampler);
samples.push({ t: (Date.now() - started) / 1000, rss: rssMiB(), done, failed });
child.kill('SIGTERM');
agent.destroy();

const warm = samples[Math.floor(samples.length / 5)] ?? samples[0]!;
const end = samples.at(-1)!;
const growth = (end.rss - warm.rss) / warm.rss;
console.log(JSON.stringify({ seconds, offeredRate: rate, operations: done, opsPerSecond: Number((done / end.t).toFixed(1)), failed, missedSlots: missed, rssAfterWarmupMiB: Number(warm.rss.toFixed(1)), rssEndMiB: Number(end.rss.toFixed(1)), rssGrowth: Number(growth.toFixed(3)) }));
process.exitCode = failed > 0 || missed > 0 || growth > 0.1 ? 1 : 0;
