/**
 * Guard for the hot-path optimisation in src/http/fast-blocks.ts: the KV block routes answer
 * without Express, and must answer exactly as the Express routes do. Two fresh sidecars receive the
 * same sequence of requests (valid, malformed, unauthorized, over quota, not owned, ...): one on the
 * plain paths (fast path), one with a query string appended (which the fast path leaves to Express,
 * whose routes ignore it). Status, Content-Type, Retry-After and body must be identical.
 * Run: npm run build && node dist/bench/verify-fast-path.js   (exit code 1 on any difference)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../src/config/index.js';
import { initDirectory } from '../src/setup/index.js';
import { startSidecar, type RunningSidecar } from '../src/sidecar/index.js';

interface Target {
  readonly dir: string;
  readonly sidecar: RunningSidecar;
  readonly ca: Buffer;
  readonly worker: { cert: Buffer; key: Buffer };
  readonly tenantCert: { cert: Buffer; key: Buffer };
  readonly tenantKey: string;
}

async function start(): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'tg-fastpath-'));
  const setup = await initDirectory(dir, { port: 0 });
  const sidecar = await startSidecar(loadConfig(setup.configFile), { logger: pino({ level: 'silent' }) });
  const cred = (c: { cert: string; key: string }) => ({ cert: readFileSync(c.cert), key: readFileSync(c.key) });
  return { dir, sidecar, ca: readFileSync(setup.files.ca), worker: cred(setup.files.worker), tenantCert: cred(setup.files.tenants['free-demo']!), tenantKey: setup.apiKeys['free-demo']! };
}

type Who = 'worker' | 'tenant-cert' | 'tenant-key';

function post(t: Target, who: Who, path: string, body: unknown, headers: Record<string, string> = {}): Promise<string> {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  const cred = who === 'worker' ? t.worker : who === 'tenant-cert' ? t.tenantCert : null;
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, t.sidecar.url),
      {
        method: 'POST',
        ca: t.ca,
        agent: false,
        servername: 'localhost',
        ...(cred ? { cert: cred.cert, key: cred.key } : {}),
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...(who === 'tenant-key' ? { authorization: `Bearer ${t.tenantKey}` } : {}), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(JSON.stringify({ status: res.statusCode, type: res.headers['content-type'], retryAfter: res.headers['retry-after'], body: Buffer.concat(chunks).toString('utf8') })));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const T = 'free-demo';
const CASES: Array<[Who, string, unknown, Record<string, string>?]> = [
  ['worker', '/v1/blocks/allocate', { tenant: T, request_id: 'r1', count: 4 }],
  ['worker', '/v1/blocks/allocate', { tenant: T, request_id: 'r2', count: 4, extra: 1 }],
  ['worker', '/v1/blocks/allocate', { tenant: T, request_id: 'r 2', count: 4 }],
  ['worker', '/v1/blocks/allocate', { tenant: T, request_id: 'r3', count: 0 }],
  ['worker', '/v1/blocks/allocate', { tenant: T, request_id: 'r3', count: 1.5 }],
  ['worker', '/v1/blocks/allocate', { tenant: T, request_id: 'r3', count: 5000 }],
  ['worker', '/v1/blocks/allocate', { tenant: T, request_id: 'r3', count: 4000 }],
  ['worker', '/v1/blocks/allocate', { tenant: 'nobody', request_id: 'r3', count: 4 }],
  ['worker', '/v1/blocks/allocate', { tenant: 'Bad_Id', request_id: 'r3', count: 4 }],
  ['worker', '/v1/blocks/allocate', { tenant: 'enterprise-demo', request_id: 'r4', count: 4 }],
  ['worker', '/v1/blocks/allocate', { tenant: 'standard-demo', request_id: 'r5', count: 4 }],
  ['worker', '/v1/blocks/allocate', '{"tenant":'],
  ['worker', '/v1/blocks/allocate', '"str"'],
  ['worker', '/v1/blocks/allocate', '[1,2]'],
  ['worker', '/v1/blocks/allocate', '  \n{"tenant":"free-demo","request_id":"ws","count":1}'],
  ['worker', '/v1/blocks/allocate', '\ufeff{"tenant":"free-demo","request_id":"bom","count":1}'],
  ['worker', '/v1/blocks/allocate', '{"__proto__":{"x":1},"tenant":"free-demo","request_id":"p","count":1}'],
  ['worker', '/v1/blocks/allocate', { tenant: T, request_id: 'ct', count: 1 }, { 'content-type': 'application/json; charset=UTF-8' }],
  ['worker', '/v1/blocks/allocate', { tenant: T, request_id: 'ct', count: 1 }, { 'content-type': 'text/plain' }],
  ['tenant-cert', '/v1/blocks/allocate', { tenant: T, request_id: 'r6', count: 4 }],
  ['tenant-key', '/v1/blocks/allocate', { tenant: T, request_id: 'r6', count: 4 }],
  ['worker', '/v1/blocks/access', { tenant: T, blocks: [0, 1], mode: 'read' }],
  ['worker', '/v1/blocks/access', { tenant: T, blocks: [0, 1], mode: 'write' }],
  ['worker', '/v1/blocks/access', { tenant: 'standard-demo', blocks: [0, 1], mode: 'read' }],
  ['worker', '/v1/blocks/access', { tenant: T, blocks: [0, 0], mode: 'prefix_hit' }],
  ['worker', '/v1/blocks/access', { tenant: T, blocks: [99999999], mode: 'read' }],
  ['worker', '/v1/blocks/access', { tenant: T, blocks: [], mode: 'read' }],
  ['worker', '/v1/blocks/access', { tenant: T, blocks: [-1], mode: 'read' }],
  ['worker', '/v1/blocks/access', { tenant: T, blocks: [1.5], mode: 'read' }],
  ['worker', '/v1/blocks/free', { tenant: 'standard-demo', blocks: [0] }],
  ['worker', '/v1/blocks/free', { tenant: T, blocks: [0, 1], cache: true }],
  ['worker', '/v1/blocks/free', { tenant: T, blocks: [2], cache: 'yes' }],
  ['worker', '/v1/blocks/free', { tenant: T, blocks: [2, 3] }],
  ['worker', '/v1/blocks/free', { tenant: T, blocks: [2, 3] }],
  ['worker', '/v1/blocks/allocate', { tenant: 'standard-demo', request_id: 'r7', count: 8 }],
  ['worker', '/v1/blocks/access', { tenant: 'standard-demo', blocks: [0, 1], mode: 'read' }],
  ['worker', '/v1/blocks/scrubbed', { blocks: [0, 1, 2], epochs: [0, 0, 0] }],
  ['worker', '/v1/blocks/scrubbed', { blocks: [0], epochs: [0], x: 1 }],
  ['worker', '/v1/blocks/scrubbed', { blocks: [0, 1], epochs: [0] }],
  ['worker', '/v1/blocks/allocate', { tenant: T, request_id: 'q', count: 600 }],
];

const a = await start();
const b = await start();
let differences = 0;
try {
  for (const [who, path, body, headers] of CASES) {
    const fast = await post(a, who, path, body, headers);
    const express = await post(b, who, `${path}?via=express`, body, headers);
    const same = fast === express;
    if (!same) differences++;
    const shown = typeof body === 'string' ? JSON.stringify(body.slice(0, 40)) : JSON.stringify(body).slice(0, 70);
    console.log(`${same ? 'same' : 'DIFFERENT'} ${JSON.parse(fast).status} ${who} ${path} ${shown}${same ? '' : `\n  fast path: ${fast}\n  express:   ${express}`}`);
  }
} finally {
  await a.sidecar.close();
  await b.sidecar.close();
  rmSync(a.dir, { recursive: true, force: true });
  rmSync(b.dir, { recursive: true, force: true });
}
console.log(`${CASES.length} requests, ${differences} differences`);
process.exitCode = differences === 0 ? 0 : 1;
