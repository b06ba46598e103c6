import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { rawTlsRequest } from '../support/raw-http.js';
import { startTestSidecar, type TestSidecar } from '../support/sidecar.js';

// Issue 20.10b: Node keeps the first of two Authorization headers and silently drops the second,
// so a request with two keys was served as whichever came first (and a proxy in front may have
// read the other one). Raw requests, because node:http's client will not send two.

let tg: TestSidecar;
beforeAll(async () => {
  tg = await startTestSidecar();
});
afterAll(async () => tg?.close());

const errorCode = (body: unknown): string => (body as { error?: { code?: string } }).error?.code ?? '';

describe('a request with two Authorization headers is refused with 400 TG_ERR_DUPLICATE_AUTHORIZATION (issue 20.10b)', () => {
  test('control: one Authorization header with a valid key is served (Express, GET /v1/usage)', async () => {
    const res = await rawTlsRequest(tg.sidecar.port, { ca: tg.ca }, `GET /v1/usage HTTP/1.1\nHost: localhost\nAuthorization: Bearer ${tg.setup.apiKeys['free-demo']}`);
    expect(res.status).toBe(200);
  });

  test('Express: two bearer keys, the first valid, are refused (not served as the first one)', async () => {
    const head = `GET /v1/usage HTTP/1.1\nHost: localhost\nAuthorization: Bearer ${tg.setup.apiKeys['free-demo']}\nauthorization: Bearer ${tg.setup.apiKeys['standard-demo']}`;
    const res = await rawTlsRequest(tg.sidecar.port, { ca: tg.ca }, head);
    expect(res.status).toBe(400);
    expect(errorCode(res.body)).toBe('TG_ERR_DUPLICATE_AUTHORIZATION');
  });

  test('Express: a valid key and a junk one, in either order, are refused', async () => {
    for (const [a, b] of [[tg.setup.apiKeys['free-demo'], 'junk'], ['junk', tg.setup.apiKeys['free-demo']]]) {
      const res = await rawTlsRequest(tg.sidecar.port, { ca: tg.ca }, `GET /v1/usage HTTP/1.1\nHost: localhost\nAuthorization: Bearer ${a}\nAUTHORIZATION: Bearer ${b}`);
      expect([res.status, errorCode(res.body)]).toEqual([400, 'TG_ERR_DUPLICATE_AUTHORIZATION']);
    }
  });

  test('Express: an operator certificate with two Authorization headers is refused too', async () => {
    const tls = { ca: tg.ca, cert: tg.operator.cert!, key: tg.operator.key! };
    const res = await rawTlsRequest(tg.sidecar.port, tls, 'GET /v1/tenants HTTP/1.1\nHost: localhost\nAuthorization: Bearer a\nAuthorization: Bearer b');
    expect([res.status, errorCode(res.body)]).toEqual([400, 'TG_ERR_DUPLICATE_AUTHORIZATION']);
  });

  test('fast path: a worker allocation with two Authorization headers is refused and allocates nothing', async () => {
    const tls = { ca: tg.ca, cert: tg.worker.cert!, key: tg.worker.key! };
    const usage = async () => (await tg.call(tg.tenantKey('free-demo'), 'GET', '/v1/usage')).body;
    const before = await usage();
    const body = JSON.stringify({ tenant: 'free-demo', request_id: 'dup-auth', count: 1 });
    const head = 'POST /v1/blocks/allocate HTTP/1.1\nHost: localhost\nContent-Type: application/json\nAuthorization: Bearer a\nAuthorization: Bearer b';
    const res = await rawTlsRequest(tg.sidecar.port, tls, head, body);
    expect([res.status, errorCode(res.body)]).toEqual([400, 'TG_ERR_DUPLICATE_AUTHORIZATION']);
    expect(await usage()).toEqual(before);
    // control: the same request with one header is served by the fast path
    const ok = await rawTlsRequest(tg.sidecar.port, tls, 'POST /v1/blocks/allocate HTTP/1.1\nHost: localhost\nContent-Type: application/json', body);
    expect(ok.status).toBe(200);
  });
});
