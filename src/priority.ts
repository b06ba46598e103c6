/**
 * Tenant priority, one scale for every component that orders tenants (issue 13: one home): 1 is
 * the most important, PRIORITY_LEVELS the least. Tiers assign it (src/config/tiers.ts); the ledger
 * evicts cached blocks of the least important level first, admission weighs queues by it.
 */
export const PRIORITY_LEVELS = 5;

export function isPriority(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= PRIORITY_LEVELS;
}
