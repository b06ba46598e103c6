import type { SidecarConfig } from '../config/index.js';

/** The tenant registry as policy data (`data.tenants`, `data.limits`): set once per registry change. */
export function registryData(config: SidecarConfig): Record<string, unknown> {
  return {
    tenants: Object.fromEntries(config.tenants.map((t) => [t.id, { tier: t.tier, pool: t.pool, quota_blocks: t.quotaBlocks, priority: t.limits.priority }])),
    limits: { max_blocks_per_call: config.limits.maxBlocksPerCall },
  };
}
