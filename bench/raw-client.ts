/**
 * A lean keep-alive HTTP/1.1 client for the load generator (wrk-style): a fixed pool of
 * connections (TLS with a client certificate, plain TCP, or a Unix socket), one request in flight
 * per connection, requests written as one string and responses parsed by hand (status line,
 * Content-Length or chunked body). It does what node:http's Agent does for this workload at a
 * fraction of the CPU, which matters when the load generator shares a 2-core machine with the
 * systems it measures. Requests beyond the pool wait in a FIFO queue; that wait counts in the
 * latency the load generator measures, as it should.
 */
import { readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { JsonClient, JsonResponse } from './http-client.js';

export type RawTransport =
  | { kind: 'https'; host: string; port: number; ca: string; cert: string; key: string }
  | { kind: 'http'; host: string; port: number }
  | { kind: 'unix'; socketPath: string };

interface Pending {
  readonly head: string;
  readonly body: string | undefined;
  readonly resolve: (response: JsonResponse) => void;
  readonly reject: (error: Error) => void;
}

const HEADER_END = Buffer.from('\r\n\r\n');
/** A request without an answer this long fails (and its connection is dropped): runs stay bounded. */
const REQUEST_TIMEOUT_MS = 30_000;

/** Parses one complete response at the start of `buf`; null while more bytes are needed. */
function parseResponse(buf: Buffer): { response: JsonResponse; used: number } | null {
  const headerEnd = buf.indexOf(HEADER_END);
  if (headerEnd < 0) return null;
  const head = buf.toString('latin1', 0, headerEnd);
  const status = Number(head.slice(9, 12));
  const lower = head.toLowerCase();
  const start = headerEnd + 4;
  const lengthAt = lower.indexOf('\r\ncontent-length:');
  if (lengthAt >= 0) {
    const lineEnd = lower.indexOf('\r\n', lengthAt + 17);
    const length = parseInt(lower.slice(lengthAt + 17, lineEnd < 0 ? undefined : lineEnd), 10);
    if (buf.length < start + length) return null;
    return { response: { status, body: buf.toString('utf8', start, start + length) }, used: start + length };
  }
  if (lower.includes('\r\ntransfer-encoding: chunked')) {
    const parts: Buffer[] = [];
    let at = start;
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', at);
      if (lineEnd < 0) return null;
      const size = parseInt(buf.toString('latin1', at, lineEnd), 16);
      if (size === 0) {
        const end = buf.indexOf('\r\n', lineEnd + 2); // no trailers expected: the final CRLF
        if (end < 0) return null;
        return { response: { status, body: Buffer.concat(parts).toString('utf8') }, used: end + 2 };
      }
      if (buf.length < lineEnd + 2 + size + 2) return null;
      parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  return { response: { status, body: '' }, used: start }; // 204 / no body
}

class Connection {
  private buffer: Buffer = Buffer.alloc(0);
  private current: Pending | null = null;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  connected = false;
  readonly ready: Promise<void>;

  constructor(
    private readonly socket: Socket,
    secure: boolean,
    private readonly onIdle: (conn: Connection) => void,
    private readonly onGone: (conn: Connection) => void,
  ) {
    socket.setNoDelay(true);
    this.ready = new Promise((resolve, reject) => {
      socket.once(secure ? 'secureConnect' : 'connect', () => {
        this.connected = true;
        resolve();
      });
      socket.once('error', reject);
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.fail(new Error('connection error')));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  get busy(): boolean {
    return this.current !== null;
  }

  get usable(): boolean {
    return !this.closed && !this.socket.destroyed;
  }

  send(pending: Pending): void {
    this.current = pending;
    this.timer = setTimeout(() => this.fail(new Error(`no response within ${REQUEST_TIMEOUT_MS} ms`)), REQUEST_TIMEOUT_MS);
    this.socket.write(pending.body === undefined ? pending.head : pending.head + pending.body);
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const parsed = parseResponse(this.buffer);
    if (parsed === null) return;
    const done = this.current;
    if (done === null) {
      // A response nobody asked for (e.g. a server's 408 on an idle connection before it closes
      // it): this connection is finished; never hand it out again.
      this.fail(new Error('unsolicited response'));
      return;
    }
    this.buffer = parsed.used === this.buffer.length ? Buffer.alloc(0) : this.buffer.subarray(parsed.used);
    this.current = null;
    clearTimeout(this.timer);
    done.resolve(parsed.response);
    if (!this.closed) this.onIdle(this);
  }

  private fail(error: Error): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    const pending = this.current;
    this.current = null;
    this.socket.destroy();
    this.onGone(this);
    pending?.reject(error);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    const pending = this.current;
    this.current = null;
    this.socket.destroy();
    pending?.reject(new Error('client closed'));
  }
}

export function createRawClient(name: string, transport: RawTransport, connections: number): JsonClient {
  const tls =
    transport.kind === 'https'
      ? { ca: readFileSync(transport.ca), cert: readFileSync(transport.cert), key: readFileSync(transport.key), servername: 'localhost', minVersion: 'TLSv1.3' as const }
      : null;
  const hostHeader = transport.kind === 'unix' ? 'localhost' : `${transport.host}:${transport.port}`;
  const idle = new Set<Connection>();
  const all = new Set<Connection>();
  const queue: Pending[] = [];
  let queueHead = 0;
  let closed = false;

  const dispatch = (conn: Connection): void => {
    if (queueHead < queue.length) {
      const next = queue[queueHead]!;
      queue[queueHead++] = undefined as unknown as Pending;
      if (queueHead > 1024 && queueHead * 2 > queue.length) {
        queue.splice(0, queueHead);
        queueHead = 0;
      }
      conn.send(next);
    } else idle.add(conn);
  };
  /** An idle connection that is still open, if any (a closed one is dropped, never reused). */
  const takeIdle = (): Connection | undefined => {
    for (const conn of idle) {
      idle.delete(conn);
      if (conn.usable) return conn;
    }
    return undefined;
  };
  const open = (): void => {
    const socket =
      transport.kind === 'unix'
        ? netConnect(transport.socketPath)
        : tls
          ? tlsConnect({ host: transport.host, port: (transport as { port: number }).port, ...tls })
          : netConnect(transport.port, transport.host);
    const conn = new Connection(socket, tls !== null, dispatch, (gone) => {
      all.delete(gone);
      idle.delete(gone);
      if (!gone.connected) {
        // The server cannot be reached: fail what waits instead of reconnecting in a loop.
        for (let i = queueHead; i < queue.length; i++) queue[i]?.reject(new Error(`${name}: cannot connect`));
        queue.length = 0;
        queueHead = 0;
      } else if (!closed && queueHead < queue.length) open(); // replace it while work is waiting
    });
    all.add(conn);
    conn.ready.then(
      () => {
        if (!conn.busy) dispatch(conn);
      },
      () => undefined,
    );
  };

  const call = (method: string, path: string, body?: string): Promise<JsonResponse> =>
    new Promise((resolve, reject) => {
      if (closed) return reject(new Error('client closed'));
      const head =
        body === undefined
          ? `${method} ${path} HTTP/1.1\r\nHost: ${hostHeader}\r\nAccept: application/json\r\n\r\n`
          : `${method} ${path} HTTP/1.1\r\nHost: ${hostHeader}\r\nAccept: application/json\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
      const pending: Pending = { head, body, resolve, reject };
      const conn = takeIdle();
      if (conn !== undefined) return conn.send(pending);
      queue.push(pending);
      if (all.size < connections) open();
    });

  return {
    name,
    post: (path, body) => call('POST', path, body),
    get: (path) => call('GET', path),
    close: () => {
      closed = true;
      for (const conn of all) conn.close();
      for (let i = queueHead; i < queue.length; i++) queue[i]?.reject(new Error('client closed'));
      queue.length = 0;
      queueHead = 0;
    },
  };
}
