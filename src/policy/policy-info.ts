import type { LoadedBundleInfo } from './policy-engine.js';

/**
 * The one wire shape of a loaded bundle's identity (issue 17.9a): `GET /v1/policy` and
 * `tenantguard policy info` both print exactly this, snake_case like the rest of the API.
 */
export interface PolicyInfoView {
  readonly revision: string;
  readonly sha256: string;
  readonly entrypoints: readonly string[];
  readonly loaded_at: string;
  readonly signature_verified: boolean;
}

export function policyInfoView(info: LoadedBundleInfo): PolicyInfoView {
  return {
    revision: info.revision,
    sha256: info.sha256,
    entrypoints: info.entrypoints,
    loaded_at: info.loadedAt.toISOString(),
    signature_verified: info.signatureVerified,
  };
}
