import { Errors, TgError } from '../errors.js';

import { TENANT_ID_PATTERN } from '../ids.js';

export { TENANT_ID_PATTERN };
/** Block keys become file names (`<blockKey>.blob`); no separators, so no path traversal. */
export const BLOCK_KEY_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

export function assertTenantId(tenant: string): void {
  if (typeof tenant !== 'string' || !TENANT_ID_PATTERN.test(tenant)) {
    throw new TgError(Errors.BAD_REQUEST, { message: 'tenant id must be 1-63 lowercase letters, digits or dashes, starting with a letter or digit' });
  }
}

export function assertBlockKey(blockKey: string): void {
  // "." and ".." are safe with the ".blob" suffix, but refusing them keeps every name obviously inert.
  if (typeof blockKey !== 'string' || !BLOCK_KEY_PATTERN.test(blockKey) || blockKey === '.' || blockKey === '..') {
    throw new TgError(Errors.BAD_REQUEST, { message: 'block key must be 1-128 characters from A-Z a-z 0-9 . _ - (not "." or "..")' });
  }
}
