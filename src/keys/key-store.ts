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
 *
 * Erasure retires the master key (issue 20.4, K1): deleting the erased tenant's wrapped KEKs from
 * the file is not enough, since any earlier copy of keystore.json still holds them and the master
 * key that unwraps them is unchanged. So `destroyTenant` draws a new master key, re-wraps every
 * remaining KEK under it and replaces the master key file; a keystore copy from before the erasure
 * then opens only with the old master key, which no longer exists on this machine. Crash order
 * (every step atomic and durable, see `retireMasterKey`): new key → `<master key>.next`, then the
 * re-wrapped keystore, then `.next` renamed over the master key file. `openWithMasterKeyFile`
 * finishes or undoes an interrupted retirement, so a SIGKILL anywhere leaves old key + old keystore
 * or new key + new keystore.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Errors, TgError } from '../errors.js';
import { KEY_BYTES, openSmall, sealSmall } from './aead.js';
import { isErrnoCode, isTempFileName, makeDirectoryDurably, syncDirectory, writeFileDurably } from '../durable-file.js';
import { createSecretKeyFile, readSecretKeyFile } from '../secret-key-file.js';
import { deriveKey, lengthPrefixed, type Part, u32 } from './encoding.js';
import { assertTenantId } from './ids.js';
import { loadMasterKey } from './master-key.js';
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
/** The next master key, beside the master key file while an erasure retires the old one (issue 20.4). */
export const NEXT_MASTER_KEY_SUFFIX = '.next';

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
  /** The keystore is durable under a new master key whose file could not yet replace the old one. */
  private masterKeyRenamePending = false;

  private constructor(
    readonly path: string,
    private masterWrapKey: Buffer,
    private masterKeyCheck: string,
    /** Set when opened from the master key file: only then can an erasure retire the master key. */
    private readonly masterKeyFile: string | undefined,
  ) {}

  /**
   * Opens (or creates, empty) the keystore at `path`. Every wrapped KEK is unwrapped now, so a
   * wrong master key, an edited file or a key moved between tenants or versions fails here
   * (KEYSTORE_INVALID), not at the first request. `masterKey` is not retained; the caller may
   * zero it afterwards.
   */
  static async open(path: string, masterKey: Uint8Array): Promise<KeyStore> {
    return KeyStore.openWith(path, masterKey, undefined);
  }

  /**
   * Opens the keystore with the master key in `masterKeyFile` (what the sidecar does). Unlike
   * `open`, a store opened this way can erase tenants: each erasure replaces the master key file
   * (issue 20.4). An erasure interrupted by a crash is settled first: if the keystore was already
   * rewritten under `<masterKeyFile>.next`, that key replaces the master key file; otherwise the
   * leftover `.next` key (which wraps nothing durable) is deleted.
   */
  static async openWithMasterKeyFile(path: string, masterKeyFile: string): Promise<KeyStore> {
    const nextFile = masterKeyFile + NEXT_MASTER_KEY_SUFFIX;
    await removeTempSiblings(nextFile);
    let masterKey = await loadMasterKey(masterKeyFile);
    const next = await readSecretKeyFile(nextFile, { error: Errors.MASTER_KEY_INVALID, what: 'next master key' });
    try {
      if (next !== null) {
        let text: string | undefined;
        try {
          text = await readFile(path, 'utf8');
        } catch (error) {
          if (!isErrnoCode(error, 'ENOENT')) throw error;
        }
        if (text !== undefined && parseKeystore(text).masterKeyCheck === masterKeyCheckOf(next)) {
          // The keystore is already re-wrapped under the next key: finish the retirement.
          await rename(nextFile, masterKeyFile);
          masterKey.fill(0);
          masterKey = Buffer.from(next);
        } else {
          await rm(nextFile, { force: true });
        }
        await syncDirectory(dirname(masterKeyFile));
      }
      return await KeyStore.openWith(path, masterKey, masterKeyFile);
    } finally {
      next?.fill(0);
      masterKey.fill(0);
    }
  }

  private static async openWith(path: string, masterKey: Uint8Array, masterKeyFile: string | undefined): Promise<KeyStore> {
    if (masterKey.length !== KEY_BYTES) throw new TgError(Errors.MASTER_KEY_INVALID);
    const store = new KeyStore(path, deriveKey(masterKey, [LABEL + 'master/wrap-kek']), masterKeyCheckOf(masterKey), masterKeyFile);
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
    // Without its file the master key cannot be retired, and a keystore backup would undo the
    // erasure (issue 20.4): refuse rather than promise a crypto-shred that is not one.
    if (this.masterKeyFile === undefined) throw new TgError(Errors.INTERNAL, { message: 'keystore opened without its master key file cannot erase tenants; open it with openWithMasterKeyFile' });
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
        await this.retireMasterKey(erased);
        for (const keys of this.keys.get(tenant)?.values() ?? []) zeroize(keys);
        this.keys.delete(tenant);
        await this.finishMasterKeyRename();
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

  private async persist(tenants: readonly TenantRecord[], masterKeyCheck = this.masterKeyCheck): Promise<void> {
    if (this.closed) throw new TgError(Errors.INTERNAL, { message: 'keystore is closed' });
    const doc: KeystoreDocument = { format: KEYSTORE_FORMAT, formatVersion: KEYSTORE_FORMAT_VERSION, masterKeyCheck, tenants };
    await writeFileDurably(this.path, serializeKeystore(doc), 0o600);
  }

  /**
   * The erasure commit (issue 20.4): `erased` replaces the tenant's record and every other KEK is
   * re-wrapped under a new master key. Steps, each atomic and durable:
   *   1. the new master key → `<master key>.next`  (crash here: open deletes `.next`; old + old)
   *   2. the re-wrapped keystore → keystore.json   (crash here: the keystore is old or new; open
   *                                                  picks the key whose check it carries)
   *   3. `.next` renamed over the master key file   (`finishMasterKeyRename`; crash before it:
   *                                                  open finishes the rename; new + new)
   * If 1 or 2 fails nothing changed (the tenant is restored by the caller). After 2 the new state
   * is adopted in memory, whatever 3 does; a failed 3 is retried by the next erasure or open.
   */
  private async retireMasterKey(erased: TenantRecord): Promise<void> {
    const masterKeyFile = this.masterKeyFile;
    if (masterKeyFile === undefined) throw new TgError(Errors.INTERNAL);
    await this.finishMasterKeyRename(); // an earlier step 3 that failed: settle it before a new step 1
    const nextMaster = await createSecretKeyFile(masterKeyFile + NEXT_MASTER_KEY_SUFFIX);
    const nextWrapKey = deriveKey(nextMaster, [LABEL + 'master/wrap-kek']);
    const nextCheck = masterKeyCheckOf(nextMaster);
    nextMaster.fill(0);
    let tenants: TenantRecord[];
    try {
      tenants = [...this.records.values()].map((r) => (r.id === erased.id ? erased : r.state === 'active' ? this.rewrapped(r, nextWrapKey) : r));
      await this.persist(tenants, nextCheck);
    } catch (error) {
      nextWrapKey.fill(0);
      await rm(masterKeyFile + NEXT_MASTER_KEY_SUFFIX, { force: true }).catch(() => undefined);
      throw error;
    }
    this.masterWrapKey.fill(0);
    this.masterWrapKey = nextWrapKey;
    this.masterKeyCheck = nextCheck;
    for (const record of tenants) this.records.set(record.id, record);
    this.masterKeyRenamePending = true;
  }

  /** Step 3: the new master key file replaces the old one; the old key is gone from then on. */
  private async finishMasterKeyRename(): Promise<void> {
    const masterKeyFile = this.masterKeyFile;
    if (!this.masterKeyRenamePending || masterKeyFile === undefined) return;
    await rename(masterKeyFile + NEXT_MASTER_KEY_SUFFIX, masterKeyFile);
    await syncDirectory(dirname(masterKeyFile));
    this.masterKeyRenamePending = false;
  }

  /** The tenant's KEK versions, unwrapped under the current master key and wrapped under `wrapKey`. */
  private rewrapped(record: ActiveTenantRecord, wrapKey: Buffer): ActiveTenantRecord {
    const versions = record.versions.map((v) => {
      const aad = kekAad(record.id, v.version);
      const kek = openSmall(this.masterWrapKey, aad, Buffer.from(v.wrappedKey, 'base64'));
      // Every version authenticated at open or was wrapped by this process: a failure is a bug.
      if (kek === undefined) throw new TgError(Errors.INTERNAL);
      try {
        return { ...v, wrappedKey: sealSmall(wrapKey, aad, kek).toString('base64') };
      } finally {
        kek.fill(0);
      }
    });
    return { ...record, versions };
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
    await removeTempSiblings(this.path);
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function masterKeyCheckOf(masterKey: Uint8Array): string {
  return deriveKey(masterKey, [LABEL + 'master-key-check'], 16).toString('hex');
}

/** Removes temporary siblings of `path` left by a crash mid-write (ours only: `.<name>.<random>.tmp`). */
async function removeTempSiblings(path: string): Promise<void> {
  const prefix = `.${basename(path)}.`;
  const dir = dirname(path);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if (isErrnoCode(error, 'ENOENT')) return;
    throw error;
  }
  for (const name of names) {
    if (name.startsWith(prefix) && isTempFileName(name)) await rm(join(dir, name), { force: true });
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
