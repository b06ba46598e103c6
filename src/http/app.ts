import express, { type Application } from 'express';
import type { RequestListener } from 'node:http';
import { authenticate, type Transport } from './authenticate.js';
import { errorHandler, notFound } from './error-handler.js';
import { blockFastPath } from './fast-blocks.js';
import { adapterRoutes } from './routes/adapters.js';
import { admissionRoutes } from './routes/admission.js';
import { blockRoutes } from './routes/blocks.js';
import { metricsRoutes } from './routes/metrics.js';
import { healthRoutes } from './routes/health.js';
import { keyRoutes, offloadRoutes } from './routes/keys.js';
import { operatorRoutes } from './routes/operator.js';
import { stepRoutes } from './routes/steps.js';
import type { SidecarServices } from './services.js';

/** The Express app: health first (no auth), then authentication, then per-component routes. */
export function createApp(services: SidecarServices, transport: Transport = 'tls'): Application {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.use(healthRoutes(services));
  app.use(authenticate(services, transport));
  app.use(offloadRoutes(services));
  app.use(express.json({ limit: services.config.limits.maxBodyBytes, strict: true, type: ['application/json', 'application/*+json'] }));
  app.use(admissionRoutes(services));
  app.use(blockRoutes(services));
  app.use(stepRoutes(services));
  app.use(adapterRoutes(services));
  app.use(metricsRoutes(services));
  app.use(keyRoutes(services));
  app.use(operatorRoutes(services));
  app.use(notFound);
  app.use(errorHandler(services));
  return app;
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
