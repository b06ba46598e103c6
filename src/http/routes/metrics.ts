import { Router } from 'express';
import { principalOf } from '../authenticate.js';
import { authorize } from '../authorize.js';
import type { SidecarServices } from '../services.js';

/** Metrics views (M1): authorized here, scoped by GuardedMetrics. */
export function metricsRoutes(services: SidecarServices): Router {
  const router = Router();

  router.get(
    '/v1/metrics',
    authorize(services, (p) => (p.role === 'operator' ? 'metrics.aggregate' : 'metrics.own'), (_req, p) => p.id),
    async (_req, res) => {
      res.json(await services.metricViews.callerView(principalOf(res)));
    },
  );

  router.get('/v1/metrics/tenants/:id', authorize(services, 'metrics.tenant'), async (req, res) => {
    res.json(await services.metricViews.tenantView(principalOf(res), String(req.params['id'])));
  });

  router.get('/metrics', authorize(services, 'metrics.prometheus'), async (_req, res) => {
    const { contentType, text } = await services.metricViews.prometheus(principalOf(res));
    res.type(contentType).send(text);
  });

  return router;
}
