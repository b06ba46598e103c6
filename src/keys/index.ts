/**
 * The keys component (K1, I6): master key → versioned per-tenant KEKs → data keys and cache salts,
 * rotation, crypto-shred, and the encrypted offload store. Everything else in this folder is
 * private.
 */
export { loadMasterKey } from './master-key.js';
export { KeyStore, type DataKey, type TenantKeyInfo } from './key-store.js';
export { OffloadStore, type BlobSource, type OffloadStoreOptions, type PutOptions, type PutResult, type SweepResult } from './offload-store.js';
export { blobGeneration, openBlob, sealBlob, BLOB_OVERHEAD_BYTES } from './blob-codec.js';
export { BlobVersions } from './blob-versions.js';
export { deriveKey, lengthPrefixed } from './encoding.js';
export { BLOCK_KEY_PATTERN, TENANT_ID_PATTERN } from './ids.js';
