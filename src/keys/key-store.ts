/**
 * The key hierarchy (K1, I6):
 *
 *   master key (32 B, file, never stored elsewhere)
 *     └─ HKDF "master/wrap-kek" ─▶ master wrapping key
 *          └─ AES-256-GCM wraps each tenant KEK version; AAD = lp("kek", tenant, version)
 *               KEK(tenant, v) (32 random bytes; only its wrapped form is on disk)
 *                 ├─ HKDF "kek/wrap"        ─▶ wraps data keys and per-blob keys; AAD binds purpose,
 *                 │                              tenant, version and context (e.g. the block key)
 *                 └─ HKDF "kek/cache-salt"  ─▶ the tenant's prefix-cache salt for version v
 *
 * (lp = length-prefixed encoding, see encoding.ts.) A wrapped key moved to another tenant, version,
 * purpose or context fails to unwrap. The unwrapped KEK is used only to derive the two subkeys and
 * is then zeroed; the subkeys are cached in memory and zeroed when the tenant is destroyed.
 *
 * Mutations (create, rotate, destroy) run one at a time and are durable before they take effect:
 * the next state is written atomically (temp + fsync + rename + fsync dir), then adopted in memory.
 * One process owns a keystore file at a time; nothing here locks it across processes.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Errors, TgError } from '../errors.js';
import { KEY_BYTES, openSmall, sealSmall } from './aead.js';
import { isErrnoCode, isTempFileName, makeDirectoryDurably, writeFileDurably } from '../durable-file.js';
import { deriveKey, lengthPrefixed, type Part, u32 } from './encoding.js';
import { assertTenantId } from './ids.js';
import {
  type ActiveTenantRecord,
  KEYSTORE_FORMAT,
  KEYSTORE_FORMAT_VERSION,
  type KeystoreDocument,
  type KeyVersionRecord,
  parseKeystore,
  serializeKeystore,
  type TenantRecord,
} from './keystore-file.js';

const LABEL = 'tenantguard/v1/';
const DATA_KEY_PURPOSE = 'data-key';
/** Opaque wrapped data key: tgdk1.<version>.<base64url(iv ‖ ct ‖ tag)> (60 bytes → 80 chars). */
const WRAPPED_DATA_KEY = /^tgdk1\.([1-9][0-9]{0,9})\.([A-Za-z0-9_-]{80})$/;
const MAX_VERSION = 0x7fffffff;

export interface DataKey {
  /** 32 bytes for AES-256. The caller owns it: use it, then `fill(0)`. Never log it (L1). */
  readonly plaintext: Buffer;
  /** Opaque; store it beside the data. Unwraps only for the same tenant (any live version). */
  readonly wrapped: string;
  readonly version: number;
}

export interface TenantKeyInfo {
  readonly id: string;
  readonly state: 'active' | 'erased';
  readonly currentVersion: number;
  readonly created: string;
  readonly destroyed?: string;
}

/** A key wrapped under a tenant KEK version (internal envelope used by data keys and blobs). */
export interface TenantWrappedKey {
  readonly version: number;
  /** iv(12) ‖ ciphertext(32) ‖ tag(16) */
  readonly sealed: Buffer;
}

interface VersionKeys {
  readonly tenant: string;
  readonly version: number;
  readonly wrapKey: Buffer;
  readonly cacheSalt: Buffer;
  /** lp("…/wrap/<purpose>", tenant, version) per purpose: the constant head of every wrap AAD. */
  readonly aadHeads: Map<string, Buffer>;
}

