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
  const call = (baseUrl: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(new URL(path, baseUrl), {
        method,
        agent,
        servername: 'localhost',
        headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || 'null') as unknown }));
        res.on('error', reject);
      });
      req.on('error', reject);
      if (payload) req.write(payload);
      req.end();
    });
  };
  return { call, close: () => agent.destroy() };
}
