import { Errors, TgError } from '../errors.js';
import type { TenantConfig } from './load-config.js';

/**
 * The live tenant registry: the config's tenants minus those erased (crypto-shredded). An erased
 * id is refused everywhere from the moment of erasure, and can never come back under that id.
 */
export class TenantRegistry {
  private readonly byId: Map<string, TenantConfig>;
  private readonly erased = new Set<string>();

  constructor(tenants: readonly TenantConfig[]) {
    this.byId = new Map(tenants.map((t) => [t.id, t]));
  }

  get(id: string): TenantConfig | undefined {
    return this.erased.has(id) ? undefined : this.byId.get(id);
  }

  /** The tenant, or UNKNOWN_TENANT (404) / TENANT_ERASED (410). */
  require(id: string): TenantConfig {
    if (this.erased.has(id)) throw new TgError(Errors.TENANT_ERASED);
    const tenant = this.byId.get(id);
    if (!tenant) throw new TgError(Errors.UNKNOWN_TENANT);
    return tenant;
  }

  has(id: string): boolean {
    return this.get(id) !== undefined;
  }

  isErased(id: string): boolean {
    return this.erased.has(id);
  }

  erase(id: string): void {
    this.erased.add(id);
  }

  /** Only for undoing an erasure whose audit record could not be written. */
  restore(id: string): void {
    this.erased.delete(id);
  }

  /** Live tenants, in config order. */
  all(): TenantConfig[] {
    return [...this.byId.values()].filter((t) => !this.erased.has(t.id));
  }

  ids(): string[] {
    return this.all().map((t) => t.id);
  }
}
