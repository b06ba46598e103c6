import type { IncomingMessage, ServerResponse } from 'node:http';
import { TENANT_ID_PATTERN } from '../ids.js';
import { Errors, TgError } from '../errors.js';
import type { Principal } from '../identity/index.js';
import { principalResolver, type Transport } from './authenticate.js';
import { authorizeAction } from './authorize.js';
import { errorReply } from './error-handler.js';
import { blockSchemas, REQUEST_ID_PATTERN } from './schemas.js';
import type { SidecarServices } from './services.js';
import { parseBody } from './validate.js';

/**
 * The worker's KV block routes without Express: the hot path of a sidecar (thousands of calls per
 * second), where Express's per-request work (prototype swaps, a walk over every router and
 * middleware, body-parser) cost more than the decision itself. Same steps, same order, same
 * answers as the Express routes in routes/blocks.ts: authenticate → read the JSON body →
 * authorize (tenantguard.authz) → validate (the same zod schemas, see `precheck`) → GuardedBlocks
 * (policy, ledger, durable audit) → `200 application/json`, or the error catalogue's body.
 *
 * Only plain requests take this path: POST to exactly one of the four paths, a Content-Length
 * within the body limit, `Content-Type: application/json` (optionally `; charset=utf-8`) and no
 * Content-Encoding. Anything else (a query string, chunked or compressed bodies, another charset,
 * an oversized body, another media type) is left untouched for Express, which answers it as before.
 */
export function blockFastPath(services: SidecarServices, transport: Transport): (req: IncomingMessage, res: ServerResponse) => boolean {
  const resolvePrincipal = principalResolver(services, transport);
  const schemas = blockSchemas(services.config.limits.maxBlocksPerCall);
  const maxBlocks = services.config.limits.maxBlocksPerCall;
  const maxBody = services.config.limits.maxBodyBytes;
  const { blocks, logger } = services;

  type Route = (principal: Principal, body: unknown) => Promise<unknown>;
  const routes: Record<string, Route> = {
    '/v1/blocks/allocate': (principal, raw) => {
      authorizeAction(services, principal, 'blocks.allocate');
      const body = precheckAllocate(raw, maxBlocks) ?? parseBody(schemas.allocate, raw);
      return blocks.allocate(principal, { tenant: body.tenant, requestId: body.request_id, count: body.count });
    },
    '/v1/blocks/free': (principal, raw) => {
      authorizeAction(services, principal, 'blocks.free');
      const body = precheckFree(raw, maxBlocks) ?? parseBody(schemas.free, raw);
      return blocks.free(principal, body.tenant, body.blocks, body.cache);
    },
    '/v1/blocks/scrubbed': (principal, raw) => {
      authorizeAction(services, principal, 'blocks.scrubbed');
      const body = precheckScrubbed(raw, maxBlocks) ?? parseBody(schemas.scrubbed, raw);
      return blocks.scrubbed(principal, body.blocks, body.epochs);
    },
    '/v1/blocks/access': (principal, raw) => {
      authorizeAction(services, principal, 'blocks.access');
      const body = precheckAccess(raw, maxBlocks) ?? parseBody(schemas.access, raw);
      return blocks.access(principal, body.tenant, body.blocks, body.mode);
    },
  };

  const fail = (req: IncomingMessage, res: ServerResponse, error: unknown): void => {
    const reply = errorReply(error, logger, req.url ?? '');
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
        return fail(req, res, error);
      }
      let pending: Promise<unknown>;
      try {
        pending = route(principal, body);
      } catch (error) {
        return fail(req, res, error);
      }
      pending.then(
        (result) => send(res, 200, JSON.stringify(result)),
        (error: unknown) => fail(req, res, error),
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

/*
 * Prechecks: an exact, allocation-free restatement of the zod schemas in schemas.ts for bodies that
 * pass. A body the precheck does not accept goes through zod, which accepts or refuses it with its
 * own messages; so the precheck can only ever be stricter than zod, never looser.
 */
const TENANT = TENANT_ID_PATTERN;
const REQUEST_ID = REQUEST_ID_PATTERN;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype;
}

/** Only `allowed` keys, and each of `required` present (own keys only: JSON.parse makes no others). */
function hasExactKeys(value: Record<string, unknown>, required: readonly string[], optional: readonly string[] = []): boolean {
  let seen = 0;
  for (const key in value) {
    if (!Object.prototype.hasOwnProperty.call(value, key)) return false;
    if (required.includes(key)) seen++;
    else if (!optional.includes(key)) return false;
  }
  return seen === required.length;
}

function isBlockIds(value: unknown, max: number): value is number[] {
  if (!Array.isArray(value) || value.length < 1 || value.length > max) return false;
  for (const id of value) {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0 || id > 2 ** 31 - 1) return false;
  }
  return true;
}

function precheckAllocate(body: unknown, max: number): { tenant: string; request_id: string; count: number } | null {
  if (!isPlainObject(body) || !hasExactKeys(body, ['tenant', 'request_id', 'count'])) return null;
  const { tenant, request_id: requestId, count } = body;
  if (typeof tenant !== 'string' || !TENANT.test(tenant) || typeof requestId !== 'string' || !REQUEST_ID.test(requestId)) return null;
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 1 || count > max) return null;
  return { tenant, request_id: requestId, count };
}

function precheckFree(body: unknown, max: number): { tenant: string; blocks: number[]; cache: boolean } | null {
  if (!isPlainObject(body) || !hasExactKeys(body, ['tenant', 'blocks'], ['cache'])) return null;
  const { tenant, blocks, cache = false } = body;
  if (typeof tenant !== 'string' || !TENANT.test(tenant) || !isBlockIds(blocks, max) || typeof cache !== 'boolean') return null;
  return { tenant, blocks, cache };
}

function precheckScrubbed(body: unknown, max: number): { blocks: number[]; epochs: number[] } | null {
  if (!isPlainObject(body) || !hasExactKeys(body, ['blocks', 'epochs'])) return null;
  const { blocks, epochs } = body;
  if (!isBlockIds(blocks, max) || !Array.isArray(epochs) || epochs.length !== blocks.length) return null;
  for (const epoch of epochs) if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0xffffffff) return null;
  return { blocks, epochs: epochs as number[] };
}

function precheckAccess(body: unknown, max: number): { tenant: string; blocks: number[]; mode: 'read' | 'prefix_hit' } | null {
  if (!isPlainObject(body) || !hasExactKeys(body, ['tenant', 'blocks', 'mode'])) return null;
  const { tenant, blocks, mode } = body;
  if (typeof tenant !== 'string' || !TENANT.test(tenant) || !isBlockIds(blocks, max)) return null;
  if (mode !== 'read' && mode !== 'prefix_hit') return null;
  return { tenant, blocks, mode };
}

/** The prechecks by route, for the property test that holds each to its zod schema (test/http). */
export const PRECHECKS = { allocate: precheckAllocate, free: precheckFree, scrubbed: precheckScrubbed, access: precheckAccess } as const;
