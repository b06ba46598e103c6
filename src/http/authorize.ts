import type { NextFunction, Request, Response } from 'express';
import { Errors, TgError } from '../errors.js';
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
    const tenant = tenantOf?.(req, principal);
    const decision = services.policy.decide(Entrypoints.authz, {
      principal: { role: principal.role, id: principal.id, authn: principal.authn },
      action: typeof action === 'string' ? action : action(principal),
      ...(typeof tenant === 'string' ? { tenant } : {}),
    });
    if (decision.allow) return next();
    if (decision.reasons.includes('policy_unavailable')) throw new TgError(Errors.POLICY_UNAVAILABLE);
    if (decision.reasons.includes('mtls_required')) throw new TgError(Errors.MTLS_REQUIRED, { reasons: decision.reasons });
    throw new TgError(Errors.ROLE_DENIED, { reasons: decision.reasons });
  };
}
