import { TENANT_ID_PATTERN } from '../ids.js';
import { REQUEST_ID_PATTERN } from './schemas.js';

/*
 * Prechecks: an exact, allocation-free restatement of the zod schemas in schemas.ts for bodies that
 * pass. A body the precheck does not accept goes through zod, which accepts or refuses it with its
 * own messages; so the precheck can only ever be stricter than zod, never looser.
 */
const TENANT = TENANT_ID_PATTERN;
const REQUEST_ID = REQUEST_ID_PATTERN;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype;
}

/** Only `allowed` keys, and each of `required` present (own keys only: JSON.parse makes no others). */
function hasExactKeys(value: Record<string, unknown>, required: readonly string[], optional: readonly string[] = []): boolean {
  let seen = 0;
  for (const key in value) {
    if (!Object.prototype.hasOwnProperty.call(value, key)) return false;
    if (required.includes(key)) seen++;
    else if (!optional.includes(key)) return false;
  }
  return seen === required.length;
}

function isBlockIds(value: unknown, max: number): value is number[] {
  if (!Array.isArray(value) || value.length < 1 || value.length > max) return false;
  for (const id of value) {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0 || id > 2 ** 31 - 1) return false;
  }
  return true;
}

export function precheckAllocate(body: unknown, max: number): { tenant: string; request_id: string; count: number } | null {
  if (!isPlainObject(body) || !hasExactKeys(body, ['tenant', 'request_id', 'count'])) return null;
  const { tenant, request_id: requestId, count } = body;
  if (typeof tenant !== 'string' || !TENANT.test(tenant) || typeof requestId !== 'string' || !REQUEST_ID.test(requestId)) return null;
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 1 || count > max) return null;
  return { tenant, request_id: requestId, count };
}

export function precheckFree(body: unknown, max: number): { tenant: string; blocks: number[]; cache: boolean } | null {
  if (!isPlainObject(body) || !hasExactKeys(body, ['tenant', 'blocks'], ['cache'])) return null;
  const { tenant, blocks, cache = false } = body;
  if (typeof tenant !== 'string' || !TENANT.test(tenant) || !isBlockIds(blocks, max) || typeof cache !== 'boolean') return null;
  return { tenant, blocks, cache };
}

export function precheckScrubbed(body: unknown, max: number): { blocks: number[]; epochs: number[] } | null {
  if (!isPlainObject(body) || !hasExactKeys(body, ['blocks', 'epochs'])) return null;
  const { blocks, epochs } = body;
  if (!isBlockIds(blocks, max) || !Array.isArray(epochs) || epochs.length !== blocks.length) return null;
  for (const epoch of epochs) if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0xffffffff) return null;
  return { blocks, epochs: epochs as number[] };
}

export function precheckAccess(body: unknown, max: number): { tenant: string; blocks: number[]; mode: 'read' | 'prefix_hit' } | null {
  if (!isPlainObject(body) || !hasExactKeys(body, ['tenant', 'blocks', 'mode'])) return null;
  const { tenant, blocks, mode } = body;
  if (typeof tenant !== 'string' || !TENANT.test(tenant) || !isBlockIds(blocks, max)) return null;
  if (mode !== 'read' && mode !== 'prefix_hit') return null;
  return { tenant, blocks, mode };
}

