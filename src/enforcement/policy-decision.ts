import { Errors, TgError } from '../errors.js';
import type { Principal } from '../identity/index.js';
import type { Decision, PolicyEngine } from '../policy/index.js';

/** What a guarded component asks a policy entrypoint about, besides who asks. */
export interface DecisionQuery {
  readonly action: string;
  readonly tenant?: string | undefined;
  readonly resource?: Readonly<Record<string, unknown>>;
  readonly facts?: Readonly<Record<string, unknown>>;
}

/**
 * One policy question, with the input shape every Rego package reads (`{principal, action, tenant,
 * resource, facts}`, docs/design.md). A policy that is missing or errs answers deny with
 * `policy_unavailable` (fail closed); `refusalOf` turns that into a 503, anything else into a 403.
 */
export function askPolicy(policy: PolicyEngine, entrypoint: string, principal: Principal, query: DecisionQuery): Decision {
  return policy.decide(entrypoint, policyInput(principal, query));
}

/** The input document of a policy question (also for callers that memoise answers, as route authz does). */
export function policyInput(principal: Principal, query: DecisionQuery): Record<string, unknown> {
  return {
    principal: { role: principal.role, id: principal.id, authn: principal.authn },
    action: query.action,
    ...(query.tenant !== undefined ? { tenant: query.tenant } : {}),
    ...(query.resource !== undefined ? { resource: query.resource } : {}),
    ...(query.facts !== undefined ? { facts: query.facts } : {}),
  };
}

/** The error a denial answers with: 503 TG_ERR_POLICY_UNAVAILABLE without a policy, else 403 TG_ERR_POLICY_DENIED. */
export function refusalOf(decision: Decision): TgError {
  if (decision.reasons.includes('policy_unavailable')) return new TgError(Errors.POLICY_UNAVAILABLE);
  return new TgError(Errors.POLICY_DENIED, { reasons: decision.reasons });
}
