import { z } from 'zod';
import { TENANT_ID_PATTERN } from '../../ids.js';
import { route, type RouteSpec } from '../route-table.js';
import { requestIdSchema as requestId } from '../schemas.js';

const adapterId = z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'adapter_id must be 1-128 characters of [A-Za-z0-9._-]');
/**
 * What a request names: its own tenant's adapter by bare id, or another tenant's public adapter as
 * `<owner>/<id>` (issue 20.5). The owner part has the tenant-id syntax; ids have no `/`.
 */
const adapterName = z.string().regex(new RegExp(`^(?:${TENANT_ID_PATTERN.source.slice(1, -1)}/)?[A-Za-z0-9._-]{1,128}$`), 'adapter_id must be an id of 1-128 characters of [A-Za-z0-9._-], optionally prefixed by its owner tenant and "/" (a public adapter of another tenant)');
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'sha256 must be 64 lowercase hex characters');

const registerSchema = z.strictObject({ adapter_id: adapterId, sha256, rank: z.number().int(), public: z.boolean().default(false) });
const applySchema = z.strictObject({
  batch: z.array(z.strictObject({ request_id: requestId, tenant: z.string().regex(TENANT_ID_PATTERN), adapter_id: adapterName, sha256 })).min(1).max(1024),
});

/** LoRA adapters (A1): tenants register their own, in their own namespace; the worker checks a batch before applying. */
export const ADAPTER_ROUTES: readonly RouteSpec[] = [
  route({
    method: 'post',
    path: '/v1/adapters',
    action: 'adapters.register',
    authzTenant: (_req, principal) => principal.id,
    body: registerSchema,
    call: async ({ services, principal, body }) => ({ status: 201, json: await services.adapters.register(principal, { adapterId: body.adapter_id, sha256: body.sha256, rank: body.rank, public: body.public }) }),
  }),
  route({
    method: 'post',
    path: '/v1/adapters/apply',
    action: 'adapters.apply',
    body: applySchema,
    call: async ({ services, principal, body }) => ({
      json: await services.adapters.apply(principal, body.batch.map((b) => ({ requestId: b.request_id, tenant: b.tenant, adapterId: b.adapter_id, sha256: b.sha256 }))),
    }),
  }),
];
