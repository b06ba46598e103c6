import type { IncomingMessage, ServerResponse } from 'node:http';
import { Errors, TgError } from '../errors.js';
import type { Principal } from '../identity/index.js';
import { principalResolver, type Transport } from './authenticate.js';
import { authorizeAction } from './authorize.js';
import { errorReply } from './error-handler.js';
import { BLOCK_BATCH_ROUTES, blockBatchHandler } from './routes/blocks.js';
import type { SidecarServices } from './services.js';

/**
 * The worker's KV block routes without Express: the hot path of a sidecar (thousands of calls per
 * second), where Express's per-request work (prototype swaps, a walk over every router and
 * middleware, body-parser) cost more than the decision itself. It serves the same route table as
 * Express (`BLOCK_BATCH_ROUTES` in routes/blocks.ts), in the same order: authenticate → read the
 * JSON body → authorize (tenantguard.authz) → validate (prechecks.ts, else the same zod schemas)
 * → GuardedBlocks (policy, ledger, durable audit) → `200 application/json`, or the one error
 * sender's body (`errorReply`). test/http/fast-path-parity.test.ts holds the two to each other.
 *
 * Only plain requests take this path: POST to exactly one of the four paths, a Content-Length
 * within the body limit, `Content-Type: application/json` (optionally `; charset=utf-8`) and no
 * Content-Encoding. Anything else (a query string, chunked or compressed bodies, another charset,
 * an oversized body, another media type) is left untouched for Express, which answers it as before.
 */
export function blockFastPath(services: SidecarServices, transport: Transport): (req: IncomingMessage, res: ServerResponse) => boolean {
  const resolvePrincipal = principalResolver(services, transport);
  const maxBody = services.config.limits.maxBodyBytes;

  type Route = (principal: Principal, body: unknown) => Promise<unknown>;
  // The same table the Express routes are built from (routes/blocks.ts): one home per route.
  const routes: Record<string, Route> = {};
  for (const route of BLOCK_BATCH_ROUTES) {
    const handle = blockBatchHandler(services, route);
    routes[route.path] = (principal, raw) => {
      authorizeAction(services, principal, route.action);
      return handle(principal, raw);
    };
  }

  const fail = (req: IncomingMessage, res: ServerResponse, error: unknown, principal?: Principal): void => {
    const reply = errorReply(error, services, req.url ?? '', principal);
    if (res.headersSent) return void res.end();
    for (const [name, value] of Object.entries(reply.headers)) res.setHeader(name, value);
    send(res, reply.status, JSON.stringify(reply.body));
  };

  return (req, res) => {
    if (req.method !== 'POST') return false;
    const route = routes[req.url ?? ''];
    if (route === undefined) return false;
    const headers = req.headers;
    const length = Number(headers['content-length']);
    if (!Number.isSafeInteger(length) || length < 1 || length > maxBody) return false;
    if (headers['content-encoding'] !== undefined || !JSON_TYPE.test(headers['content-type'] ?? '')) return false;

    let principal: Principal;
    try {
      principal = resolvePrincipal(req);
    } catch (error) {
      fail(req, res, error);
      return true;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('error', () => req.destroy());
    req.on('end', () => {
      let body: unknown;
      try {
        body = parseJsonBody(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
      } catch (error) {
        return fail(req, res, error, principal);
      }
      let pending: Promise<unknown>;
      try {
        pending = route(principal, body);
      } catch (error) {
        return fail(req, res, error, principal);
      }
      pending.then(
        (result) => send(res, 200, JSON.stringify(result)),
        (error: unknown) => fail(req, res, error, principal),
      );
    });
    return true;
  };
}

const JSON_TYPE = /^application\/json[ \t]*(?:;[ \t]*charset=(?:utf-8|"utf-8")[ \t]*)?$/i;

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** As body-parser's strict JSON: a UTF-8 BOM is dropped, and only an object or array is JSON. */
function parseJsonBody(bytes: Buffer): unknown {
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const first = /^[\x20\x09\x0a\x0d]*(.)/.exec(text)?.[1];
  if (first !== '{' && first !== '[') throw new TgError(Errors.BAD_JSON);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new TgError(Errors.BAD_JSON);
  }
}

