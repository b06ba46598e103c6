import type { Request } from 'express';
import { z } from 'zod';
import { Errors, TgError } from '../../errors.js';
import { route, type RouteSpec } from '../route-table.js';

/** The tenant the worker acts for (the request it serves); offload must stay in its namespace. */
export const ACTING_FOR_HEADER = 'x-tenantguard-acting-for';

const unwrapSchema = z.strictObject({ wrapped: z.string().min(1).max(512) });
const saltLookupSchema = z.strictObject({ cache_salt: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'cache_salt must be a base64url salt from GET /v1/tenants/{id}/cache-salt') });
const actingFor = (req: Request): string | undefined => {
  const value = req.headers[ACTING_FOR_HEADER];
  return typeof value === 'string' ? value : undefined;
};

/** Per-tenant keys, cache salts and the sealed offload store (worker); rotation and erasure (operator). */
export const KEY_ROUTES: readonly RouteSpec[] = [
  route({ method: 'post', path: '/v1/keys/:tenant/datakey', action: 'keys.datakey', call: async ({ services, principal, param }) => ({ json: await services.keys.dataKey(principal, param('tenant')) }) }),
  route({
    method: 'post',
    path: '/v1/keys/:tenant/datakey/unwrap',
    action: 'keys.unwrap',
    body: unwrapSchema,
    call: async ({ services, principal, param, body }) => ({ json: await services.keys.unwrap(principal, param('tenant'), body.wrapped) }),
  }),
  // The salt comes from this trusted component, never from the caller: vLLM `cache_salt` (I6).
  route({ method: 'get', path: '/v1/tenants/:id/cache-salt', action: 'keys.cache_salt', call: async ({ services, principal, param }) => ({ json: await services.keys.cacheSalt(principal, param('id')) }) }),
  // The reverse: an engine attributes a request by the salt the middleware put on it (I6).
  route({
    method: 'post',
    path: '/v1/cache-salts/lookup',
    action: 'keys.cache_salt_lookup',
    body: saltLookupSchema,
    call: async ({ services, principal, body }) => ({ json: await services.keys.tenantForCacheSalt(principal, body.cache_salt) }),
  }),
  route({ method: 'post', path: '/v1/tenants/:id/keys/rotate', action: 'keys.rotate', call: async ({ services, principal, param }) => ({ json: await services.keys.rotate(principal, param('id')) }) }),
  route({ method: 'delete', path: '/v1/tenants/:id', action: 'tenants.erase', call: async ({ services, principal, param }) => ({ json: await services.erasure.erase(principal, param('id')) }) }),
];

/**
 * Offload routes stream raw bodies, so they are served before the JSON body parser. The size
 * limit is enforced from Content-Length up front and again while streaming.
 */
export const OFFLOAD_ROUTES: readonly RouteSpec[] = [
  route({
    method: 'put',
    path: '/v1/offload/:tenant/:block_key',
    action: 'offload.put',
    rawBody: 'application/octet-stream',
    call: async ({ services, principal, param, req }) => {
      const max = services.config.limits.maxOffloadBytes;
      if (Number(req.headers['content-length'] ?? '0') > max) throw new TgError(Errors.TOO_LARGE, { details: { max_bytes: max } });
      return { status: 201, json: await services.keys.put(principal, param('tenant'), param('block_key'), actingFor(req), req, max) };
    },
  }),
  route({
    method: 'get',
    path: '/v1/offload/:tenant/:block_key',
    action: 'offload.get',
    call: async ({ services, principal, param, req }) => ({ contentType: 'application/octet-stream', bytes: await services.keys.get(principal, param('tenant'), param('block_key'), actingFor(req)) }),
  }),
  route({
    method: 'delete',
    path: '/v1/offload/:tenant/:block_key',
    action: 'offload.delete',
    call: async ({ services, principal, param, req }) => {
      if (!(await services.keys.delete(principal, param('tenant'), param('block_key'), actingFor(req)))) throw new TgError(Errors.NOT_FOUND);
      return { status: 204 };
    },
  }),
];
