import { route, type RouteSpec } from '../route-table.js';
import { blockSchemas } from '../schemas.js';

/**
 * Claim mode (worker role): one call per engine scheduler step. Served by Express, not the fast
 * path: a step carries a whole batch of requests, so the per-call dispatch cost is paid once per
 * step, not once per block operation.
 */
export function stepRoutes(maxBlocksPerCall: number): RouteSpec[] {
  return [route({ method: 'post', path: '/v1/steps', action: 'blocks.step', body: blockSchemas(maxBlocksPerCall).step, call: async ({ services, principal, body }) => ({ json: await services.blocks.step(principal, body) }) })];
}
