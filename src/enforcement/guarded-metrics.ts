import type { TenantRegistry } from '../config/index.js';
import type { Principal } from '../identity/index.js';
import type { TenantMetrics } from '../metrics/index.js';
import { Entrypoints, type PolicyEngine } from '../policy/index.js';
import { askPolicy, refusalOf } from './policy-decision.js';

type Scope = 'own' | 'tenant' | 'aggregate' | 'prometheus';

/**
 * Metrics views (M1), decided like every other guarded component: the route is authorized by
 * `tenantguard.authz`, the view's scope by `tenantguard.metrics`. A tenant gets only its own
 * figures; operators get aggregate, per-tenant and Prometheus views.
 */
export class GuardedMetrics {
  constructor(
    private readonly metrics: TenantMetrics,
    private readonly policy: PolicyEngine,
    private readonly tenants: TenantRegistry,
  ) {}

  /** The caller's view: a tenant's own figures, or the aggregate for an operator. */
  async callerView(principal: Principal): Promise<unknown> {
    if (principal.role === 'operator') {
      this.checkScope(principal, 'aggregate');
      return this.metrics.aggregateView(this.tenants.ids());
    }
    this.checkScope(principal, 'own', principal.id);
    return this.metrics.tenantView(principal.id);
  }

  async tenantView(principal: Principal, tenant: string): Promise<unknown> {
    this.checkScope(principal, 'tenant', tenant);
    this.tenants.require(tenant);
    return this.metrics.tenantView(tenant);
  }

  async prometheus(principal: Principal): Promise<{ contentType: string; text: string }> {
    this.checkScope(principal, 'prometheus');
    return { contentType: this.metrics.contentType, text: await this.metrics.prometheusText() };
  }

  private checkScope(principal: Principal, scope: Scope, tenant?: string): void {
    const decision = askPolicy(this.policy, Entrypoints.metrics, principal, { action: 'metrics.read', tenant, resource: { scope, fields: [] } });
    if (!decision.allow) throw refusalOf(decision);
  }
}
