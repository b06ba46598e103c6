import type { SidecarConfig, TenantRegistry } from '../config/index.js';

/** The tenant registry as policy data (`data.tenants`, `data.limits`): set once per registry change. */
export function registryData(config: SidecarConfig, registry: TenantRegistry): Record<string, unknown> {
  return {
    tenants: Object.fromEntries(registry.all().map((t) => [t.id, { tier: t.tier, pool: t.pool, quota_blocks: t.quotaBlocks, priority: t.limits.priority }])),
    limits: { max_blocks_per_call: config.limits.maxBlocksPerCall },
  };
}
