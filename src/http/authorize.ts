import type { NextFunction, Request, Response } from 'express';
import { Errors, TgError } from '../errors.js';
import { policyInput, refusalOf } from '../enforcement/index.js';
import type { Principal } from '../identity/index.js';
import { Entrypoints } from '../policy/index.js';
import { principalOf } from './authenticate.js';
import type { SidecarServices } from './services.js';

/**
 * Route-level authorization through `tenantguard.authz` (N1): every route names its action, and
 * the policy decides whether this principal's role may take it for this tenant.
 */
export function authorize(services: SidecarServices, action: string | ((principal: Principal) => string), tenantOf?: (req: Request, principal: Principal) => unknown) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const principal = principalOf(res);
    authorizeAction(services, principal, typeof action === 'string' ? action : action(principal), tenantOf?.(req, principal));
    next();
  };
}

/**
 * Throws unless `tenantguard.authz` lets this principal take `action` (for `tenant`, if a string).
 * The authz policy is a pure function of this input and the registry, and the same few principals
 * call the same few routes all day, so its answers are remembered per bundle and registry version
 * (PolicyEngine.decideCached); the key holds every field of the input.
 */
export function authorizeAction(services: SidecarServices, principal: Principal, action: string, tenant?: unknown): void {
  const named = typeof tenant === 'string' ? tenant : null;
  const key = JSON.stringify([principal.role, principal.id, principal.authn, action, named]);
  const decision = services.policy.decideCached(Entrypoints.authz, key, () => policyInput(principal, { action, tenant: named ?? undefined }));
  if (decision.allow) return;
  if (decision.reasons.includes('policy_unavailable')) throw refusalOf(decision);
  const refusal = new TgError(decision.reasons.includes('mtls_required') ? Errors.MTLS_REQUIRED : Errors.ROLE_DENIED, { reasons: decision.reasons });
  // A refused caller leaves a trace (issue 20.7). Only a registered tenant id is recorded: an
  // unknown one is caller content from the path.
  services.refusals.record({
    principal: { role: principal.role, id: principal.id },
    action,
    code: refusal.code,
    reasons: decision.reasons,
    ...(named !== null && services.tenants.has(named) ? { tenant: named } : {}),
  });
  throw refusal;
}
