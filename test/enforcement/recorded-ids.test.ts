import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SidecarClient } from '../../src/client/index.js';
import { callOffload, restartTestSidecar, startTestSidecar, type TestSidecar } from '../support/sidecar.js';

// A client may put anything in the ids it chooses; these carry a secret the audit log must never hold.
const SECRET = 'hunter2';
const requestId = `prompt:my.password.is.${SECRET}-ssn-123-45-6789`;
const adapterName = `my.password.is.${SECRET}`;
const blockKey = `kv.of.my.password.is.${SECRET}`;
const weights = createHash('sha256').update('adapter weights').digest('hex');

const withSocket = (yaml: string): string => yaml.replace(/port: 0\n/, 'port: 0\n  unix_socket: ./worker.sock\n');

let logged = '';
const logger = pino(
  { level: 'debug' },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      logged += chunk.toString('utf8');
      done();
    },
  }),
);

let tg: TestSidecar;
let engine: SidecarClient;
const connect = (): void => {
  engine = new SidecarClient({ socketPath: tg.sidecar.services.config.listen.unixSocket! });
};
beforeAll(async () => {
  tg = await startTestSidecar({ configPatch: withSocket, startOptions: { logger } });
  connect();
});
afterAll(async () => {
  await engine.close();
  await tg.close();
});

/** Every byte under the audit directory, as text. */
const auditBytes = (): string => {
  const dir = join(tg.setup.dir, 'audit');
  return readdirSync(dir)
    .map((name) => readFileSync(join(dir, name), 'utf8'))
    .join('\n');
};

describe('client-chosen ids are recorded only as keyed digests (L1, issue 20.6)', () => {
  test('request ids, admission ids, adapter names and block keys never reach the audit log or the logs; state keyed by them survives a restart', async () => {
    const tenant = 'standard-demo';
    // Allocator mode, claim mode, admission and an adapter, each under an id carrying the secret.
    expect((await tg.call(tg.worker, 'POST', '/v1/blocks/allocate', { tenant, request_id: requestId, count: 1 })).status).toBe(200);
    const claimed = await engine.step({ step: 1, ops: [{ op: 'claim', tenant, request_id: requestId, blocks: [5000] }] });
    expect(claimed.results).toEqual([{ index: 0, ok: true }]);
    expect((await tg.call(tg.worker, 'POST', '/v1/admission', { tenant, request_id: requestId, max_tokens: 16 })).status).toBe(200);
    expect((await tg.call(tg.worker, 'POST', `/v1/admission/${encodeURIComponent(requestId)}/complete`, { input_tokens: 4, output_tokens: 4 })).status).toBe(200);
    expect((await tg.call(tg.tenantCert(tenant), 'POST', '/v1/adapters', { adapter_id: adapterName, sha256: weights, rank: 8 })).status).toBe(201);
    const offload = (method: string, body?: Buffer) => callOffload(tg.sidecar.url, tg.ca, tg.worker, { method, tenant, key: blockKey, actingFor: tenant, ...(body ? { body } : {}) });
    expect((await offload('PUT', Buffer.alloc(64, 1))).status).toBe(201);
    // A refused call is recorded too, with the same ids.
    expect((await engine.step({ step: 2, ops: [{ op: 'release', tenant, request_id: `${requestId}-never-held`, blocks: [5001] }] })).results[0]).toMatchObject({ ok: false });

    const audit = auditBytes();
    expect(audit).toContain('"action":"blocks.claim"');
    expect(audit).toContain('"action":"adapters.register"');
    expect(audit).toContain('"action":"offload.put"');
    expect(audit).not.toContain(SECRET);
    const views = await tg.call(tg.operator, 'GET', '/v1/pools/shared/ledger');
    expect(JSON.stringify(views.body)).not.toContain(SECRET);

    // The digests are what replay rebuilds state from: after a restart the engine still releases
    // its request by the id it knows, and the adapter still applies by its name.
    await engine.close();
    tg = await restartTestSidecar(tg, undefined, { logger });
    connect();
    const released = await engine.step({ step: 3, ops: [{ op: 'release', tenant, request_id: requestId, blocks: [5000] }] });
    expect(released.results).toEqual([{ index: 0, ok: true }]);
    const applied = await tg.call(tg.worker, 'POST', '/v1/adapters/apply', { batch: [{ request_id: requestId, tenant, adapter_id: adapterName, sha256: weights }] });
    expect(applied.body).toMatchObject({ results: [{ request_id: requestId, allow: true }] });
    // The blob's generation (issue 20.9) was restored under the block key's digest: it is served.
    const got = await offload('GET');
    expect(got.status).toBe(200);
    expect(got.body).toEqual(Buffer.alloc(64, 1));

    expect(auditBytes()).not.toContain(SECRET);
    expect(logged).toContain('state rebuilt from the audit log');
    expect(logged).not.toContain(SECRET);
  });
});
