import { z } from 'zod';
import { TENANT_ID } from '../config/index.js';

/** Request ids travel into audit records: an identifier alphabet only, never free text (L1). */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
const requestId = z.string().regex(REQUEST_ID_PATTERN, 'request_id must be 1-128 characters of [A-Za-z0-9._:-]');
const tenant = z.string().regex(TENANT_ID, 'tenant must be a tenant id');
const blockIds = (max: number) => z.array(z.number().int().nonnegative().max(2 ** 31 - 1)).min(1).max(max);

export function blockSchemas(maxBlocksPerCall: number) {
  return {
    allocate: z.strictObject({ tenant, request_id: requestId, count: z.number().int().min(1).max(maxBlocksPerCall) }),
    free: z.strictObject({ tenant, blocks: blockIds(maxBlocksPerCall), cache: z.boolean().default(false) }),
    scrubbed: z.strictObject({ blocks: blockIds(maxBlocksPerCall) }),
    access: z.strictObject({ tenant, blocks: blockIds(maxBlocksPerCall), mode: z.enum(['read', 'prefix_hit']) }),
  };
}
