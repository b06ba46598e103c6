import { z } from 'zod';
import { TENANT_ID_PATTERN } from '../ids.js';

/** Request ids: an identifier alphabet only, never free text (L1; recorded as keyed digests, 20.6). */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
/** A request id in a body or a path: one schema for every route that takes one. */
export const requestIdSchema = z.string().regex(REQUEST_ID_PATTERN, 'request_id must be 1-128 characters of [A-Za-z0-9._:-]');

const tenant = z.string().regex(TENANT_ID_PATTERN, 'tenant must be a tenant id');
const blockId = z.number().int().nonnegative().max(2 ** 31 - 1);
const blockIds = (max: number) => z.array(blockId).min(1).max(max);
const epoch = z.number().int().nonnegative().max(2 ** 32 - 1);

/** Ops in one `POST /v1/steps`: a scheduler step of 4,096 requests is far beyond any engine's batch. */
export const MAX_STEP_OPS = 4096;

export function blockSchemas(maxBlocksPerCall: number) {
  return {
    allocate: z.strictObject({ tenant, request_id: requestIdSchema, count: z.number().int().min(1).max(maxBlocksPerCall) }),
    free: z.strictObject({ tenant, blocks: blockIds(maxBlocksPerCall), cache: z.boolean().default(false) }),
    scrubbed: z.strictObject({ blocks: blockIds(maxBlocksPerCall), epochs: epochsPerBlock(maxBlocksPerCall) }).refine(sameLength, sameLengthMessage),
    access: z.strictObject({ tenant, blocks: blockIds(maxBlocksPerCall), mode: z.enum(['read', 'prefix_hit']) }),
    step: z.strictObject({
      step: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
      ops: z.array(stepOp(maxBlocksPerCall)).max(MAX_STEP_OPS),
    }),
  };
}

function stepOp(maxBlocksPerCall: number) {
  const some = z.array(blockId).max(maxBlocksPerCall);
  return z.discriminatedUnion('op', [
    z
      .strictObject({ op: z.literal('claim'), tenant, request_id: requestIdSchema, blocks: some, prefix_hits: some.optional() })
      .refine((claim) => claim.blocks.length + (claim.prefix_hits?.length ?? 0) > 0, 'a claim names at least one block or prefix hit'),
    z.strictObject({ op: z.literal('release'), tenant, request_id: requestIdSchema, blocks: blockIds(maxBlocksPerCall), cache: z.boolean().optional() }),
    z.strictObject({ op: z.literal('scrubbed'), blocks: blockIds(maxBlocksPerCall), epochs: epochsPerBlock(maxBlocksPerCall) }).refine(sameLength, sameLengthMessage),
  ]);
}

/**
 * `epochs[i]` is the use epoch block `blocks[i]` was zeroed in (from its allocation or claim answer):
 * a confirmation that outlived the use it was for must not clear the next one (I2, issue 20.3).
 */
const epochsPerBlock = (max: number) => z.array(epoch).max(max);
const sameLength = (body: { blocks: readonly number[]; epochs: readonly number[] }): boolean => body.epochs.length === body.blocks.length;
const sameLengthMessage = { message: 'epochs must name one epoch per block, in the same order', path: ['epochs'] };
