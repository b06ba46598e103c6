/**
 * Tier defaults: the one tier table (docs/design.md, Principals). Policy data.json carries the same table,
 * except `maxAdapters`, which only the sidecar enforces (policy never sees it).
 */
export type TierName = 'free' | 'standard' | 'enterprise';

export interface TierLimits {
  readonly concurrent: number;
  readonly tokensPerMinute: number;
  readonly kvQuotaBytes: number;
  readonly dedicatedPool: boolean;
  readonly encryptedKv: boolean;
  readonly mtlsRequired: boolean;
  readonly priority: number;
  /**
   * LoRA adapters a tenant may hold registered (public ones included): registrations are kept in
   * memory and replayed at every start, so they are bounded per tenant (issue 20.5).
   */
  readonly maxAdapters: number;
}

const GB = 1024 ** 3;

export const TIERS: Readonly<Record<TierName, TierLimits>> = {
  free: { concurrent: 4, tokensPerMinute: 10_000, kvQuotaBytes: 1 * GB, dedicatedPool: false, encryptedKv: false, mtlsRequired: false, priority: 5, maxAdapters: 16 },
  standard: { concurrent: 64, tokensPerMinute: 100_000, kvQuotaBytes: 10 * GB, dedicatedPool: false, encryptedKv: false, mtlsRequired: false, priority: 3, maxAdapters: 256 },
  enterprise: { concurrent: 256, tokensPerMinute: 1_000_000, kvQuotaBytes: 80 * GB, dedicatedPool: true, encryptedKv: true, mtlsRequired: true, priority: 1, maxAdapters: 4096 },
};

export const TIER_NAMES = Object.keys(TIERS) as TierName[];
