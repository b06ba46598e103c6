import { Router, type Response } from 'express';
import { Errors, TgError } from '../../errors.js';
import type { Principal } from '../../identity/index.js';
import { Entrypoints } from '../../policy/index.js';
import { principalOf } from '../authenticate.js';
import { authorize } from '../authorize.js';
import type { SidecarServices } from '../services.js';

type Scope = 'own' | 'tenant' | 'aggregate' | 'prometheus';

/**
 * Metrics views (M1). The route is authorized by `tenantguard.authz`, the view's scope by
 * `tenantguard.metrics`: a tenant gets only its own figures, operators get aggregate, per-tenant
 * and Prometheus views.
 */
export function metricsRoutes(services: SidecarServices): Router {
  const router = Router();

  const checkScope = (res: Response, scope: Scope, tenant?: string): Principal => {
    const principal = principalOf(res);
    const decision = services.policy.decide(Entrypoints.metrics, {
      principal: { role: principal.role, id: principal.id },
      action: 'metrics.read',
      ...(tenant ? { tenant } : {}),
      resource: { scope, fields: [] },
    });
    if (!decision.allow) throw new TgError(Errors.POLICY_DENIED, { reasons: decision.reasons });
    return principal;
  };

  router.get(
    '/v1/metrics',
    authorize(services, (p) => (p.role === 'operator' ? 'metrics.aggregate' : 'metrics.own'), (_req, p) => p.id),
    async (_req, res) => {
      const principal = principalOf(res);
      if (principal.role === 'operator') {
        checkScope(res, 'aggregate');
        res.json(await services.metrics.aggregateView(services.tenants.ids()));
        return;
      }
      checkScope(res, 'own', principal.id);
      res.json(await services.metrics.tenantView(principal.id));
    },
  );

  router.get('/v1/metrics/tenants/:id', authorize(services, 'metrics.tenant'), async (req, res) => {
    const id = String(req.params['id']);
    checkScope(res, 'tenant', id);
    services.tenants.require(id);
    res.json(await services.metrics.tenantView(id));
  });

  router.get('/metrics', authorize(services, 'metrics.prometheus'), async (_req, res) => {
    checkScope(res, 'prometheus');
    res.type(services.metrics.contentType).send(await services.metrics.prometheusText());
  });

  return router;
}
