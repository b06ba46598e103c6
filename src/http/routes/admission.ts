import { z } from 'zod';
import { TENANT_ID_PATTERN } from '../../ids.js';
import { route, type RouteSpec } from '../route-table.js';
import { requestIdSchema as requestId } from '../schemas.js';
import { parseBody } from '../validate.js';

const tokens = z.number().int().nonnegative().max(100_000_000);
const admitSchema = z.strictObject({ tenant: z.string().regex(TENANT_ID_PATTERN), request_id: requestId, max_tokens: z.number().int().min(1).max(100_000_000) });
const completeSchema = z.strictObject({ input_tokens: tokens, output_tokens: tokens });

/** Admission control (worker role): tier rate limits and fair queueing for worker capacity. */
export const ADMISSION_ROUTES: readonly RouteSpec[] = [
  route({
    method: 'post',
    path: '/v1/admission',
    action: 'admission.request',
    body: admitSchema,
    call: async ({ services, principal, body }) => ({ json: await services.admission.admit(principal, { tenant: body.tenant, requestId: body.request_id, maxTokens: body.max_tokens }) }),
  }),
  route({
    method: 'post',
    path: '/v1/admission/:request_id/complete',
    action: 'admission.complete',
    body: completeSchema,
    call: async ({ services, principal, body, param }) => ({ json: await services.admission.complete(principal, parseBody(requestId, param('request_id')), body.input_tokens, body.output_tokens) }),
  }),
];
