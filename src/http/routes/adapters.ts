import { Router } from 'express';
import { z } from 'zod';
import { TENANT_ID_PATTERN } from '../../ids.js';
import { principalOf } from '../authenticate.js';
import { authorize } from '../authorize.js';
import type { SidecarServices } from '../services.js';
import { parseBody } from '../validate.js';

const adapterId = z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'adapter_id must be 1-128 characters of [A-Za-z0-9._-]');
/**
 * What a request names: its own tenant's adapter by bare id, or another tenant's public adapter as
 * `<owner>/<id>` (issue 20.5). The owner part has the tenant-id syntax; ids have no `/`.
 */
const adapterName = z.string().regex(new RegExp(`^(?:${TENANT_ID_PATTERN.source.slice(1, -1)}/)?[A-Za-z0-9._-]{1,128}$`), 'adapter_id must be an id of 1-128 characters of [A-Za-z0-9._-], optionally prefixed by its owner tenant and "/" (a public adapter of another tenant)');
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'sha256 must be 64 lowercase hex characters');
const requestId = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'request_id must be 1-128 characters of [A-Za-z0-9._:-]');

const registerSchema = z.strictObject({ adapter_id: adapterId, sha256, rank: z.number().int(), public: z.boolean().default(false) });
const applySchema = z.strictObject({
  batch: z.array(z.strictObject({ request_id: requestId, tenant: z.string().regex(TENANT_ID_PATTERN), adapter_id: adapterName, sha256 })).min(1).max(1024),
});

/** LoRA adapters (A1): tenants register their own, in their own namespace; the worker checks a batch before applying. */
export function adapterRoutes(services: SidecarServices): Router {
  const router = Router();

  router.post('/v1/adapters', authorize(services, 'adapters.register', (_req, principal) => principal.id), async (req, res) => {
    const body = parseBody(registerSchema, req.body);
    res.status(201).json(await services.adapters.register(principalOf(res), { adapterId: body.adapter_id, sha256: body.sha256, rank: body.rank, public: body.public }));
  });

  router.post('/v1/adapters/apply', authorize(services, 'adapters.apply'), async (req, res) => {
    const body = parseBody(applySchema, req.body);
    const items = body.batch.map((b) => ({ requestId: b.request_id, tenant: b.tenant, adapterId: b.adapter_id, sha256: b.sha256 }));
    res.json(await services.adapters.apply(principalOf(res), items));
  });

  return router;
}
