export { PolicyEngine } from './policy-engine.js';
export type { Decision, LoadedBundleInfo, PolicyEngineOptions, ReloadResult } from './policy-engine.js';
export { parseBundle, BundleError } from './bundle.js';
export type { PolicyBundle, BundleManifest } from './bundle.js';
export { Entrypoints, REQUIRED_ENTRYPOINTS } from './entrypoints.js';
export type { Entrypoint } from './entrypoints.js';
export { loadVerificationKey, SIGNING_ALGORITHMS } from './bundle-signature.js';
export type { BundleVerification, SigningAlgorithm } from './bundle-signature.js';
