export { TenantMetrics } from './tenant-metrics.js';
export type { BlockUsageSource, HistogramView, TenantView } from './tenant-metrics.js';
