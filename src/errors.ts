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
  // 401: who is calling is not proven
  NO_CREDENTIALS: { code: 'TG_ERR_NO_CREDENTIALS', status: 401, message: 'no client certificate or bearer API key was presented' },
  CERT_UNTRUSTED: { code: 'TG_ERR_CERT_UNTRUSTED', status: 401, message: 'client certificate is not issued by the trusted CA' },
  CERT_EXPIRED: { code: 'TG_ERR_CERT_EXPIRED', status: 401, message: 'client certificate has expired; renew it with `tenantguard pki issue`' },
  CERT_NOT_YET_VALID: { code: 'TG_ERR_CERT_NOT_YET_VALID', status: 401, message: 'client certificate is not valid yet; check the clocks' },
  CERT_REVOKED: { code: 'TG_ERR_CERT_REVOKED', status: 401, message: 'client certificate has been revoked' },
  BAD_SPIFFE_ID: { code: 'TG_ERR_BAD_SPIFFE_ID', status: 401, message: 'client certificate must carry exactly one URI SAN spiffe://<trust-domain>/<role>/<id> of this trust domain' },
  UNKNOWN_API_KEY: { code: 'TG_ERR_UNKNOWN_API_KEY', status: 401, message: 'bearer API key is not recognised' },
  // 403: proven, but not allowed
  ROLE_DENIED: { code: 'TG_ERR_ROLE_DENIED', status: 403, message: 'this principal may not call this route' },
  MTLS_REQUIRED: { code: 'TG_ERR_MTLS_REQUIRED', status: 403, message: 'this tenant tier must authenticate with an mTLS client certificate' },
  POLICY_DENIED: { code: 'TG_ERR_POLICY_DENIED', status: 403, message: 'denied by policy' },
  NOT_OWNER: { code: 'TG_ERR_NOT_OWNER', status: 403, message: 'one or more blocks are not owned by this tenant' },
  // 404 / 409 / 413 / 429
  NOT_FOUND: { code: 'TG_ERR_NOT_FOUND', status: 404, message: 'no such resource' },
  UNKNOWN_TENANT: { code: 'TG_ERR_UNKNOWN_TENANT', status: 404, message: 'tenant is not registered' },
  CONFLICT: { code: 'TG_ERR_CONFLICT', status: 409, message: 'the request conflicts with the current state' },
  BLOCK_STATE: { code: 'TG_ERR_BLOCK_STATE', status: 409, message: 'one or more blocks are not in a state that allows this operation' },
  SCRUB_PENDING: { code: 'TG_ERR_SCRUB_PENDING', status: 409, message: 'block still holds another tenant\'s data; zero it and confirm with POST /v1/blocks/scrubbed before reading' },
  TOO_LARGE: { code: 'TG_ERR_TOO_LARGE', status: 413, message: 'request body is larger than allowed' },
  QUOTA: { code: 'TG_ERR_QUOTA', status: 429, message: 'KV block quota exceeded; free blocks before allocating more' },
  POOL_EXHAUSTED: { code: 'TG_ERR_POOL_EXHAUSTED', status: 429, message: 'no free blocks in the pool; retry after blocks are freed' },
  // 500 / 503: our side
  INTERNAL: { code: 'TG_ERR_INTERNAL', status: 500, message: 'internal error; the operation was not applied' },
  POLICY_UNAVAILABLE: { code: 'TG_ERR_POLICY_UNAVAILABLE', status: 503, message: 'no policy bundle is loaded; refusing all decisions' },
  AUDIT_DOWN: { code: 'TG_ERR_AUDIT_DOWN', status: 503, message: 'audit log unwritable; refusing state changes' },
  AUDIT_RECORD_INVALID: { code: 'TG_ERR_AUDIT_RECORD_INVALID', status: 500, message: 'audit event does not fit the content-free audit schema; the operation was not applied' },
  AUDIT_CORRUPT: { code: 'TG_ERR_AUDIT_CORRUPT', status: 500, message: 'audit log failed its integrity check; run `tenantguard audit verify` and investigate before continuing' },
  // CLI / config (exit codes, no HTTP status is sent)
  CONFIG_INVALID: { code: 'TG_ERR_CONFIG_INVALID', status: 400, message: 'configuration is invalid' },
  BUNDLE_INVALID: { code: 'TG_ERR_BUNDLE_INVALID', status: 400, message: 'policy bundle is invalid' },
  PKI_EXISTS: { code: 'TG_ERR_PKI_EXISTS', status: 409, message: 'a CA already exists in this directory; replacing it untrusts every issued certificate, pass --force to do so' },
  PKI_INVALID: { code: 'TG_ERR_PKI_INVALID', status: 400, message: 'PKI directory is missing files, or the CA certificate and key do not match; run `tenantguard init`' },
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
