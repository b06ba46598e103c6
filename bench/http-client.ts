/**
 * Keep-alive HTTP/1.1 JSON clients for the load generator: HTTPS with a client certificate
 * (tenantguard over mTLS), plain HTTP over TCP (OPA) and plain HTTP over a Unix socket (the
 * worker's co-located transport). Each holds one node:http(s) Agent with a fixed socket pool, so
 * connections are opened once and reused; requests beyond the pool wait in the agent, and that
 * wait counts in the latency the load generator measures.
 */
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export interface JsonResponse {
  readonly status: number;
  readonly body: string;
}

export interface JsonClient {
  readonly name: string;
  post(path: string, body: string): Promise<JsonResponse>;
  get(path: string): Promise<JsonResponse>;
  close(): void;
}

type Transport =
  | { kind: 'https'; host: string; port: number; ca: string; cert: string; key: string }
  | { kind: 'http'; host: string; port: number }
  | { kind: 'unix'; socketPath: string };

export function createJsonClient(name: string, transport: Transport, sockets: number): JsonClient {
  const base: RequestOptions =
    transport.kind === 'unix' ? { socketPath: transport.socketPath } : { host: transport.host, port: transport.port };
  const agent =
    transport.kind === 'https'
      ? new HttpsAgent({
          keepAlive: true,
          maxSockets: sockets,
          maxFreeSockets: sockets,
          ca: readFileSync(transport.ca),
          cert: readFileSync(transport.cert),
          key: readFileSync(transport.key),
          servername: 'localhost',
        })
      : new HttpAgent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  const send = transport.kind === 'https' ? httpsRequest : httpRequest;

  const call = (method: string, path: string, body?: string): Promise<JsonResponse> =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { accept: 'application/json' };
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = Buffer.byteLength(body);
      }
      const req = send({ ...base, agent, method, path, headers }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });

  return {
    name,
    post: (path, body) => call('POST', path, body),
    get: (path) => call('GET', path),
    close: () => agent.destroy(),
  };
}

/** Throws unless the response is 200; the message carries the status and error code only. */
export function expectOk(response: JsonResponse, what: string): string {
  if (response.status === 200) return response.body;
  let code = '';
  try {
    const parsed = JSON.parse(response.body) as { error?: { code?: string; reasons?: string[] } };
    code = `${parsed.error?.code ?? ''} ${(parsed.error?.reasons ?? []).slice(0, 3).join(',')}`;
  } catch {
    /* not JSON */
  }
  throw new Error(`${what}: HTTP ${response.status} ${code}`.trim());
}
