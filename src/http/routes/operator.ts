import { Router } from 'express';
import { Errors, TgError } from '../../errors.js';
import { policyInfoView } from '../../policy/index.js';
import { authorize } from '../authorize.js';
import { principalOf } from '../authenticate.js';
import type { SidecarServices } from '../services.js';

/** Operator views of the registry and the policy (docs/api.md, Operator). */
export function operatorRoutes(services: SidecarServices): Router {
  const router = Router();

  router.get('/v1/tenants', authorize(services, 'tenants.read'), (_req, res) => {
    res.json({
      tenants: services.tenants.all().map((t) => ({
        id: t.id,
        tier: t.tier,
        pool: t.pool,
        quota_blocks: t.quotaBlocks,
        limits: { concurrent: t.limits.concurrent, tokens_per_minute: t.limits.tokensPerMinute, kv_quota_bytes: t.limits.kvQuotaBytes, priority: t.limits.priority, max_adapters: t.limits.maxAdapters },
      })),
    });
  });

  // Diagnostics: what the ledger holds for one pool (e.g. to compare with an engine's block table).
  router.get('/v1/pools/:name/ledger', authorize(services, 'ledger.read'), (req, res) => {
    res.json(services.blocks.poolView(String(req.params['name'] ?? '')));
  });

  router.get('/v1/policy', authorize(services, 'policy.read'), (_req, res) => {
    const info = services.policy.info;
    if (!info) throw new TgError(Errors.POLICY_UNAVAILABLE);
    res.json(policyInfoView(info));
  });

  router.post('/v1/policy/reload', authorize(services, 'policy.reload'), async (_req, res) => {
    const principal = principalOf(res);
    const { result, recorded } = await services.policyReloads.reload('http', { role: principal.role, id: principal.id });
    // Issue 17.6a: a reload nobody can account for is not reported as a success.
    if (!recorded) throw new TgError(Errors.AUDIT_DOWN, { message: 'audit log unwritable: the policy reload could not be recorded' });
    if (!result.ok) {
      throw new TgError(Errors.BUNDLE_INVALID, {
        message: `new bundle refused, previous one keeps serving: ${result.error}`,
        details: { kept_revision: result.kept?.revision ?? null },
      });
    }
    res.json({ revision: result.info.revision, loaded_at: result.info.loadedAt.toISOString() });
  });

  // L2: the chain of the live log, up to the last durable record, anchor included.
  router.get('/v1/audit/verify', authorize(services, 'audit.verify'), async (_req, res) => {
    const result = await services.audit.verify();
    res.status(result.ok ? 200 : 409).json(result);
  });

  return router;
}
