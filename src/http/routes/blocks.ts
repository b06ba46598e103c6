import type { z } from 'zod';
import type { GuardedBlocks } from '../../enforcement/index.js';
import type { Principal } from '../../identity/index.js';
import { route, type RouteSpec } from '../route-table.js';
import { precheckAccess, precheckAllocate, precheckFree, precheckScrubbed } from '../prechecks.js';
import { blockSchemas } from '../schemas.js';
import type { SidecarServices } from '../services.js';
import { parseBody } from '../validate.js';

type Schemas = ReturnType<typeof blockSchemas>;

/**
 * One KV block batch route: path, authz action, body schema (and the fast path's exact precheck
 * of it), and the call. Both dispatchers serve these from this one table (issue 13): Express
 * (`blockRoutes`) and the block fast path (`src/http/fast-blocks.ts`).
 */
export interface BlockBatchRoute {
  readonly path: string;
  readonly action: string;
  /** The route's zod schema, among the block schemas for this sidecar's limits. */
  readonly schema: (schemas: Schemas) => z.ZodType;
  /** Validates a parsed JSON body: the precheck when it accepts, zod otherwise (its messages). */
  readonly body: (schemas: Schemas, maxBlocks: number) => (raw: unknown) => unknown;
  readonly call: (blocks: GuardedBlocks, principal: Principal, body: never) => Promise<unknown>;
}

/** A route whose body type ties its validation to its call. */
function batch<B>(path: string, action: string, schema: (s: Schemas) => z.ZodType<B>, precheck: (raw: unknown, max: number) => B | null, call: (blocks: GuardedBlocks, principal: Principal, body: B) => Promise<unknown>): BlockBatchRoute {
  return {
    path,
    action,
    schema,
    body: (schemas, maxBlocks) => {
      const zod = schema(schemas);
      return (raw) => precheck(raw, maxBlocks) ?? (parseBody(zod, raw) as B);
    },
    call: call as BlockBatchRoute['call'],
  };
}

export const BLOCK_BATCH_ROUTES: readonly BlockBatchRoute[] = [
  batch('/v1/blocks/allocate', 'blocks.allocate', (s) => s.allocate, precheckAllocate, (blocks, p, b) => blocks.allocate(p, { tenant: b.tenant, requestId: b.request_id, count: b.count })),
  batch('/v1/blocks/free', 'blocks.free', (s) => s.free, precheckFree, (blocks, p, b) => blocks.free(p, b.tenant, b.blocks, b.cache)),
  batch('/v1/blocks/scrubbed', 'blocks.scrubbed', (s) => s.scrubbed, precheckScrubbed, (blocks, p, b) => blocks.scrubbed(p, b.blocks, b.epochs)),
  batch('/v1/blocks/access', 'blocks.access', (s) => s.access, precheckAccess, (blocks, p, b) => blocks.access(p, b.tenant, b.blocks, b.mode)),
];

/**
 * A dispatcher's handler for one table entry, run once the principal is authorized for
 * `batchRoute.action`: validate the body, then call (the order both dispatchers keep).
 */
export function blockBatchHandler(services: SidecarServices, batchRoute: BlockBatchRoute): (principal: Principal, raw: unknown) => Promise<unknown> {
  const validate = batchRoute.body(blockSchemas(services.config.limits.maxBlocksPerCall), services.config.limits.maxBlocksPerCall);
  return (principal, raw) => batchRoute.call(services.blocks, principal, validate(raw) as never);
}

/**
 * The KV block routes as rows of the route table (Express serves them when the fast path leaves a
 * request to it): the batches above, and the tenant's own usage. Validators are built once.
 */
export function blockRoutes(services: SidecarServices): RouteSpec[] {
  const schemas = blockSchemas(services.config.limits.maxBlocksPerCall);
  const batches = BLOCK_BATCH_ROUTES.map((batchRoute): RouteSpec => {
    const handle = blockBatchHandler(services, batchRoute);
    return { method: 'post', path: batchRoute.path, action: batchRoute.action, body: batchRoute.schema(schemas), call: async ({ principal, req }) => ({ json: await handle(principal, req.body) }) };
  });
  // A tenant sees its own usage and quota, nothing about anyone else (M1).
  const usage = route({
    method: 'get',
    path: '/v1/usage',
    action: 'usage.read',
    authzTenant: (_req, principal) => principal.id,
    call: ({ principal }) => {
      const u = services.blocks.usage(principal.id);
      return {
        json: {
          tenant: u.tenant,
          blocks: { owned: u.owned, cached: u.cached, awaiting_scrub: u.awaitingScrub, peak_owned: u.peakOwned },
          quota_blocks: u.quotaBlocks,
          bytes_per_block: services.config.bytesPerBlock,
        },
      };
    },
  });
  return [...batches, usage];
}
