import { Router } from 'express';
import { principalOf } from '../authenticate.js';
import { authorize } from '../authorize.js';
import { blockSchemas } from '../schemas.js';
import type { SidecarServices } from '../services.js';
import { parseBody } from '../validate.js';

/** KV block batches (worker role): each is one policy evaluation and one durable audit record. */
export function blockRoutes(services: SidecarServices): Router {
  const router = Router();
  const schemas = blockSchemas(services.config.limits.maxBlocksPerCall);
  const { blocks } = services;

  router.post('/v1/blocks/allocate', authorize(services, 'blocks.allocate'), async (req, res) => {
    const body = parseBody(schemas.allocate, req.body);
    res.json(await blocks.allocate(principalOf(res), { tenant: body.tenant, requestId: body.request_id, count: body.count }));
  });

  router.post('/v1/blocks/free', authorize(services, 'blocks.free'), async (req, res) => {
    const body = parseBody(schemas.free, req.body);
    res.json(await blocks.free(principalOf(res), body.tenant, body.blocks, body.cache));
  });

  router.post('/v1/blocks/scrubbed', authorize(services, 'blocks.scrubbed'), async (req, res) => {
    const body = parseBody(schemas.scrubbed, req.body);
    res.json(await blocks.scrubbed(principalOf(res), body.blocks, body.epochs));
  });

  router.post('/v1/blocks/access', authorize(services, 'blocks.access'), async (req, res) => {
    const body = parseBody(schemas.access, req.body);
    res.json(await blocks.access(principalOf(res), body.tenant, body.blocks, body.mode));
  });

  // A tenant sees its own usage and quota, nothing about anyone else (M1).
  router.get('/v1/usage', authorize(services, 'usage.read', (_req, principal) => principal.id), (_req, res) => {
    const usage = blocks.usage(principalOf(res).id);
    res.json({
      tenant: usage.tenant,
      blocks: { owned: usage.owned, cached: usage.cached, awaiting_scrub: usage.awaitingScrub, peak_owned: usage.peakOwned },
      quota_blocks: usage.quotaBlocks,
      bytes_per_block: services.config.bytesPerBlock,
    });
  });

  return router;
}