export class KeyStore {
  private readonly records = new Map<string, TenantRecord>();
  private readonly keys = new Map<string, Map<number, VersionKeys>>();
  /** Tenants whose destruction is being written: refused at once, restored if the write fails. */
  private readonly erasing = new Set<string>();
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly masterWrapKey: Buffer,
    private readonly masterKeyCheck: string,
  ) {}

  /**
   * Opens (or creates, empty) the keystore at `path`. Every wrapped KEK is unwrapped now, so a
   * wrong master key, an edited file or a key moved between tenants or versions fails here
   * (KEYSTORE_INVALID), not at the first request. `masterKey` is not retained; the caller may
   * zero it afterwards.
   */
  static async open(path: string, masterKey: Uint8Array): Promise<KeyStore> {
    if (masterKey.length !== KEY_BYTES) throw new TgError(Errors.MASTER_KEY_INVALID);
    const check = deriveKey(masterKey, [LABEL + 'master-key-check'], 16).toString('hex');
    const store = new KeyStore(path, deriveKey(masterKey, [LABEL + 'master/wrap-kek']), check);
    let text: string | undefined;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if (!isErrnoCode(error, 'ENOENT')) throw error;
    }
    try {
      if (text === undefined) {
        await makeDirectoryDurably(dirname(path), 0o700);
        await store.persist([]);
      } else {
        store.adopt(parseKeystore(text));
      }
      await store.sweepTempFiles();
    } catch (error) {
      store.close();
      throw error;
    }
    return store;
  }

  /** Creates version 1 of a tenant's KEK. CONFLICT if it exists, TENANT_ERASED if it was erased. */
  async createTenant(tenant: string): Promise<number> {
    assertTenantId(tenant);
    return this.exclusive(async () => {
      const existing = this.records.get(tenant);
      if (existing?.state === 'erased') throw new TgError(Errors.TENANT_ERASED);
      if (existing) throw new TgError(Errors.CONFLICT, { message: 'tenant already has keys' });
      const now = new Date().toISOString();
      const { version, keys } = this.newVersion(tenant, 1, now);
      const record: ActiveTenantRecord = { id: tenant, state: 'active', created: now, currentVersion: 1, versions: [version] };
      await this.commit(record, () => this.keys.set(tenant, new Map([[1, keys]])), () => zeroize(keys));
      return 1;
    });
  }

  /** Creates the tenant unless it already has keys; true if it was created. Erased ids are refused. */
  async ensureTenant(tenant: string): Promise<boolean> {
    assertTenantId(tenant);
    if (this.records.get(tenant)?.state === 'active') return false;
    try {
      await this.createTenant(tenant);
      return true;
    } catch (error) {
      if (error instanceof TgError && error.code === Errors.CONFLICT.code) return false;
      throw error;
    }
  }

  /**
   * Adds a new KEK version and makes it current; older versions stay for unwrapping.
   * `beforeCommit` runs once the next version number is known and before anything is written
   * (write-ahead, e.g. its audit record); if it throws, nothing changes.
   */
  async rotate(tenant: string, beforeCommit?: (version: number) => Promise<void>): Promise<number> {
    assertTenantId(tenant);
    return this.exclusive(async () => {
      const current = this.activeRecord(tenant);
      if (current.currentVersion >= MAX_VERSION) throw new TgError(Errors.CONFLICT, { message: 'tenant has no key versions left' });
      const next = current.currentVersion + 1;
      await beforeCommit?.(next);
      const now = new Date().toISOString();
      const { version, keys } = this.newVersion(tenant, next, now);
      const record: ActiveTenantRecord = { ...current, currentVersion: next, versions: [...current.versions, version] };
      await this.commit(record, () => this.versionsOf(tenant).set(next, keys), () => zeroize(keys));
      return next;
    });
  }

  /**
   * Crypto-shred: deletes every wrapped KEK version of the tenant from the file (durably), zeroes
   * the cached keys, and marks the id erased so it is refused from now on. Everything ever sealed
   * under the tenant's keys becomes unrecoverable. Idempotent for an already erased tenant.
   * The tenant is refused from the moment this is called; if the write fails it is restored.
   */
  async destroyTenant(tenant: string): Promise<void> {
    assertTenantId(tenant);
    const record = this.records.get(tenant);
    if (record === undefined) throw new TgError(Errors.UNKNOWN_TENANT);
    if (record.state === 'erased') return;
    this.erasing.add(tenant); // synchronously, before any await: refused from this call on
    try {
      await this.exclusive(async () => {
        const current = this.records.get(tenant);
        if (current?.state !== 'active') return;
        const erased: TenantRecord = {
          id: tenant,
          state: 'erased',
          created: current.created,
          destroyed: new Date().toISOString(),
          currentVersion: current.currentVersion,
        };
        await this.commit(erased, () => {
          for (const keys of this.keys.get(tenant)?.values() ?? []) zeroize(keys);
          this.keys.delete(tenant);
        });
      });
    } finally {
      this.erasing.delete(tenant);
    }
  }

  hasTenant(tenant: string): boolean {
    return this.records.get(tenant)?.state === 'active' && !this.erasing.has(tenant);
  }

  /** True once the tenant is erased, and already while its erasure is being written. */
  isErased(tenant: string): boolean {
    return this.records.get(tenant)?.state === 'erased' || this.erasing.has(tenant);
  }

  currentVersion(tenant: string): number {
    return this.activeRecord(tenant).currentVersion;
  }

  /** Metadata only (no key material), e.g. for `tenantguard keys list`. */
  listTenants(): TenantKeyInfo[] {
    return [...this.records.values()].map((r) =>
      r.state === 'active'
        ? { id: r.id, state: r.state, currentVersion: r.currentVersion, created: r.created }
        : { id: r.id, state: r.state, currentVersion: r.currentVersion, created: r.created, destroyed: r.destroyed },
    );
  }

  /** Envelope encryption, like KMS GenerateDataKey: a fresh key and its wrap under the current KEK. */
  generateDataKey(tenant: string): DataKey {
    const plaintext = randomBytes(KEY_BYTES);
    const { version, sealed } = this.wrapUnderTenant(tenant, DATA_KEY_PURPOSE, [], plaintext);
    return { plaintext, wrapped: `tgdk1.${version}.${sealed.toString('base64url')}`, version };
  }

  /**
   * Unwraps a data key of this tenant (any live version). Another tenant's key, an altered one or
   * an unknown version all give the same DATA_KEY_INVALID; an erased tenant gives TENANT_ERASED.
   */
  unwrapDataKey(tenant: string, wrapped: string): Buffer {
    this.activeRecord(tenant);
    const match = typeof wrapped === 'string' ? WRAPPED_DATA_KEY.exec(wrapped) : null;
    const plaintext = match ? this.unwrapUnderTenant(tenant, DATA_KEY_PURPOSE, [], Number(match[1]), Buffer.from(match[2] ?? '', 'base64url')) : undefined;
    if (plaintext === undefined) throw new TgError(Errors.DATA_KEY_INVALID);
    return plaintext;
  }

  /**
   * The tenant's prefix-cache salt (I6): 256 bits, base64url, derived from the current KEK with a
   * fixed label. Different for every tenant, stable until rotation, new after it. Inject it into
   * every request of the tenant; treat it like a credential (do not log it).
   */
  cacheSalt(tenant: string): string {
    const record = this.activeRecord(tenant);
    return this.versionKeys(tenant, record.currentVersion).cacheSalt.toString('base64url');
  }

  /**
   * Which tenant a cache salt belongs to, and under which key version: any live version, so a
   * request stamped just before a rotation is still attributed (its prefix hits can only reach
   * that same tenant's old cache entries; new requests get the new salt). An erased tenant's salts
   * name no one. Lets an engine attribute a request from the salt the sidecar issued, not from
   * anything the client claimed. O(tenants × versions), constant-time per comparison; callers
   * remember answers.
   */
  tenantForCacheSalt(salt: string): { tenant: string; version: number } | undefined {
    const wanted = Buffer.from(typeof salt === 'string' ? salt : '', 'base64url');
    let found: { tenant: string; version: number } | undefined;
    for (const record of this.records.values()) {
      if (record.state !== 'active' || this.erasing.has(record.id)) continue;
      for (const [version, keys] of this.keys.get(record.id) ?? []) {
        if (keys.cacheSalt.length === wanted.length && timingSafeEqual(keys.cacheSalt, wanted)) found = { tenant: record.id, version };
      }
    }
    return found;
  }

  /**
   * Wraps `secret` under the tenant's current KEK. The associated data binds the purpose, tenant,
   * version and context, so the result opens only with exactly the same four. Used by data keys
   * and the offload store's per-blob keys; not part of the HTTP surface.
   */
  wrapUnderTenant(tenant: string, purpose: string, context: readonly Part[], secret: Uint8Array, iv?: Uint8Array): TenantWrappedKey {
    const version = this.activeRecord(tenant).currentVersion;
    const keys = this.versionKeys(tenant, version);
    return { version, sealed: sealSmall(keys.wrapKey, wrapAad(keys, purpose, context), secret, iv) };
  }

  /** The inverse of wrapUnderTenant; undefined for every kind of failure (one generic error upstream). */
  unwrapUnderTenant(tenant: string, purpose: string, context: readonly Part[], version: number, sealed: Uint8Array): Buffer | undefined {
    this.activeRecord(tenant);
    const keys = this.keys.get(tenant)?.get(version);
    if (keys === undefined) return undefined;
    return openSmall(keys.wrapKey, wrapAad(keys, purpose, context), sealed);
  }

  /** Zeroes every cached key; the store refuses everything afterwards. */
  close(): void {
    this.closed = true;
    for (const versions of this.keys.values()) for (const keys of versions.values()) zeroize(keys);
    this.keys.clear();
    this.masterWrapKey.fill(0);
  }

  // ── internals ────────────────────────────────────────────────────────────────────────────────

  private activeRecord(tenant: string): ActiveTenantRecord {
    if (this.closed) throw new TgError(Errors.INTERNAL, { message: 'keystore is closed' });
    assertTenantId(tenant);
    const record = this.records.get(tenant);
    if (record === undefined) throw new TgError(Errors.UNKNOWN_TENANT);
    if (record.state === 'erased' || this.erasing.has(tenant)) throw new TgError(Errors.TENANT_ERASED);
    return record;
  }

  private versionsOf(tenant: string): Map<number, VersionKeys> {
    let versions = this.keys.get(tenant);
    if (versions === undefined) {
      versions = new Map();
      this.keys.set(tenant, versions);
    }
    return versions;
  }

  private versionKeys(tenant: string, version: number): VersionKeys {
    const keys = this.keys.get(tenant)?.get(version);
    // Every live version is unwrapped at open or when created; a gap is a bug, not a caller error.
    if (keys === undefined) throw new TgError(Errors.INTERNAL);
    return keys;
  }

  private newVersion(tenant: string, version: number, created: string): { version: KeyVersionRecord; keys: VersionKeys } {
    const kek = randomBytes(KEY_BYTES);
    try {
      const wrapped = sealSmall(this.masterWrapKey, kekAad(tenant, version), kek);
      return { version: { version, created, wrappedKey: wrapped.toString('base64') }, keys: deriveVersionKeys(kek, tenant, version) };
    } finally {
      kek.fill(0);
    }
  }

  /** Writes the store with `record` replacing the tenant's entry, then adopts it in memory. */
  private async commit(record: TenantRecord, apply: () => void, onFailure?: () => void): Promise<void> {
    const next = new Map(this.records);
    next.set(record.id, record);
    try {
      await this.persist([...next.values()]);
    } catch (error) {
      onFailure?.();
      throw error;
    }
    this.records.set(record.id, record);
    apply();
  }

  private async persist(tenants: readonly TenantRecord[]): Promise<void> {
    if (this.closed) throw new TgError(Errors.INTERNAL, { message: 'keystore is closed' });
    const doc: KeystoreDocument = { format: KEYSTORE_FORMAT, formatVersion: KEYSTORE_FORMAT_VERSION, masterKeyCheck: this.masterKeyCheck, tenants };
    await writeFileDurably(this.path, serializeKeystore(doc), 0o600);
  }

  private adopt(doc: KeystoreDocument): void {
    const expected = Buffer.from(this.masterKeyCheck, 'hex');
    if (!timingSafeEqual(expected, Buffer.from(doc.masterKeyCheck, 'hex'))) {
      throw new TgError(Errors.KEYSTORE_INVALID, { message: 'keystore file was written under another master key; load the master key it was made with' });
    }
    for (const record of doc.tenants) {
      if (record.state === 'active') {
        const versions = new Map<number, VersionKeys>();
        for (const v of record.versions) {
          const kek = openSmall(this.masterWrapKey, kekAad(record.id, v.version), Buffer.from(v.wrappedKey, 'base64'));
          if (kek === undefined) {
            for (const keys of versions.values()) zeroize(keys);
            throw new TgError(Errors.KEYSTORE_INVALID, { message: 'keystore file holds a wrapped key that does not authenticate for its tenant and version; restore it from backup' });
          }
          versions.set(v.version, deriveVersionKeys(kek, record.id, v.version));
          kek.fill(0);
        }
        this.keys.set(record.id, versions);
      }
      this.records.set(record.id, record);
    }
  }

  /** Removes temporary siblings left by a crash mid-write (ours only: `.<name>.<random>.tmp`). */
  private async sweepTempFiles(): Promise<void> {
    const prefix = `.${basename(this.path)}.`;
    const dir = dirname(this.path);
    for (const name of await readdir(dir)) {
      if (name.startsWith(prefix) && isTempFileName(name)) await rm(join(dir, name), { force: true });
    }
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function kekAad(tenant: string, version: number): Buffer {
  return lengthPrefixed([LABEL + 'kek', tenant, u32(version)]);
}

/** lp("tenantguard/v1/wrap/<purpose>", tenant, version, ...context) */
function wrapAad(keys: VersionKeys, purpose: string, context: readonly Part[]): Buffer {
  let head = keys.aadHeads.get(purpose);
  if (head === undefined) {
    head = lengthPrefixed([LABEL + 'wrap/' + purpose, keys.tenant, u32(keys.version)]);
    keys.aadHeads.set(purpose, head);
  }
  return lengthPrefixed(context, head);
}

function deriveVersionKeys(kek: Buffer, tenant: string, version: number): VersionKeys {
  return {
    tenant,
    version,
    wrapKey: deriveKey(kek, [LABEL + 'kek/wrap', tenant, u32(version)]),
    cacheSalt: deriveKey(kek, [LABEL + 'kek/cache-salt', tenant, u32(version)]),
    aadHeads: new Map(),
  };
}

function zeroize(keys: VersionKeys): void {
  keys.wrapKey.fill(0);
  keys.cacheSalt.fill(0);
}
