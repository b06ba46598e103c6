import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { REPO_ROOT } from './opa.js';
import type { InitResult } from '../../src/setup/index.js';

/** A sidecar in its own OS process (`tenantguard serve`), so tests can SIGKILL it for real. */
export interface SidecarProcess {
  readonly child: ChildProcess;
  readonly url: string;
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

export async function spawnSidecar(configFile: string): Promise<SidecarProcess> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/tenantguard.js'), 'serve', '--config', configFile], {
    env: { ...process.env, TENANTGUARD_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sidecar did not start: ${stderr}`)), 20_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'tenantguard listening' && entry.url) {
          clearTimeout(timer);
          resolve(entry.url);
        }
      } catch {
        /* init output before the JSON log lines */
      }
    });
    void exited.then((code) => reject(new Error(`sidecar exited with ${code}: ${stderr}`)));
  });
  return {
    child,
    url,
    kill: (signal) => {
      child.kill(signal);
      return exited;
    },
  };
}

/** A keep-alive mTLS client for one certificate, the way a co-located worker would hold it. */
export function mtlsClient(setup: InitResult, credential: { cert: string; key: string }) {
  const agent = new Agent({ keepAlive: true, maxSockets: 16, ca: readFileSync(setup.files.ca), cert: readFileSync(credential.cert), key: readFileSync(credential.key) });
  /** Raw bytes in and out (offload); a Buffer body is sent as application/octet-stream. */
  const raw = (baseUrl: string, method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<{ status: number; bytes: Buffer }> =>
    new Promise((resolve, reject) => {
      const type = body === undefined ? {} : { 'content-type': typeof body === 'string' ? 'application/json' : 'application/octet-stream', 'content-length': String(Buffer.byteLength(body)) };
      const req = request(new URL(path, baseUrl), { method, agent, servername: 'localhost', headers: { ...headers, ...type } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  const call = async (baseUrl: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> => {
    const res = await raw(baseUrl, method, path, body === undefined ? undefined : JSON.stringify(body));
    return { status: res.status, body: JSON.parse(res.bytes.toString() || 'null') as unknown };
  };
  return { call, raw, close: () => agent.destroy() };
}
