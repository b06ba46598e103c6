import { randomBytes } from 'node:crypto';
import { copyFile, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { Errors } from '../../src/errors.js';
import { KeyStore, loadMasterKey } from '../../src/keys/index.js';
import { errorText, fixture, openKeyStore, openKeyStoreFile, tgError, writeMasterKeyFile } from './helpers.js';

interface FileTenant {
  id: string;
  state: string;
  currentVersion: number;
  versions?: { version: number; created: string; wrappedKey: string }[];
  destroyed?: string;
}
interface FileDoc {
  format: string;
  masterKeyCheck: string;
  tenants: FileTenant[];
}
const readDoc = async (path: string): Promise<FileDoc> => JSON.parse(await readFile(path, 'utf8')) as FileDoc;
const tenantIn = (doc: FileDoc, id: string): FileTenant => {
  const found = doc.tenants.find((t) => t.id === id);
  if (!found) throw new Error(`no ${id} in keystore file`);
  return found;
};

describe('KeyStore: hierarchy and file', () => {
  test('tenants start at version 1, rotation appends versions, and the file survives a reopen', async () => {
    const { keys, keystorePath, masterKey } = await fixture(['acme']);
    expect(keys.currentVersion('acme')).toBe(1);
    expect(await keys.rotate('acme')).toBe(2);
    expect(await keys.rotate('acme')).toBe(3);
    const doc = await readDoc(keystorePath);
    expect(doc.format).toBe('tenantguard.keystore');
    expect(tenantIn(doc, 'acme').versions?.map((v) => v.version)).toEqual([1, 2, 3]);
    expect((await stat(keystorePath)).mode & 0o777).toBe(0o600);

    const reopened = await openKeyStore(keystorePath, masterKey);
    expect(reopened.currentVersion('acme')).toBe(3);
    expect(reopened.cacheSalt('acme')).toBe(keys.cacheSalt('acme'));
  });

  test('the file holds only wrapped keys and bookkeeping, never a usable key', async () => {
    const { keys, keystorePath } = await fixture(['acme']);
    const { plaintext, wrapped } = keys.generateDataKey('acme');
    const text = await readFile(keystorePath, 'utf8');
    const doc = JSON.parse(text) as FileDoc;
    expect(Object.keys(doc).sort()).toEqual(['format', 'formatVersion', 'masterKeyCheck', 'tenants']);
    expect(Object.keys(tenantIn(doc, 'acme')).sort()).toEqual(['created', 'currentVersion', 'id', 'state', 'versions']);
    for (const v of tenantIn(doc, 'acme').versions ?? []) {
      expect(Object.keys(v).sort()).toEqual(['created', 'version', 'wrappedKey']);
      expect(Buffer.from(v.wrappedKey, 'base64')).toHaveLength(60); // iv 12 + key 32 + tag 16
    }
    // Data keys are never stored, and nothing derived (salts) is either.
    expect(text).not.toContain(plaintext.toString('base64'));
    expect(text).not.toContain(plaintext.toString('hex'));
    expect(text).not.toContain(wrapped);
    expect(text).not.toContain(keys.cacheSalt('acme'));
  });

  test('concurrent rotations are serialised: every version is written once, in order', async () => {
    const { keys, keystorePath, masterKey } = await fixture(['acme']);
    const versions = await Promise.all([keys.rotate('acme'), keys.rotate('acme'), keys.rotate('acme'), keys.rotate('acme')]);
    expect(versions.sort()).toEqual([2, 3, 4, 5]);
    expect(tenantIn(await readDoc(keystorePath), 'acme').versions?.map((v) => v.version)).toEqual([1, 2, 3, 4, 5]);
    expect((await openKeyStore(keystorePath, masterKey)).currentVersion('acme')).toBe(5);
    expect((await readdir(join(keystorePath, '..'))).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  test('a keystore opened with another master key is refused', async () => {
    const { keystorePath } = await fixture(['acme']);
    const error = await tgError(() => KeyStore.open(keystorePath, randomBytes(32)));
    expect(error.code).toBe(Errors.KEYSTORE_INVALID.code);
  });

  test('wrap binds tenant and version: a wrapped KEK moved to another tenant or version does not unwrap', async () => {
    const { keys, keystorePath, masterKey } = await fixture(['acme', 'globex']);
    await keys.rotate('acme');
    keys.close();
    const original = await readFile(keystorePath, 'utf8');

    // acme's version-1 key placed in globex's version-1 slot (same version, other tenant).
    const crossTenant = JSON.parse(original) as FileDoc;
    const acmeV1 = tenantIn(crossTenant, 'acme').versions?.[0]?.wrappedKey ?? '';
    const globexV1 = tenantIn(crossTenant, 'globex').versions?.[0];
    if (!globexV1) throw new Error('globex has no version 1');
    globexV1.wrappedKey = acmeV1;
    await writeFile(keystorePath, JSON.stringify(crossTenant));
    expect((await tgError(() => KeyStore.open(keystorePath, masterKey))).code).toBe(Errors.KEYSTORE_INVALID.code);

    // acme's version-1 and version-2 keys swapped (same tenant, other version).
    const crossVersion = JSON.parse(original) as FileDoc;
    const [v1, v2] = tenantIn(crossVersion, 'acme').versions ?? [];
    if (!v1 || !v2) throw new Error('acme should have two versions');
    [v1.wrappedKey, v2.wrappedKey] = [v2.wrappedKey, v1.wrappedKey];
    await writeFile(keystorePath, JSON.stringify(crossVersion));
    expect((await tgError(() => KeyStore.open(keystorePath, masterKey))).code).toBe(Errors.KEYSTORE_INVALID.code);

    // A renamed tenant entry: the key stays, the id changes.
    const renamed = JSON.parse(original) as FileDoc;
    tenantIn(renamed, 'globex').id = 'initech';
    await writeFile(keystorePath, JSON.stringify(renamed));
    expect((await tgError(() => KeyStore.open(keystorePath, masterKey))).code).toBe(Errors.KEYSTORE_INVALID.code);

    // The untouched file still opens.
    await writeFile(keystorePath, original);
    expect((await openKeyStore(keystorePath, masterKey)).currentVersion('acme')).toBe(2);
  });

  test('a malformed or truncated keystore file is refused, not half-loaded', async () => {
    const { keys, keystorePath, masterKey } = await fixture(['acme']);
    keys.close();
    const original = await readFile(keystorePath, 'utf8');
    for (const broken of [original.slice(0, original.length / 2), '', '{}', original.replace('"active"', '"paused"'), original.replace('"currentVersion": 1', '"currentVersion": 2')]) {
      await writeFile(keystorePath, broken);
      expect((await tgError(() => KeyStore.open(keystorePath, masterKey))).code).toBe(Errors.KEYSTORE_INVALID.code);
    }
  });

  test('invalid tenant ids are refused before they reach a file or a key', async () => {
    const { keys } = await fixture([]);
    for (const id of ['', 'UPPER', '../x', 'a/b', '-lead', 'x'.repeat(64), 'a.b']) {
      expect((await tgError(() => keys.createTenant(id))).code).toBe(Errors.BAD_REQUEST.code);
    }
    expect((await tgError(() => keys.generateDataKey('nobody'))).code).toBe(Errors.UNKNOWN_TENANT.code);
  });

  test('createTenant refuses an existing tenant; ensureTenant does not', async () => {
    const { keys } = await fixture(['acme']);
    expect((await tgError(() => keys.createTenant('acme'))).code).toBe(Errors.CONFLICT.code);
    expect(await keys.ensureTenant('acme')).toBe(false);
    expect(await keys.ensureTenant('globex')).toBe(true);
    expect(keys.hasTenant('globex')).toBe(true);
  });
});

describe('KeyStore: data keys (envelope encryption)', () => {
  test('a data key unwraps for its tenant, including after rotation', async () => {
    const { keys } = await fixture(['acme']);
    const first = keys.generateDataKey('acme');
    expect(first.plaintext).toHaveLength(32);
    expect(first.version).toBe(1);
    expect(first.wrapped).toMatch(/^tgdk1\.1\./);
    await keys.rotate('acme');
    const second = keys.generateDataKey('acme');
    expect(second.version).toBe(2);
    expect(keys.unwrapDataKey('acme', first.wrapped).equals(first.plaintext)).toBe(true);
    expect(keys.unwrapDataKey('acme', second.wrapped).equals(second.plaintext)).toBe(true);
    expect(first.plaintext.equals(second.plaintext)).toBe(false);
  });

  test("data key unwrap cross-tenant fails: another tenant's wrapped key is one generic error", async () => {
    const { keys } = await fixture(['acme', 'globex']);
    const acmeKey = keys.generateDataKey('acme');
    const error = await tgError(() => keys.unwrapDataKey('globex', acmeKey.wrapped));
    expect(error.code).toBe(Errors.DATA_KEY_INVALID.code);
    expect(errorText(error)).not.toContain('acme');
    expect(errorText(error)).not.toContain(acmeKey.plaintext.toString('base64'));
  });

  test('a tampered, re-versioned or malformed wrapped data key fails the same way', async () => {
    const { keys } = await fixture(['acme']);
    await keys.rotate('acme');
    const { wrapped } = keys.generateDataKey('acme');
    const body = wrapped.split('.')[2] ?? '';
    const flipped = body.slice(0, 40) + (body[40] === 'A' ? 'B' : 'A') + body.slice(41);
    for (const bad of [`tgdk1.2.${flipped}`, `tgdk1.1.${body}`, `tgdk1.3.${body}`, `tgdk1.2.${body.slice(1)}`, 'tgdk1.2.', 'nonsense', `tgdk2.2.${body}`]) {
      expect((await tgError(() => keys.unwrapDataKey('acme', bad))).code).toBe(Errors.DATA_KEY_INVALID.code);
    }
  });
});

describe('KeyStore: cache salts (I6)', () => {
  test('salts differ per tenant, are stable, change on rotation, and carry at least 128 bits', async () => {
    const tenants = Array.from({ length: 20 }, (_, i) => `tenant-${i}`);
    const { keys, keystorePath, masterKey } = await fixture(tenants);
    const salts = tenants.map((t) => keys.cacheSalt(t));
    expect(new Set(salts).size).toBe(tenants.length);
    for (const salt of salts) expect(Buffer.from(salt, 'base64url').length).toBeGreaterThanOrEqual(16);
    expect(keys.cacheSalt('tenant-0')).toBe(salts[0]);

    await keys.rotate('tenant-0');
    const rotated = keys.cacheSalt('tenant-0');
    expect(rotated).not.toBe(salts[0]);
    expect(keys.cacheSalt('tenant-1')).toBe(salts[1]); // others unaffected

    const reopened = await openKeyStore(keystorePath, masterKey);
    expect(reopened.cacheSalt('tenant-0')).toBe(rotated);
    expect(reopened.cacheSalt('tenant-1')).toBe(salts[1]);
  });
});

describe('KeyStore: crypto-shred', () => {
  test('destroyTenant deletes every wrapped key from the file and refuses the id afterwards', async () => {
    const { keys, keystorePath, masterKeyPath } = await fixture(['acme', 'globex']);
    await keys.rotate('acme');
    const wrapped = keys.generateDataKey('acme').wrapped;
    const before = tenantIn(await readDoc(keystorePath), 'acme').versions?.map((v) => v.wrappedKey) ?? [];
    expect(before).toHaveLength(2);

    await keys.destroyTenant('acme');
    const text = await readFile(keystorePath, 'utf8');
    for (const w of before) expect(text).not.toContain(w);
    const erased = tenantIn(JSON.parse(text) as FileDoc, 'acme');
    expect(erased.state).toBe('erased');
    expect(erased.versions).toBeUndefined();
    expect(erased.destroyed).toBeTypeOf('string');

    for (const store of [keys, await openKeyStoreFile(keystorePath, masterKeyPath)]) {
      expect(store.isErased('acme')).toBe(true);
      expect(store.hasTenant('acme')).toBe(false);
      const refusals = [
        () => store.generateDataKey('acme'),
        () => store.unwrapDataKey('acme', wrapped),
        () => store.cacheSalt('acme'),
        () => store.currentVersion('acme'),
        () => store.rotate('acme'),
        () => store.createTenant('acme'),
        () => store.ensureTenant('acme'),
      ];
      for (const refused of refusals) expect((await tgError(refused)).code).toBe(Errors.TENANT_ERASED.code);
      expect(store.currentVersion('globex')).toBe(1); // the neighbour is untouched
    }
    await keys.destroyTenant('acme'); // idempotent
  });

  test('destroyTenant retires the master key: a keystore copy from before the erasure opens neither with the new master key nor with its check relabelled, and the other tenants keep their keys (issue 20.4)', async () => {
    const { keys, keystorePath, masterKeyPath, masterKey } = await fixture(['acme', 'globex']);
    await keys.rotate('globex');
    const globexKey = keys.generateDataKey('globex');
    const globexSalt = keys.cacheSalt('globex');
    const acmeKey = keys.generateDataKey('acme');
    const backup = `${keystorePath}.backup`;
    await copyFile(keystorePath, backup);

    await keys.destroyTenant('acme');
    const current = await loadMasterKey(masterKeyPath);
    expect(current.equals(masterKey)).toBe(false);
    expect(await readdir(dirname(masterKeyPath))).not.toContain('master.key.next');
    expect((await stat(masterKeyPath)).mode & 0o777).toBe(0o600);

    // The copy under the key the erasure left: refused, also with its check value forged.
    expect((await tgError(() => KeyStore.open(backup, current))).code).toBe(Errors.KEYSTORE_INVALID.code);
    const relabelled = { ...(await readDoc(backup)), masterKeyCheck: (await readDoc(keystorePath)).masterKeyCheck };
    await writeFile(backup, JSON.stringify(relabelled));
    expect((await tgError(() => KeyStore.open(backup, current))).code).toBe(Errors.KEYSTORE_INVALID.code);

    // Everyone else: same KEKs, re-wrapped, in memory and after a reopen from the file.
    for (const store of [keys, await openKeyStoreFile(keystorePath, masterKeyPath)]) {
      expect(store.unwrapDataKey('globex', globexKey.wrapped).equals(globexKey.plaintext)).toBe(true);
      expect(store.cacheSalt('globex')).toBe(globexSalt);
      expect(store.currentVersion('globex')).toBe(2);
      expect((await tgError(() => store.unwrapDataKey('acme', acmeKey.wrapped))).code).toBe(Errors.TENANT_ERASED.code);
    }
    // New keys made after the retirement persist under the new master key too.
    expect(await keys.rotate('globex')).toBe(3);
    expect((await openKeyStoreFile(keystorePath, masterKeyPath)).currentVersion('globex')).toBe(3);
  });

  test('a keystore copy from before an erasure still opens with the old master key: only the pair old key + old keystore recovers an erased tenant (issue 20.4, the documented limit)', async () => {
    const { keys, keystorePath, masterKey } = await fixture(['acme']);
    const acmeKey = keys.generateDataKey('acme');
    const backup = `${keystorePath}.backup`;
    await copyFile(keystorePath, backup);
    await keys.destroyTenant('acme');
    const old = await openKeyStore(backup, masterKey);
    expect(old.unwrapDataKey('acme', acmeKey.wrapped).equals(acmeKey.plaintext)).toBe(true);
  });

  test('an erasure interrupted by a crash is settled at open: before the keystore was rewritten the old key stays, after it the new key replaces the old file (issue 20.4)', async () => {
    const { keys, keystorePath, masterKeyPath, masterKey } = await fixture(['acme', 'globex']);
    const globexKey = keys.generateDataKey('globex');
    const nextPath = `${masterKeyPath}.next`;
    keys.close();

    // Crash after step 1: a `.next` key exists, the keystore is still under the old key.
    await writeMasterKeyFile(nextPath);
    await writeFile(join(dirname(masterKeyPath), '.master.key.next.0123456789ab.tmp'), 'torn');
    const before = await openKeyStoreFile(keystorePath, masterKeyPath);
    expect(before.hasTenant('acme')).toBe(true);
    expect((await loadMasterKey(masterKeyPath)).equals(masterKey)).toBe(true);
    expect((await readdir(dirname(masterKeyPath))).filter((n) => n.includes('.next'))).toEqual([]);

    // Crash after step 2: the keystore is re-wrapped under `.next`, the old master key file remains.
    await before.destroyTenant('acme');
    const retired = await readFile(masterKeyPath);
    before.close();
    await writeFile(nextPath, retired, { mode: 0o600 });
    await writeMasterKeyFile(masterKeyPath, masterKey);
    const after = await openKeyStoreFile(keystorePath, masterKeyPath);
    expect(after.isErased('acme')).toBe(true);
    expect(after.unwrapDataKey('globex', globexKey.wrapped).equals(globexKey.plaintext)).toBe(true);
    expect((await readFile(masterKeyPath)).equals(retired)).toBe(true);
    expect(await readdir(dirname(masterKeyPath))).not.toContain('master.key.next');
  });

  test('a store opened from key bytes (no master key file) refuses to erase and changes nothing: it could not retire the master key (issue 20.4)', async () => {
    const { keys, keystorePath, masterKey } = await fixture(['acme']);
    keys.close();
    const before = await readFile(keystorePath, 'utf8');
    const bytesOnly = await openKeyStore(keystorePath, masterKey);
    expect((await tgError(() => bytesOnly.destroyTenant('acme'))).code).toBe(Errors.INTERNAL.code);
    expect(bytesOnly.hasTenant('acme')).toBe(true);
    expect(await readFile(keystorePath, 'utf8')).toBe(before);
  });
});
