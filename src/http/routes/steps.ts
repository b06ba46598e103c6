import { Router } from 'express';
import { principalOf } from '../authenticate.js';
import { authorize } from '../authorize.js';
import { blockSchemas } from '../schemas.js';
import type { SidecarServices } from '../services.js';
import { parseBody } from '../validate.js';

/**
 * Claim mode (worker role): one call per engine scheduler step. Served by Express, not the fast
 * path: a step carries a whole batch of requests, so the per-call dispatch cost is paid once per
 * step, not once per block operation.
 */
export function stepRoutes(services: SidecarServices): Router {
  const router = Router();
  const schema = blockSchemas(services.config.limits.maxBlocksPerCall).step;

  router.post('/v1/steps', authorize(services, 'blocks.step'), async (req, res) => {
    res.json(await services.blocks.step(principalOf(res), parseBody(schema, req.body)));
  });

  return router;
}
