export { loadConfig, DEFAULT_POLICY_BUNDLE, type SidecarConfig, type TenantConfig, type PoolConfig } from './load-config.js';
export { bytesPerBlock, quotaBlocks, type ModelGeometry, type KvDtype } from './geometry.js';
export { TIERS, TIER_NAMES, type TierName, type TierLimits } from './tiers.js';
export { TenantRegistry } from './tenant-registry.js';
