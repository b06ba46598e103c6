import type { Readable } from 'node:stream';
import type { TenantRegistry } from '../config/index.js';
import { Errors, isFileSystemError, TgError } from '../errors.js';
import type { Principal } from '../identity/index.js';
import type { KeyStore, OffloadStore } from '../keys/index.js';
import { Entrypoints, type PolicyEngine } from '../policy/index.js';
import type { AuditTrail, EventParts } from './audit-trail.js';
import { askPolicy, refusalOf } from './policy-decision.js';

export type KeyAction = 'keys.datakey' | 'keys.unwrap' | 'keys.cache_salt' | 'keys.cache_salt_lookup' | 'offload.put' | 'offload.get' | 'offload.delete' | 'keys.rotate';

/**
 * Per-tenant keys and sealed KV offload (K1, I6), each call decided by `tenantguard.keys` and
 * recorded. Records carry tenant, action, key version and byte counts (offload puts and deletes
 * also the block key, an identifier, and the blob generation: replay needs them, issue 20.9): never
 * a key, a salt or a byte of KV data (L1).
 */
export class GuardedKeys {
  constructor(
    private readonly keys: KeyStore,
    private readonly offload: OffloadStore,
    private readonly policy: PolicyEngine,
    private readonly trail: AuditTrail,
    private readonly tenants: TenantRegistry,
  ) {}

  async dataKey(principal: Principal, tenant: string): Promise<{ tenant: string; version: number; plaintext: string; wrapped: string }> {
    await this.check(principal, 'keys.datakey', tenant);
    const key = this.keys.generateDataKey(tenant);
    await this.trail.recordChange(this.event(principal, 'keys.datakey', tenant, { version: key.version }), () => undefined);
    const plaintext = key.plaintext.toString('base64');
    key.plaintext.fill(0);
    return { tenant, version: key.version, plaintext, wrapped: key.wrapped };
  }

  async unwrap(principal: Principal, tenant: string, wrapped: string): Promise<{ tenant: string; plaintext: string }> {
    await this.check(principal, 'keys.unwrap', tenant);
    const key = this.keys.unwrapDataKey(tenant, wrapped);
    await this.trail.recordChange(this.event(principal, 'keys.unwrap', tenant, {}), () => undefined);
    const plaintext = key.toString('base64');
    key.fill(0);
    return { tenant, plaintext };
  }

  async cacheSalt(principal: Principal, tenant: string): Promise<{ tenant: string; version: number; cache_salt: string }> {
    await this.check(principal, 'keys.cache_salt', tenant);
    const salt = this.keys.cacheSalt(tenant);
    const version = this.keys.currentVersion(tenant);
    await this.trail.recordChange(this.event(principal, 'keys.cache_salt', tenant, { version }), () => undefined);
    return { tenant, version, cache_salt: salt };
  }

  /**
   * The tenant a sidecar-issued cache salt belongs to: how an engine attributes a request (I6)
   * without trusting anything the client sent. Decided per found tenant like a salt fetch; an
   * unknown salt is refused (and recorded) without saying anything about the salt.
   */
  async tenantForCacheSalt(principal: Principal, salt: string): Promise<{ tenant: string; version: number }> {
    const found = this.keys.tenantForCacheSalt(salt);
    if (found === undefined) {
      await this.trail.recordDenial({ principal, action: 'keys.cache_salt_lookup' }, ['unknown_cache_salt']);
      throw new TgError(Errors.UNKNOWN_CACHE_SALT);
    }
    await this.check(principal, 'keys.cache_salt_lookup', found.tenant);
    await this.trail.recordChange(this.event(principal, 'keys.cache_salt_lookup', found.tenant, { version: found.version }), () => undefined);
    return found;
  }

  async put(principal: Principal, tenant: string, blockKey: string, actingFor: string | undefined, body: Readable, maxBytes: number): Promise<{ bytes: number; version: number }> {
    await this.check(principal, 'offload.put', tenant, { acting_for: actingFor, sealed: true });
    // Write-ahead: the record is durable before the blob replaces the previous one, so an
    // unwritable log refuses the put and leaves the old blob (or none) in place.
    // The record names the block key and the blob's generation: replay restores the latest
    // generation of every blob from it, so an older copy put back is refused (issue 20.9).
    const result = await this.writeAhead(principal, 'offload.put', tenant, (record) =>
      this.offload.put(tenant, blockKey, body, {
        maxBytes,
        beforeCommit: (sealed) => record({ bytes: sealed.bytes, version: sealed.version, generation: sealed.generation }, { block_key: this.trail.recordedId('blob', tenant, blockKey) }),
      }),
    );
    return { bytes: result.bytes, version: result.version };
  }

