import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect } from 'vitest';
import { TgError } from '../../src/errors.js';
import { KeyStore, OffloadStore } from '../../src/keys/index.js';

const dirs: string[] = [];
const stores: KeyStore[] = [];

afterEach(async () => {
  for (const store of stores.splice(0)) store.close();
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

export async function freshDir(prefix = 'tg-keys-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** Writes a master key file the way `tenantguard init` does (base64 + newline, 0600). */
export async function writeMasterKeyFile(path: string, key: Buffer = randomBytes(32), mode = 0o600): Promise<Buffer> {
  await writeFile(path, key.toString('base64') + '\n', { mode });
  return key;
}

export async function openKeyStore(path: string, masterKey: Buffer): Promise<KeyStore> {
  const store = await KeyStore.open(path, masterKey);
  stores.push(store);
  return store;
}

/** Opens the store the way the sidecar does: from the master key file (erasure retires the key, issue 20.4). */
export async function openKeyStoreFile(path: string, masterKeyPath: string): Promise<KeyStore> {
  const store = await KeyStore.openWithMasterKeyFile(path, masterKeyPath);
  stores.push(store);
  return store;
}

export interface Fixture {
  readonly dir: string;
  readonly keystorePath: string;
  /** The master key file; an erasure replaces it, so `masterKey` is the key before any erasure. */
  readonly masterKeyPath: string;
  readonly offloadDir: string;
  readonly masterKey: Buffer;
  readonly keys: KeyStore;
  readonly offload: OffloadStore;
}

export async function fixture(tenants: readonly string[] = ['tenant-a', 'tenant-b']): Promise<Fixture> {
  const dir = await freshDir();
  const keystorePath = join(dir, 'keys', 'keystore.json');
  const offloadDir = join(dir, 'offload');
  const masterKeyPath = join(dir, 'master.key');
  const masterKey = await writeMasterKeyFile(masterKeyPath);
  const keys = await openKeyStoreFile(keystorePath, masterKeyPath);
  for (const tenant of tenants) await keys.createTenant(tenant);
  const offload = await OffloadStore.open({ dir: offloadDir, keys, recordedKey: (_tenant, blockKey) => blockKey });
  return { dir, keystorePath, masterKeyPath, offloadDir, masterKey, keys, offload };
}

/** The TgError a call throws (sync or async); fails the test if it does not throw one. */
export async function tgError(run: () => unknown): Promise<TgError> {
  let caught: unknown;
  try {
    await run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(TgError);
  return caught as TgError;
}

/** Everything an error could show a caller or a log: message, body, stack head. */
export function errorText(error: TgError): string {
  return `${error.message} ${JSON.stringify(error.toBody())} ${JSON.stringify(error.details)} ${String(error.stack).split('\n')[0]}`;
}

export async function* chunks(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < data.length; offset += size) {
    await Promise.resolve();
    yield data.subarray(offset, offset + size);
  }
}
