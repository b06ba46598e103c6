import { SIGNING_ALGORITHMS } from '../policy/bundle-signature.js';
import { z } from 'zod';
import { TENANT_ID_PATTERN, TRUST_DOMAIN_PATTERN } from '../ids.js';
import { TIER_NAMES } from './tiers.js';


const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();

export const tenantSchema = z
  .strictObject({
    id: z.string().regex(TENANT_ID_PATTERN, 'tenant id must be lowercase letters, digits and dashes (1-63 chars)'),
    tier: z.enum(TIER_NAMES as [string, ...string[]]),
    api_key_sha256: z.array(z.string().regex(/^[0-9a-f]{64}$/, 'must be a hex SHA-256 digest')).default([]),
    overrides: z
      .strictObject({
        concurrent: positiveInt.optional(),
        tokens_per_minute: positiveInt.optional(),
        kv_quota_bytes: positiveInt.optional(),
        priority: z.number().int().min(1).max(5).optional(),
      })
      .default({}),
  });

export const poolSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'pool name must be lowercase letters, digits and dashes'),
  first: nonNegativeInt,
  last: nonNegativeInt,
  dedicated_to: z.string().regex(TENANT_ID_PATTERN).optional(),
});

export const configSchema = z.strictObject({
  trust_domain: z.string().regex(TRUST_DOMAIN_PATTERN, 'trust domain must be a SPIFFE trust domain: lowercase letters, digits, dots, dashes and underscores'),
  listen: z.strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8443),
    unix_socket: z.string().min(1).optional(),
    /** Open connections each listener accepts; more are closed at accept (issue 20.10c). */
    max_connections: z.number().int().min(1).max(1_000_000).default(1024),
  }),
  paths: z.strictObject({
    pki: z.string().min(1),
    master_key: z.string().min(1),
    /** MAC key of the audit chain (L2); default: `audit.key` beside the master key, never inside `audit`. */
    audit_key: z.string().min(1).optional(),
    keystore: z.string().min(1),
    audit: z.string().min(1),
    offload: z.string().min(1).default('./offload'),
    policy_bundle: z.string().min(1).optional(),
  }),
  model: z.strictObject({
    layers: positiveInt,
    kv_heads: positiveInt,
    head_dim: positiveInt,
    dtype: z.enum(['fp32', 'fp16', 'bf16', 'fp8', 'int8']),
    block_tokens: positiveInt,
  }),
  pools: z.array(poolSchema).min(1),
  tenants: z.array(tenantSchema).default([]),
  admission: z
    .strictObject({
      capacity_slots: positiveInt.default(64),
      max_queue_wait_ms: nonNegativeInt.default(2000),
      request_timeout_ms: positiveInt.default(600_000),
    })
    .default({ capacity_slots: 64, max_queue_wait_ms: 2000, request_timeout_ms: 600_000 }),
  /** Signed policy bundles: with `verification`, only bundles signed by this key load (docs/cli.md). */
  policy: z
    .strictObject({
      verification: z
        .strictObject({
          public_key: z.string().min(1),
          algorithm: z.enum(SIGNING_ALGORITHMS).default('RS256'),
          key_id: z.string().min(1).optional(),
        })
        .optional(),
      /** Pull bundles from a bundle server (OPA-style polling with ETag) into paths.policy_bundle. */
      bundle_service: z
        .strictObject({
          url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }),
          ca: z.string().min(1).optional(),
          poll_seconds: z.number().min(0.1).max(86_400).default(60),
        })
        .optional(),
    })
    .default({}),
  limits: z
    .strictObject({
      max_body_bytes: positiveInt.default(1024 * 1024),
      max_blocks_per_call: positiveInt.max(65536).default(4096),
      max_offload_bytes: positiveInt.default(64 * 1024 * 1024),
    })
    .default({ max_body_bytes: 1024 * 1024, max_blocks_per_call: 4096, max_offload_bytes: 64 * 1024 * 1024 }),
});

export type RawConfig = z.infer<typeof configSchema>;
