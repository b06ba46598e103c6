import { statSync } from 'node:fs';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestSidecar, type TestSidecar } from '../support/sidecar.js';

let tg: TestSidecar;
let socketPath: string;
beforeAll(async () => {
  tg = await startTestSidecar({ configPatch: (yaml) => yaml.replace(/port: 0\n/, 'port: 0\n  unix_socket: ./worker.sock\n') });
  socketPath = tg.sidecar.services.config.listen.unixSocket!;
});
afterAll(async () => tg.close());

function overSocket(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: payload ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
    });
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

describe('worker Unix socket', () => {
  test('the socket file is private to the sidecar user (0600)', () => {
    expect(statSync(socketPath).mode & 0o777).toBe(0o600);
  });

  test('the co-located worker allocates over the socket, as a worker', async () => {
    const res = await overSocket('POST', '/v1/blocks/allocate', { tenant: 'free-demo', request_id: 'sock-1', count: 2 });
    expect(res.status).toBe(200);
    expect((res.body as { blocks: unknown[] }).blocks).toHaveLength(2);
  });

  test('the socket speaks only as a worker: operator and tenant routes are refused', async () => {
    expect((await overSocket('GET', '/v1/tenants')).status).toBe(403);
    expect((await overSocket('GET', '/v1/usage')).status).toBe(403);
  });
});
