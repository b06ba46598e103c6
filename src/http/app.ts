import express, { type Application } from 'express';
import type { RequestListener } from 'node:http';
import { authenticate, type Transport } from './authenticate.js';
import { errorHandler, notFound } from './error-handler.js';
import { blockFastPath } from './fast-blocks.js';
import { PACKAGE_VERSION } from '../project-root.js';
import { openApiDocument } from './openapi.js';
import { route, tableRouter, type RouteSpec } from './route-table.js';
import { ADAPTER_ROUTES } from './routes/adapters.js';
import { ADMISSION_ROUTES } from './routes/admission.js';
import { blockRoutes } from './routes/blocks.js';
import { healthRoutes } from './routes/health.js';
import { KEY_ROUTES, OFFLOAD_ROUTES } from './routes/keys.js';
import { METRICS_ROUTES } from './routes/metrics.js';
import { OPERATOR_ROUTES } from './routes/operator.js';
import { stepRoutes } from './routes/steps.js';
import type { SidecarServices } from './services.js';

/** The Express app: health first (no auth), then authentication, then the route table. */
export function createApp(services: SidecarServices, transport: Transport = 'tls'): Application {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.use(healthRoutes(services));
  app.use(authenticate(services, transport));
  app.use(tableRouter(services, OFFLOAD_ROUTES)); // raw bodies: before the JSON parser
  app.use(express.json({ limit: services.config.limits.maxBodyBytes, strict: true, type: ['application/json', 'application/*+json'] }));
  app.use(tableRouter(services, jsonRoutes(services)));
  app.use(notFound);
  app.use(errorHandler(services));
  return app;
}

/**
 * Every authenticated JSON route, one table (src/http/route-table.ts), and `GET /openapi.json`
 * (operators), the table's own OpenAPI document.
 */
export function jsonRoutes(services: SidecarServices): RouteSpec[] {
  const routes: RouteSpec[] = [...ADMISSION_ROUTES, ...blockRoutes(services), ...stepRoutes(services.config.limits.maxBlocksPerCall), ...ADAPTER_ROUTES, ...METRICS_ROUTES, ...KEY_ROUTES, ...OPERATOR_ROUTES];
  let document: Record<string, unknown> = {};
  routes.push(route({ method: 'get', path: '/openapi.json', action: 'openapi.read', call: () => ({ json: document }) }));
  document = openApiDocument([...OFFLOAD_ROUTES, ...routes], PACKAGE_VERSION);
  return routes;
}

/**
 * What the servers run: the KV block routes answer before Express sees the request
 * (fast-blocks.ts says why and which requests); everything else goes to `createApp`'s Express app.
 */
export function createRequestHandler(services: SidecarServices, transport: Transport = 'tls'): RequestListener {
  const app = createApp(services, transport);
  const fast = blockFastPath(services, transport);
  return (req, res) => {
    if (!fast(req, res)) app(req, res);
  };
}
