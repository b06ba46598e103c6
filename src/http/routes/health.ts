import { Router } from 'express';
import type { SidecarServices } from '../services.js';

/** Unauthenticated probes for orchestrators: liveness, and readiness (a policy is loaded). */
export function healthRoutes(services: SidecarServices): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', (_req, res) => {
    const info = services.policy.info;
    if (!info) {
      res.status(503).json({ error: { code: 'TG_ERR_POLICY_UNAVAILABLE', message: 'no policy bundle is loaded' } });
      return;
    }
    // Not ready while the audit log refuses writes: every state change would be refused (503), so
    // traffic belongs on another worker. Each probe nudges a recovery attempt.
    if (!services.audit.healthy) {
      void services.audit.tryRecover();
      res.status(503).json({ error: { code: 'TG_ERR_AUDIT_DOWN', message: 'audit log unwritable; refusing state changes' } });
      return;
    }
    res.json({ status: 'ready', policy_revision: info.revision });
  });
  return router;
}