  async get(principal: Principal, tenant: string, blockKey: string, actingFor: string | undefined): Promise<Buffer> {
    await this.check(principal, 'offload.get', tenant, { acting_for: actingFor });
    let bytes: Buffer;
    try {
      bytes = await this.offload.get(tenant, blockKey);
    } catch (error) {
      // A rolled-back blob is evidence of tampering with the offload tier: recorded (issue 20.9).
      if (error instanceof TgError && error.code === Errors.OFFLOAD_STALE.code) await this.trail.recordDenial(this.event(principal, 'offload.get', tenant, {}), ['stale_blob']);
      throw error;
    }
    await this.trail.recordChange(this.event(principal, 'offload.get', tenant, { bytes: bytes.length }), () => undefined);
    return bytes;
  }

  async delete(principal: Principal, tenant: string, blockKey: string, actingFor: string | undefined): Promise<boolean> {
    await this.check(principal, 'offload.delete', tenant, { acting_for: actingFor });
    // Write-ahead, as for put: a blob is removed only once the record of its removal is durable.
    return this.writeAhead(principal, 'offload.delete', tenant, async (record) => {
      const deleted = await this.offload.delete(tenant, blockKey, () => record({ deleted: 1 }, { block_key: this.trail.recordedId('blob', tenant, blockKey) }));
      if (!deleted) await record({ deleted: 0 });
      return deleted;
    });
  }

  /** Adds a key version for new data; old versions keep opening old data. */
  async rotate(principal: Principal, tenant: string): Promise<{ tenant: string; version: number }> {
    await this.check(principal, 'keys.rotate', tenant);
    // Write-ahead: the new version exists only once its record is durable (an unwritable log
    // refuses the rotation and leaves the keystore untouched).
    const version = await this.writeAhead(principal, 'keys.rotate', tenant, (record) => this.keys.rotate(tenant, (next) => record({ version: next })));
    return { tenant, version };
  }

  /**
   * A write-ahead change: `apply` calls `record` to make the record durable before it does
   * anything irreversible. A storage failure is 503 STORAGE_DOWN, not a 500. If the record was
   * already durable when storage failed, the change did not happen although the log says it was
   * allowed: a second record (deny, `storage_failed`, `effects.aborts` = the first one's seq) says
   * so, and the log stays true (L2 covers both). If that record cannot be written either, the
   * audit log is down and refuses everything from then on.
   */
  private async writeAhead<T>(
    principal: Principal,
    action: KeyAction,
    tenant: string,
    apply: (record: (counts: Record<string, number>, effects?: Record<string, string>) => Promise<void>) => Promise<T>,
  ): Promise<T> {
    let recordedSeq: number | null = null;
    const record = async (counts: Record<string, number>, effects?: Record<string, string>): Promise<void> => {
      recordedSeq = await this.trail.recordChange({ ...this.event(principal, action, tenant, counts), ...(effects ? { effects } : {}) }, () => undefined);
    };
    try {
      return await apply(record);
    } catch (error) {
      if (recordedSeq !== null) {
        await this.trail.recordDenial({ ...this.event(principal, action, tenant, {}), effects: { aborts: recordedSeq } }, ['storage_failed']).catch(() => undefined);
      }
      throw isFileSystemError(error) ? new TgError(Errors.STORAGE_DOWN) : error;
    }
  }

  private async check(principal: Principal, action: KeyAction, tenant: string, facts: Record<string, unknown> = {}): Promise<void> {
    this.tenants.require(tenant);
    const decision = askPolicy(this.policy, Entrypoints.keys, principal, { action, tenant, facts: { ...facts, erased: this.keys.isErased(tenant) } });
    if (decision.allow) return;
    if (decision.reasons.includes('policy_unavailable')) throw refusalOf(decision);
    // A worker reaching into another tenant's namespace is a K1 violation, recorded as critical.
    await this.trail.recordDenial(this.event(principal, action, tenant, {}), decision.reasons, decision.reasons.includes('cross_tenant'));
    throw refusalOf(decision);
  }

  private event(principal: Principal, action: string, tenant: string, counts: Record<string, number>): EventParts {
    return { principal, action, tenant, counts };
  }
}
