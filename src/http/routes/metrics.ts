import { route, type RouteSpec } from '../route-table.js';

/** Metrics views (M1): authorized here, scoped by GuardedMetrics. */
export const METRICS_ROUTES: readonly RouteSpec[] = [
  route({
    method: 'get',
    path: '/v1/metrics',
    action: (p) => (p.role === 'operator' ? 'metrics.aggregate' : 'metrics.own'),
    authzTenant: (_req, p) => p.id,
    call: async ({ services, principal }) => ({ json: await services.metricViews.callerView(principal) }),
  }),
  route({
    method: 'get',
    path: '/v1/metrics/tenants/:id',
    action: 'metrics.tenant',
    call: async ({ services, principal, param }) => ({ json: await services.metricViews.tenantView(principal, param('id')) }),
  }),
  route({
    method: 'get',
    path: '/metrics',
    action: 'metrics.prometheus',
    call: async ({ services, principal }) => {
      const { contentType, text } = await services.metricViews.prometheus(principal);
      return { contentType, bytes: text };
    },
  }),
];
