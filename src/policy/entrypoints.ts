/** One entrypoint per policy area; scripts/build-policies.sh compiles each `policies/tenantguard/<area>.rego`. */
export const Entrypoints = {
  authz: 'tenantguard/authz/decision',
  blocks: 'tenantguard/blocks/decision',
  admission: 'tenantguard/admission/decision',
  adapters: 'tenantguard/adapters/decision',
  metrics: 'tenantguard/metrics/decision',
  keys: 'tenantguard/keys/decision',
} as const;

export type Entrypoint = (typeof Entrypoints)[keyof typeof Entrypoints];

export const REQUIRED_ENTRYPOINTS: readonly string[] = Object.values(Entrypoints);
