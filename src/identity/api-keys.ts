import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Errors, TgError } from '../errors.js';
import type { Principal } from './principal.js';

const KEY_PREFIX = 'tg_';

/** A new high-entropy API key (256 bits). Shown once; only its SHA-256 is ever stored. */
export function generateApiKey(): { key: string; sha256: string } {
  const key = `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
  return { key, sha256: sha256Hex(key) };
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/**
 * Tenant API keys by digest. The lookup is keyed by SHA-256 of the presented key, so timing only
 * depends on a digest the caller cannot steer; the final comparison is constant-time anyway.
 */
export class ApiKeyRegistry {
  private readonly byDigest = new Map<string, { tenant: string; digest: Buffer }>();

  constructor(entries: Iterable<{ tenant: string; sha256: string }>) {
    this.add(entries);
  }

  /** Forgets every key of a tenant (erasure): its keys stop working at once. Returns them for `add`. */
  removeTenant(tenant: string): Array<{ tenant: string; sha256: string }> {
    const removed: Array<{ tenant: string; sha256: string }> = [];
    for (const [sha256, entry] of this.byDigest) {
      if (entry.tenant !== tenant) continue;
      this.byDigest.delete(sha256);
      removed.push({ tenant, sha256 });
    }
    return removed;
  }

  add(entries: Iterable<{ tenant: string; sha256: string }>): void {
    for (const { tenant, sha256 } of entries) this.byDigest.set(sha256, { tenant, digest: Buffer.from(sha256, 'hex') });
  }

  /** Parses `Authorization: Bearer <key>`; returns null when no bearer key was presented. */
  authenticate(authorization: string | undefined): Principal | null {
    if (authorization === undefined) return null;
    const match = /^Bearer ([A-Za-z0-9_-]{1,256})$/.exec(authorization.trim());
    if (!match) throw new TgError(Errors.UNKNOWN_API_KEY);
    const presented = createHash('sha256').update(match[1]!, 'utf8').digest();
    const entry = this.byDigest.get(presented.toString('hex'));
    if (!entry || !timingSafeEqual(entry.digest, presented)) throw new TgError(Errors.UNKNOWN_API_KEY);
    return { role: 'tenant', id: entry.tenant, authn: 'api_key' };
  }
}
