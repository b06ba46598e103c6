/**
 * The two systems under test, each in its own child process on loopback only:
 *  - tenantguard: `node bin/tenantguard.js serve -c <config>` over a fresh `init` directory (real
 *    dev PKI, real durable audit log on this machine's disk), HTTPS + mTLS on 127.0.0.1:0 and the
 *    worker's Unix socket;
 *  - OPA: `.tools/bin/opa run --server` on 127.0.0.1 with the same Rego sources and the same data
 *    (tier table + the tenant registry the sidecar computes, src/sidecar/registry-data.ts).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parse, stringify } from 'yaml';
import { loadConfig, TenantRegistry } from '../src/config/index.js';
import { PROJECT_ROOT } from '../src/project-root.js';
import { initDirectory, type InitResult } from '../src/setup/index.js';
import { registryData } from '../src/sidecar/registry-data.js';

export const OPA_BIN = join(PROJECT_ROOT, '.tools/bin/opa');

/** Every child still running; killed if this process exits early (a failed or aborted run). */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
}

/** Tenants the load is spread over (standard tier, quota raised so the load never hits it). */
export const BENCH_TENANTS = ['bench-a', 'bench-b', 'bench-c', 'bench-d'] as const;
/** Shared pool large enough for every in-flight cycle (16 blocks each) of the highest load. */
const SHARED_POOL_BLOCKS = 1 << 20;

export interface TenantguardSetup {
  readonly dir: string;
  readonly init: InitResult;
  readonly configFile: string;
  readonly socketPath: string;
}

/** A fresh dev setup (`tenantguard init`), its config patched for load: pools, quotas, Unix socket. */
export async function prepareTenantguard(): Promise<TenantguardSetup> {
  const dir = mkdtempSync(join(tmpdir(), 'tg-bench-'));
  const init = await initDirectory(join(dir, 'setup'), { port: 0 });
  const config = parse(readFileSync(init.configFile, 'utf8')) as Record<string, unknown> & {
    pools: Array<Record<string, unknown>>;
    tenants: Array<Record<string, unknown>>;
  };
  const socketPath = join(dir, 'worker.sock');
  config['listen'] = { host: '127.0.0.1', port: 0, unix_socket: socketPath };
  // The example enterprise pool moves above the (enlarged) shared pool.
  config.pools = [
    { name: 'shared', first: 0, last: SHARED_POOL_BLOCKS - 1 },
    { name: 'enterprise-demo-pool', first: SHARED_POOL_BLOCKS, last: SHARED_POOL_BLOCKS + 8191, dedicated_to: 'enterprise-demo' },
  ];
  const bytesPerBlock = 2 * 32 * 8 * 128 * 2 * 16; // the init geometry: 2 MiB
  for (const id of BENCH_TENANTS) {
    config.tenants.push({ id, tier: 'standard', api_key_sha256: [], overrides: { kv_quota_bytes: (SHARED_POOL_BLOCKS / 4) * bytesPerBlock } });
  }
  writeFileSync(init.configFile, stringify(config), { mode: 0o600 });
  return { dir, init, configFile: init.configFile, socketPath };
}

/** `data` for OPA: exactly what the sidecar's policy engine sees (bundle data.json + registry). */
export function opaDataFor(configFile: string): Record<string, unknown> {
  const config = loadConfig(configFile);
  const bundleData = JSON.parse(readFileSync(join(PROJECT_ROOT, 'policies/data.json'), 'utf8')) as Record<string, unknown>;
  return { ...bundleData, ...registryData(config, new TenantRegistry(config.tenants)) };
}

export interface ChildServer {
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

function stopChild(child: ChildProcess, exited: Promise<unknown>): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
}

export interface TenantguardProcess extends ChildServer {
  readonly url: string;
  readonly port: number;
}

/**
 * Starts `tenantguard serve` as a child. With `cpuProfDir`, the child runs under `node --cpu-prof`
 * and writes a .cpuprofile there when it exits (SIGTERM drains, then exits 0).
 */
export async function spawnTenantguard(setup: TenantguardSetup, options: { cpuProfDir?: string } = {}): Promise<TenantguardProcess> {
  const nodeArgs = options.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir] : [];
  if (options.cpuProfDir) mkdirSync(options.cpuProfDir, { recursive: true });
  const child = spawn(process.execPath, [...nodeArgs, join(PROJECT_ROOT, 'bin/tenantguard.js'), 'serve', '--config', setup.configFile], {
    env: { ...process.env, TENANTGUARD_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tenantguard did not start within 30 s: ${stderr}`)), 30_000);
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string; level?: number };
        if (entry.msg === 'tenantguard listening' && entry.url) {
          clearTimeout(timer);
          resolve(entry.url);
        } else if ((entry.level ?? 0) >= 40) {
          process.stderr.write(`[tenantguard] ${line}\n`);
        }
      } catch {
        /* not a log line */
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`tenantguard exited with ${code}: ${stderr}`));
    });
  });
  return { child, url, port: Number(new URL(url).port), stop: stopChild(child, exited) };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface OpaProcess extends ChildServer {
  readonly port: number;
  readonly version: string;
}

/**
 * `opa run --server` on 127.0.0.1 with the project's Rego (tests excluded) and `data`. Request
 * logging is off (`--log-level error`) and the version check is skipped: OPA at its fastest.
 */
export async function spawnOpa(data: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Promise<OpaProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'tg-bench-opa-'));
  const policyDir = join(PROJECT_ROOT, 'policies/tenantguard');
  const regoFiles = readdirSync(policyDir).filter((f) => f.endsWith('.rego') && !f.endsWith('_test.rego')).map((f) => join(policyDir, f));
  writeFileSync(join(dir, 'data.json'), JSON.stringify(data));
  const port = await freePort();
  const child = spawn(
    OPA_BIN,
    ['run', '--server', '--addr', `127.0.0.1:${port}`, '--log-level', 'error', '--log-level-request', 'error', '--skip-version-check', ...regoFiles, join(dir, 'data.json')],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  track(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`opa exited with ${child.exitCode}: ${stderr}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`);
      if (res.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`opa did not become healthy within 30 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const stop = stopChild(child, exited);
  return {
    child,
    port,
    version: opaVersion(),
    stop: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function opaVersion(): string {
  try {
    return /Version:\s*(\S+)/.exec(execFileSync(OPA_BIN, ['version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
