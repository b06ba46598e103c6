/** Maps admission results to the one error catalogue, so every route reports them the same way. */
import { Errors, type ErrorSpec } from '../errors.js';
import type { AdmissionDenialReason } from './types.js';

const BY_REASON: Readonly<Record<AdmissionDenialReason | 'unknown_request', ErrorSpec>> = {
  concurrent_limit: Errors.CONCURRENCY_LIMIT,
  token_limit: Errors.TOKEN_LIMIT,
  queue_timeout: Errors.QUEUE_TIMEOUT,
  duplicate_request: Errors.DUPLICATE_REQUEST,
  shutting_down: Errors.SHUTTING_DOWN,
  tenant_removed: Errors.UNKNOWN_TENANT,
  unknown_request: Errors.UNKNOWN_REQUEST,
};

/** The catalogue entry for a denial; send `retryAfterMs` as Retry-After (seconds, rounded up). */
export function admissionErrorFor(reason: AdmissionDenialReason | 'unknown_request'): ErrorSpec {
  return BY_REASON[reason];
}
