import { Router, type Request } from 'express';
import { z } from 'zod';
import { Errors, TgError } from '../../errors.js';
import { principalOf } from '../authenticate.js';
import { authorize } from '../authorize.js';
import type { SidecarServices } from '../services.js';
import { parseBody } from '../validate.js';

/** The tenant the worker acts for (the request it serves); offload must stay in its namespace. */
export const ACTING_FOR_HEADER = 'x-tenantguard-acting-for';

const unwrapSchema = z.strictObject({ wrapped: z.string().min(1).max(512) });
const saltLookupSchema = z.strictObject({ cache_salt: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'cache_salt must be a base64url salt from GET /v1/tenants/{id}/cache-salt') });
const param = (req: Request, name: string): string => String(req.params[name] ?? '');
const actingFor = (req: Request): string | undefined => {
  const value = req.headers[ACTING_FOR_HEADER];
  return typeof value === 'string' ? value : undefined;
};

/** Per-tenant keys, cache salts and the sealed offload store (worker); rotation and erasure (operator). */
export function keyRoutes(services: SidecarServices): Router {
  const router = Router();
  const { keys } = services;

  router.post('/v1/keys/:tenant/datakey', authorize(services, 'keys.datakey'), async (req, res) => {
    res.json(await keys.dataKey(principalOf(res), param(req, 'tenant')));
  });

  router.post('/v1/keys/:tenant/datakey/unwrap', authorize(services, 'keys.unwrap'), async (req, res) => {
    const body = parseBody(unwrapSchema, req.body);
    res.json(await keys.unwrap(principalOf(res), param(req, 'tenant'), body.wrapped));
  });

  // The salt comes from this trusted component, never from the caller: vLLM `cache_salt` (I6).
  router.get('/v1/tenants/:id/cache-salt', authorize(services, 'keys.cache_salt'), async (req, res) => {
    res.json(await keys.cacheSalt(principalOf(res), param(req, 'id')));
  });

  // The reverse: an engine attributes a request by the salt the middleware put on it (I6).
  router.post('/v1/cache-salts/lookup', authorize(services, 'keys.cache_salt_lookup'), async (req, res) => {
    res.json(await keys.tenantForCacheSalt(principalOf(res), parseBody(saltLookupSchema, req.body).cache_salt));
  });

  router.post('/v1/tenants/:id/keys/rotate', authorize(services, 'keys.rotate'), async (req, res) => {
    res.json(await keys.rotate(principalOf(res), param(req, 'id')));
  });

  router.delete('/v1/tenants/:id', authorize(services, 'tenants.erase'), async (req, res) => {
    res.json(await services.erasure.erase(principalOf(res), param(req, 'id')));
  });

  return router;
}

/**
 * Offload routes stream raw bodies, so they are mounted before the JSON body parser. The size
 * limit is enforced from Content-Length up front and again while streaming.
 */
export function offloadRoutes(services: SidecarServices): Router {
  const router = Router();
  const { keys } = services;
  const max = services.config.limits.maxOffloadBytes;

  router.put('/v1/offload/:tenant/:block_key', authorize(services, 'offload.put'), async (req, res) => {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > max) throw new TgError(Errors.TOO_LARGE, { details: { max_bytes: max } });
    const result = await keys.put(principalOf(res), param(req, 'tenant'), param(req, 'block_key'), actingFor(req), req, max);
    res.status(201).json(result);
  });

  router.get('/v1/offload/:tenant/:block_key', authorize(services, 'offload.get'), async (req, res) => {
    const bytes = await keys.get(principalOf(res), param(req, 'tenant'), param(req, 'block_key'), actingFor(req));
    res.type('application/octet-stream').send(bytes);
  });

  router.delete('/v1/offload/:tenant/:block_key', authorize(services, 'offload.delete'), async (req, res) => {
    const deleted = await keys.delete(principalOf(res), param(req, 'tenant'), param(req, 'block_key'), actingFor(req));
    if (!deleted) throw new TgError(Errors.NOT_FOUND);
    res.status(204).end();
  });

  return router;
}
