import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestSidecar, type TestSidecar } from '../support/sidecar.js';

// Issue 20.10c: nothing bounded how many connections one client could hold open. With
// `listen.max_connections` the server closes every connection past the cap at accept, before TLS.

const CAP = 4;
let tg: TestSidecar;
beforeAll(async () => {
  tg = await startTestSidecar({ configPatch: (yaml) => yaml.replace('listen:\n', `listen:\n  max_connections: ${CAP}\n`) });
});
afterAll(async () => tg?.close());

/** A TLS connection as the worker: 'open' once the handshake completed, 'closed' if the server cut it first. */
function open(): Promise<{ outcome: 'open'; socket: TLSSocket } | { outcome: 'closed' }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: tg.sidecar.port, servername: 'localhost', ca: tg.ca, cert: tg.worker.cert, key: tg.worker.key });
    socket.once('secureConnect', () => resolve({ outcome: 'open', socket }));
    socket.once('error', () => resolve({ outcome: 'closed' }));
    socket.once('close', () => resolve({ outcome: 'closed' }));
  });
}

/** One keep-alive request on an open connection: the status line's code. */
function get(socket: TLSSocket, path: string): Promise<number> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('utf8');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (status && text.includes('\r\n\r\n')) {
        socket.off('data', onData);
        resolve(Number(status[1]));
      }
    };
    socket.on('data', onData);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  });
}

describe('listen.max_connections caps concurrent connections (issue 20.10c)', () => {
  test(`with a cap of ${CAP}, ${CAP} connections are served and ${CAP} + 3 more are closed before TLS; a freed slot is usable again`, async () => {
    const held = [];
    for (let i = 0; i < CAP; i++) held.push(await open());
    expect(held.map((h) => h.outcome)).toEqual(Array(CAP).fill('open'));

    const extra = await Promise.all(Array.from({ length: CAP + 3 }, () => open()));
    expect(extra.map((e) => e.outcome)).toEqual(Array(CAP + 3).fill('closed'));

    // The held connections still work.
    for (const h of held) if (h.outcome === 'open') expect(await get(h.socket, '/healthz')).toBe(200);

    // Closing one frees a slot for a new client.
    const first = held[0]!;
    if (first.outcome === 'open') first.socket.destroy();
    let again: Awaited<ReturnType<typeof open>> = { outcome: 'closed' };
    for (let i = 0; i < 40 && again.outcome !== 'open'; i++) {
      await new Promise((r) => setTimeout(r, 25));
      again = await open();
    }
    expect(again.outcome).toBe('open');
    if (again.outcome === 'open') expect(await get(again.socket, '/healthz')).toBe(200);
    for (const h of [...held, again]) if (h.outcome === 'open') h.socket.destroy();
  });

  test('the default cap is 1024 when the config does not set one', async () => {
    const { loadConfig } = await import('../../src/config/index.js');
    const defaulted = await startTestSidecar();
    try {
      expect(loadConfig(defaulted.setup.configFile).listen.maxConnections).toBe(1024);
    } finally {
      await defaulted.close();
    }
  });
});
