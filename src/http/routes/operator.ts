import { Errors, TgError } from '../../errors.js';
import { policyInfoView } from '../../policy/index.js';
import { route, type RouteSpec } from '../route-table.js';

/** Operator views of the registry and the policy (docs/api.md, Operator). */
export const OPERATOR_ROUTES: readonly RouteSpec[] = [
  route({
    method: 'get',
    path: '/v1/tenants',
    action: 'tenants.read',
    call: ({ services }) => ({
      json: {
        tenants: services.tenants.all().map((t) => ({
          id: t.id,
          tier: t.tier,
          pool: t.pool,
          quota_blocks: t.quotaBlocks,
          limits: { concurrent: t.limits.concurrent, tokens_per_minute: t.limits.tokensPerMinute, kv_quota_bytes: t.limits.kvQuotaBytes, priority: t.limits.priority, max_adapters: t.limits.maxAdapters },
        })),
      },
    }),
  }),
  // Diagnostics: what the ledger holds for one pool (e.g. to compare with an engine's block table).
  route({ method: 'get', path: '/v1/pools/:name/ledger', action: 'ledger.read', call: ({ services, param }) => ({ json: services.blocks.poolView(param('name')) }) }),
  route({
    method: 'get',
    path: '/v1/policy',
    action: 'policy.read',
    call: ({ services }) => {
      const info = services.policy.info;
      if (!info) throw new TgError(Errors.POLICY_UNAVAILABLE);
      return { json: policyInfoView(info) };
    },
  }),
  route({
    method: 'post',
    path: '/v1/policy/reload',
    action: 'policy.reload',
    call: async ({ services, principal }) => {
      const { result, recorded } = await services.policyReloads.reload('http', { role: principal.role, id: principal.id });
      // Issue 17.6a: a reload nobody can account for is not reported as a success.
      if (!recorded) throw new TgError(Errors.AUDIT_DOWN, { message: 'audit log unwritable: the policy reload could not be recorded' });
      if (!result.ok) {
        throw new TgError(Errors.BUNDLE_INVALID, {
          message: `new bundle refused, previous one keeps serving: ${result.error}`,
          details: { kept_revision: result.kept?.revision ?? null },
        });
      }
      return { json: { revision: result.info.revision, loaded_at: result.info.loadedAt.toISOString() } };
    },
  }),
  // L2: the chain of the live log, up to the last durable record, anchor included.
  route({
    method: 'get',
    path: '/v1/audit/verify',
    action: 'audit.verify',
    call: async ({ services }) => {
      const result = await services.audit.verify();
      return { status: result.ok ? 200 : 409, json: result };
    },
  }),
];
