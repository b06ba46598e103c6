/**
 * The one error catalogue. Codes are stable API: callers and dashboards match on them, so a code
 * is never renamed or reused. Messages tell the caller what to do next; they never echo request
 * content, key material or another tenant's identifier (L1).
 */
export interface ErrorSpec {
  readonly code: `TG_ERR_${string}`;
  readonly status: number;
  readonly message: string;
}

export const Errors = {
  // 400: the request itself is wrong
  BAD_REQUEST: { code: 'TG_ERR_BAD_REQUEST', status: 400, message: 'request body or parameters are invalid' },
  BAD_JSON: { code: 'TG_ERR_BAD_JSON', status: 400, message: 'request body is not valid JSON' },
  DUPLICATE_AUTHORIZATION: { code: 'TG_ERR_DUPLICATE_AUTHORIZATION', status: 400, message: 'the request carries more than one Authorization header; send exactly one (or none when a client certificate is used)' },
  // 401: who is calling is not proven
  NO_CREDENTIALS: { code: 'TG_ERR_NO_CREDENTIALS', status: 401, message: 'no client certificate or bearer API key was presented' },
  CERT_UNTRUSTED: { code: 'TG_ERR_CERT_UNTRUSTED', status: 401, message: 'client certificate is not issued by the trusted CA' },
  CERT_EXPIRED: { code: 'TG_ERR_CERT_EXPIRED', status: 401, message: 'client certificate has expired; renew it with `tenantguard pki issue`' },
  CERT_NOT_YET_VALID: { code: 'TG_ERR_CERT_NOT_YET_VALID', status: 401, message: 'client certificate is not valid yet; check the clocks' },
  CERT_REVOKED: { code: 'TG_ERR_CERT_REVOKED', status: 401, message: 'client certificate has been revoked' },
  BAD_SPIFFE_ID: { code: 'TG_ERR_BAD_SPIFFE_ID', status: 401, message: 'client certificate must carry exactly one URI SAN spiffe://<trust-domain>/<role>/<id> of this trust domain' },
  CERT_NOT_SVID: { code: 'TG_ERR_CERT_NOT_SVID', status: 401, message: 'client certificate is not an X.509-SVID client certificate (it must not be a CA, needs keyUsage digitalSignature without keyCertSign/cRLSign, extended key usage clientAuth, and no SAN but its one spiffe:// URI; `reasons` says which rule failed); issue it with `tenantguard pki issue`' },
  UNKNOWN_API_KEY: { code: 'TG_ERR_UNKNOWN_API_KEY', status: 401, message: 'bearer API key is not recognised' },
  // 403: proven, but not allowed
  ROLE_DENIED: { code: 'TG_ERR_ROLE_DENIED', status: 403, message: 'this principal may not call this route' },
  MTLS_REQUIRED: { code: 'TG_ERR_MTLS_REQUIRED', status: 403, message: 'this tenant tier must authenticate with an mTLS client certificate' },
  POLICY_DENIED: { code: 'TG_ERR_POLICY_DENIED', status: 403, message: 'denied by policy' },
  NOT_OWNER: { code: 'TG_ERR_NOT_OWNER', status: 403, message: 'one or more blocks are not owned by this tenant' },
  // 404 / 409 / 413 / 429
  NOT_FOUND: { code: 'TG_ERR_NOT_FOUND', status: 404, message: 'no such resource' },
  UNKNOWN_TENANT: { code: 'TG_ERR_UNKNOWN_TENANT', status: 404, message: 'tenant is not registered' },
  UNKNOWN_CACHE_SALT: { code: 'TG_ERR_UNKNOWN_CACHE_SALT', status: 404, message: 'no live tenant has this cache salt (forged, or the tenant was erased); fetch the tenant\'s current salt from GET /v1/tenants/{id}/cache-salt' },
  CONFLICT: { code: 'TG_ERR_CONFLICT', status: 409, message: 'the request conflicts with the current state' },
  BLOCK_STATE: { code: 'TG_ERR_BLOCK_STATE', status: 409, message: 'one or more blocks are not in a state that allows this operation' },
  SCRUB_PENDING: { code: 'TG_ERR_SCRUB_PENDING', status: 409, message: 'block still holds another tenant\'s data; zero it and confirm with POST /v1/blocks/scrubbed before reading' },
  SCRUB_STALE: { code: 'TG_ERR_SCRUB_STALE', status: 409, message: 'scrub confirmation names an earlier use (epoch) of the block: it was freed or reused since, so this zeroing does not cover the data in it now; confirm with the epoch of its current use' },
  /**
   * Issue 17.5: retries are idempotent per tenant and request_id; the same id with another body
   * while the first answer is still live is refused, never answered with the first answer.
   */
  IDEMPOTENCY_CONFLICT: { code: 'TG_ERR_IDEMPOTENCY_CONFLICT', status: 409, message: 'this request_id already names another request of this tenant (a different count or max_tokens) that is still live; a retry must repeat the original body exactly, a new request needs a new request_id' },
  TOO_LARGE: { code: 'TG_ERR_TOO_LARGE', status: 413, message: 'request body is larger than allowed' },
  // 422: the request is well-formed but can never succeed, however long the caller waits (issue 17.4)
  MAX_TOKENS_OVER_LIMIT: { code: 'TG_ERR_MAX_TOKENS_OVER_LIMIT', status: 422, message: "max_tokens alone is more than the tenant's tokens-per-minute limit, so this request can never be admitted; do not retry it: lower max_tokens or split the request (or ask the operator for a higher tier)" },
  COUNT_OVER_LIMIT: { code: 'TG_ERR_COUNT_OVER_LIMIT', status: 422, message: "count alone is more than the tenant's KV block quota (count_over_quota) or than its pool holds (count_over_pool), so this allocation can never be granted; do not retry it: allocate fewer blocks per call" },
  QUOTA: { code: 'TG_ERR_QUOTA', status: 429, message: 'KV block quota exceeded; free blocks before allocating more' },
  POOL_EXHAUSTED: { code: 'TG_ERR_POOL_EXHAUSTED', status: 429, message: 'no free blocks in the pool; retry after blocks are freed' },
  ADAPTER_LIMIT: { code: 'TG_ERR_ADAPTER_LIMIT', status: 429, message: 'tenant holds as many registered adapters as its tier allows; re-register one of its adapter ids to replace it, or ask the operator for a higher tier' },
  // admission (per-tenant limits, worker capacity)
  CONCURRENCY_LIMIT: { code: 'TG_ERR_CONCURRENCY_LIMIT', status: 429, message: 'tenant has as many requests admitted or queued as its tier allows; retry after one completes' },
  TOKEN_LIMIT: { code: 'TG_ERR_TOKEN_LIMIT', status: 429, message: 'tenant tokens-per-minute limit reached (or the request alone exceeds it); retry after Retry-After' },
  QUEUE_TIMEOUT: { code: 'TG_ERR_QUEUE_TIMEOUT', status: 429, message: 'no worker capacity came free within the queue wait limit; retry after Retry-After' },
  DUPLICATE_REQUEST: { code: 'TG_ERR_DUPLICATE_REQUEST', status: 409, message: 'request id is already admitted or queued; complete it first or use a new id' },
  UNKNOWN_REQUEST: { code: 'TG_ERR_UNKNOWN_REQUEST', status: 404, message: 'no admitted request has this id (never admitted, still queued, already completed, or reclaimed after the request timeout)' },
  SHUTTING_DOWN: { code: 'TG_ERR_SHUTTING_DOWN', status: 503, message: 'sidecar is shutting down; retry on another worker' },
  // 500 / 503: our side
  INTERNAL: { code: 'TG_ERR_INTERNAL', status: 500, message: 'internal error; the operation was not applied' },
  POLICY_UNAVAILABLE: { code: 'TG_ERR_POLICY_UNAVAILABLE', status: 503, message: 'no policy bundle is loaded; refusing all decisions' },
  AUDIT_DOWN: { code: 'TG_ERR_AUDIT_DOWN', status: 503, message: 'audit log unwritable; refusing state changes' },
  AUDIT_RECORD_INVALID: { code: 'TG_ERR_AUDIT_RECORD_INVALID', status: 500, message: 'audit event does not fit the content-free audit schema; the operation was not applied' },
  STORAGE_DOWN: { code: 'TG_ERR_STORAGE_DOWN', status: 503, message: 'keystore or offload storage refused the write; nothing was changed. Check the disk under paths.keystore / paths.offload, then retry' },
  AUDIT_CORRUPT: { code: 'TG_ERR_AUDIT_CORRUPT', status: 500, message: 'audit log failed its integrity check; run `tenantguard audit verify` and investigate before continuing' },
  // keys and encrypted offload (K1, I6)
  TENANT_ERASED: { code: 'TG_ERR_TENANT_ERASED', status: 410, message: 'tenant was erased (crypto-shredded); its keys and offloaded data are gone and the id cannot be reused' },
  DATA_KEY_INVALID: { code: 'TG_ERR_DATA_KEY_INVALID', status: 400, message: 'wrapped data key failed authentication for this tenant; request a new data key' },
  OFFLOAD_AUTH_FAILED: { code: 'TG_ERR_OFFLOAD_AUTH_FAILED', status: 409, message: 'offloaded block failed authentication and was not returned; treat it as missing and recompute it' },
  /** Issue 20.9: an authentic blob that is not the latest one the audit log recorded (rolled back, or deleted and put back). */
  OFFLOAD_STALE: { code: 'TG_ERR_OFFLOAD_STALE', status: 409, message: 'offloaded block is not the latest version recorded for its block key (an older copy was put back, or it was deleted) and was not returned; treat it as missing and put it again' },
  AUDIT_KEY_INVALID: { code: 'TG_ERR_AUDIT_KEY_INVALID', status: 500, message: 'audit MAC key file must hold exactly 32 bytes as base64 and be readable by its owner only (chmod 600); it is created with the audit log and cannot be replaced while the log has records' },
  MASTER_KEY_INVALID: { code: 'TG_ERR_MASTER_KEY_INVALID', status: 500, message: 'master key file must hold exactly 32 bytes as base64 and be readable by its owner only (chmod 600); run `tenantguard init`' },
  KEYSTORE_INVALID: { code: 'TG_ERR_KEYSTORE_INVALID', status: 500, message: 'keystore file is malformed or was written under another master key; restore it from backup with its master key' },
  // CLI / config (exit codes, no HTTP status is sent)
  CONFIG_INVALID: { code: 'TG_ERR_CONFIG_INVALID', status: 400, message: 'configuration is invalid' },
  BUNDLE_INVALID: { code: 'TG_ERR_BUNDLE_INVALID', status: 400, message: 'policy bundle is invalid' },
  PKI_EXISTS: { code: 'TG_ERR_PKI_EXISTS', status: 409, message: 'a CA already exists in this directory; replacing it untrusts every issued certificate, pass --force to do so' },
  STATE_LOCKED: { code: 'TG_ERR_STATE_LOCKED', status: 409, message: 'another tenantguard process is using this state directory; stop it first (two writers would fork the audit chain)' },
  PKI_INVALID: { code: 'TG_ERR_PKI_INVALID', status: 400, message: 'PKI directory is missing files, or the CA certificate and key do not match; run `tenantguard init`' },
  /** Issue 17.7: `audit verify` was given a path that does not exist (it exited 70 with a raw ENOENT). */
  AUDIT_PATH_MISSING: { code: 'TG_ERR_AUDIT_PATH_MISSING', status: 400, message: 'audit log path does not exist; give the audit directory (paths.audit of the config) or segment files in it' },
  /** Issue 17.8: `pki revoke` of a serial this CA never issued (a typo) was accepted silently. */
  PKI_UNKNOWN_SERIAL: { code: 'TG_ERR_PKI_UNKNOWN_SERIAL', status: 404, message: 'no certificate with this serial number was issued in this PKI directory; see `tenantguard pki list`' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorName = keyof typeof Errors;

export interface ErrorBody {
  error: { code: string; message: string; reasons?: string[]; [detail: string]: unknown };
}

export class TgError extends Error {
  readonly code: string;
  readonly status: number;
  readonly reasons: readonly string[];
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    spec: ErrorSpec,
    options: { message?: string; reasons?: readonly string[]; details?: Record<string, unknown> } = {},
  ) {
    super(options.message ?? spec.message);
    this.name = 'TgError';
    this.code = spec.code;
    this.status = spec.status;
    this.reasons = options.reasons ?? [];
    this.details = options.details ?? {};
  }

  toBody(): ErrorBody {
    const body: ErrorBody = { error: { ...this.details, code: this.code, message: this.message } };
    if (this.reasons.length > 0) body.error.reasons = [...this.reasons];
    return body;
  }
}

export function isTgError(value: unknown): value is TgError {
  return value instanceof TgError;
}

/** An error from a file-system call (ENOSPC, EIO, EISDIR, EROFS, ...), as opposed to a refusal or a bug. */
export function isFileSystemError(error: unknown): boolean {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).syscall === 'string';
}
