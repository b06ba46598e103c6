import { Router } from 'express';
import { z } from 'zod';
import { TENANT_ID_PATTERN } from '../../ids.js';
import { principalOf } from '../authenticate.js';
import { authorize } from '../authorize.js';
import type { SidecarServices } from '../services.js';
import { parseBody } from '../validate.js';

const requestId = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'request_id must be 1-128 characters of [A-Za-z0-9._:-]');
const tokens = z.number().int().nonnegative().max(100_000_000);
const admitSchema = z.strictObject({ tenant: z.string().regex(TENANT_ID_PATTERN), request_id: requestId, max_tokens: z.number().int().min(1).max(100_000_000) });
const completeSchema = z.strictObject({ input_tokens: tokens, output_tokens: tokens });

/** Admission control (worker role): tier rate limits and fair queueing for worker capacity. */
export function admissionRoutes(services: SidecarServices): Router {
  const router = Router();

  router.post('/v1/admission', authorize(services, 'admission.request'), async (req, res) => {
    const body = parseBody(admitSchema, req.body);
    res.json(await services.admission.admit(principalOf(res), { tenant: body.tenant, requestId: body.request_id, maxTokens: body.max_tokens }));
  });

  router.post('/v1/admission/:request_id/complete', authorize(services, 'admission.complete'), async (req, res) => {
    const id = parseBody(requestId, req.params['request_id']);
    const body = parseBody(completeSchema, req.body);
    res.json(await services.admission.complete(principalOf(res), id, body.input_tokens, body.output_tokens));
  });

  return router;
}
