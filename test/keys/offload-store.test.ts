import { randomBytes } from 'node:crypto';
import { copyFile, cp, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { Errors } from '../../src/errors.js';
import { BLOB_OVERHEAD_BYTES, blobGeneration, BlobVersions, OffloadStore, openBlob, sealBlob } from '../../src/keys/index.js';
import { chunks, errorText, fixture, tgError } from './helpers.js';

const blobPath = (offloadDir: string, tenant: string, blockKey: string): string => join(offloadDir, tenant, `${blockKey}.blob`);
const versionOf = async (path: string): Promise<number> => (await readFile(path)).readUInt32BE(4);

async function listAll(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) if (entry.isFile()) out.push(entry.name);
  return out;
}

describe('OffloadStore: sealing and opening', () => {
  test('round trip: bytes in, the same bytes out, and the file on disk is sealed', async () => {
    const { offload, offloadDir } = await fixture(['acme']);
    const data = randomBytes(100_000);
    const result = await offload.put('acme', 'layer-0.block-17', data);
    expect(result).toEqual({ bytes: data.length, version: 1 });
    expect((await offload.get('acme', 'layer-0.block-17')).equals(data)).toBe(true);

    const path = blobPath(offloadDir, 'acme', 'layer-0.block-17');
    const onDisk = await readFile(path);
    expect(onDisk).toHaveLength(data.length + BLOB_OVERHEAD_BYTES);
    expect(onDisk.includes(data.subarray(1000, 1032))).toBe(false);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(offloadDir, 'acme'))).mode & 0o777).toBe(0o700);
  });

  test('round trip: a stream of chunks, an empty blob, and an overwrite', async () => {
    const { offload } = await fixture(['acme']);
    const data = randomBytes(3 * 65536 + 123);
    expect((await offload.put('acme', 'streamed', chunks(data, 65536))).bytes).toBe(data.length);
    expect((await offload.get('acme', 'streamed')).equals(data)).toBe(true);
    const tiny = randomBytes(7 * 3001);
    await offload.put('acme', 'tiny-chunks', chunks(tiny, 7));
    expect((await offload.get('acme', 'tiny-chunks')).equals(tiny)).toBe(true);
    const large = randomBytes(3 * 1024 * 1024 + 5);
    await offload.put('acme', 'large', chunks(large, 300_000));
    expect((await offload.get('acme', 'large')).equals(large)).toBe(true);
    await offload.put('acme', 'empty', Buffer.alloc(0));
    expect(await offload.get('acme', 'empty')).toHaveLength(0);
    await offload.put('acme', 'streamed', Buffer.from('second'));
    expect((await offload.get('acme', 'streamed')).toString()).toBe('second');
  });

  test("a blob copied under another tenant's name fails authentication (K1)", async () => {
    const { offload, offloadDir } = await fixture(['acme', 'globex']);
    await offload.put('acme', 'shared-name', randomBytes(4096));
    await offload.put('globex', 'other', Buffer.from('globex data'));
    await copyFile(blobPath(offloadDir, 'acme', 'shared-name'), blobPath(offloadDir, 'globex', 'shared-name'));
    const error = await tgError(() => offload.get('globex', 'shared-name'));
    expect(error.code).toBe(Errors.OFFLOAD_AUTH_FAILED.code);
    expect(errorText(error)).not.toContain('acme');
  });

  test('a blob copied under another block key of the same tenant fails authentication', async () => {
    const { offload, offloadDir } = await fixture(['acme']);
    await offload.put('acme', 'block-1', randomBytes(4096));
    await offload.put('acme', 'block-2', randomBytes(4096));
    await copyFile(blobPath(offloadDir, 'acme', 'block-1'), blobPath(offloadDir, 'acme', 'block-2'));
    expect((await tgError(() => offload.get('acme', 'block-2'))).code).toBe(Errors.OFFLOAD_AUTH_FAILED.code);
    await copyFile(blobPath(offloadDir, 'acme', 'block-1'), blobPath(offloadDir, 'acme', 'block-3'));
    expect((await tgError(() => offload.get('acme', 'block-3'))).code).toBe(Errors.OFFLOAD_AUTH_FAILED.code);
  });

  test('a flipped byte anywhere in the blob (header, wrapped key, IV, body, tag) fails authentication', async () => {
    const { keys, offload, offloadDir } = await fixture(['acme']);
    await keys.rotate('acme'); // version 1 also exists: flipping 0x03 in the version byte names it (2 ^ 3 = 1)
    const data = randomBytes(48);
    const sealed = Buffer.concat(sealBlob(keys, 'acme', 'blk', data));
    expect(openBlob(keys, 'acme', 'blk', sealed).equals(data)).toBe(true);
    for (let at = 0; at < sealed.length; at++) {
      for (const mask of [0x01, 0x03, 0x80]) {
        const altered = Buffer.from(sealed);
        altered[at] = (altered[at] ?? 0) ^ mask;
        expect((await tgError(() => openBlob(keys, 'acme', 'blk', altered))).code).toBe(Errors.OFFLOAD_AUTH_FAILED.code);
      }
    }
    // Truncations and extensions too.
    for (const altered of [sealed.subarray(0, sealed.length - 1), sealed.subarray(0, 20), Buffer.concat([sealed, Buffer.from([0])]), Buffer.alloc(0)]) {
      expect((await tgError(() => openBlob(keys, 'acme', 'blk', altered))).code).toBe(Errors.OFFLOAD_AUTH_FAILED.code);
    }
    // And on disk, through the store.
    await offload.put('acme', 'on-disk', randomBytes(1000));
    const path = blobPath(offloadDir, 'acme', 'on-disk');
    const bytes = await readFile(path);
    bytes[500] = (bytes[500] ?? 0) ^ 0x04;
    await writeFile(path, bytes);
    expect((await tgError(() => offload.get('acme', 'on-disk'))).code).toBe(Errors.OFFLOAD_AUTH_FAILED.code);
  });

  test('a missing blob is NOT_FOUND; delete removes it once', async () => {
    const { offload } = await fixture(['acme']);
    expect((await tgError(() => offload.get('acme', 'never'))).code).toBe(Errors.NOT_FOUND.code);
    await offload.put('acme', 'blk', Buffer.from('x'));
    expect(await offload.delete('acme', 'blk')).toBe(true);
    expect(await offload.delete('acme', 'blk')).toBe(false);
    expect((await tgError(() => offload.get('acme', 'blk'))).code).toBe(Errors.NOT_FOUND.code);
  });

  test('tenant ids and block keys that could leave the store directory are refused', async () => {
    const { offload, offloadDir } = await fixture(['acme']);
    for (const blockKey of ['../acme/x', '..', '.', 'a/b', 'a\\b', '', 'x'.repeat(129), 'nul\0byte', 'é']) {
      expect((await tgError(() => offload.put('acme', blockKey, Buffer.from('x')))).code).toBe(Errors.BAD_REQUEST.code);
      expect((await tgError(() => offload.get('acme', blockKey))).code).toBe(Errors.BAD_REQUEST.code);
    }
    for (const tenant of ['..', '../acme', 'ACME', '', '.hidden']) {
      expect((await tgError(() => offload.put(tenant, 'blk', Buffer.from('x')))).code).toBe(Errors.BAD_REQUEST.code);
    }
    expect((await tgError(() => offload.put('nobody', 'blk', Buffer.from('x')))).code).toBe(Errors.UNKNOWN_TENANT.code);
    expect(await listAll(offloadDir)).toEqual([]);
  });
});

describe('OffloadStore: size limits', () => {
  test('maxBytes streaming refusal: 413 as soon as the limit is crossed, the source is not drained, and no file is left', async () => {
    const { offload, offloadDir } = await fixture(['acme']);
    let pulled = 0;
    async function* endless(): AsyncGenerator<Buffer> {
      for (;;) {
        pulled++;
        yield randomBytes(1024);
      }
    }
    const error = await tgError(() => offload.put('acme', 'too-big', endless(), { maxBytes: 10 * 1024 }));
    expect(error.status).toBe(413);
    expect(error.code).toBe(Errors.TOO_LARGE.code);
    expect(pulled).toBe(11);
    expect(await listAll(offloadDir)).toEqual([]);
  });

  test('an over-limit buffer is refused before anything is written; exactly the limit is accepted', async () => {
    const { offload, offloadDir } = await fixture(['acme']);
    expect((await tgError(() => offload.put('acme', 'big', Buffer.alloc(1025), { maxBytes: 1024 }))).status).toBe(413);
    expect(await listAll(offloadDir)).toEqual([]);
    expect((await offload.put('acme', 'fits', chunks(Buffer.alloc(1024), 100), { maxBytes: 1024 })).bytes).toBe(1024);
  });

  test('a source that fails mid-stream leaves no file and keeps the previous blob', async () => {
    const { offload, offloadDir } = await fixture(['acme']);
    await offload.put('acme', 'blk', Buffer.from('previous'));
    async function* broken(): AsyncGenerator<Buffer> {
      yield randomBytes(100);
      throw new Error('client went away');
    }
    await expect(offload.put('acme', 'blk', broken())).rejects.toThrow('client went away');
    expect((await offload.get('acme', 'blk')).toString()).toBe('previous');
    expect(await listAll(offloadDir)).toEqual(['blk.blob']);
  });
});

describe('OffloadStore: rotation and erasure', () => {
  test('rotation keeps old blobs readable and seals new blobs under the new version', async () => {
    const { keys, offload, offloadDir } = await fixture(['acme']);
    const old = randomBytes(5000);
    await offload.put('acme', 'old', old);
    expect(await keys.rotate('acme')).toBe(2);
    const fresh = randomBytes(5000);
    expect((await offload.put('acme', 'new', fresh)).version).toBe(2);
    expect(await versionOf(blobPath(offloadDir, 'acme', 'old'))).toBe(1);
    expect(await versionOf(blobPath(offloadDir, 'acme', 'new'))).toBe(2);
    expect((await offload.get('acme', 'old')).equals(old)).toBe(true);
    expect((await offload.get('acme', 'new')).equals(fresh)).toBe(true);
  });

  test('erasure makes old blobs unrecoverable even when the blob files are restored from a backup, and the id is refused', async () => {
    const { keys, offload, offloadDir, dir, keystorePath } = await fixture(['acme', 'globex']);
    await offload.put('acme', 'v1-blob', randomBytes(2048));
    await keys.rotate('acme');
    await offload.put('acme', 'v2-blob', randomBytes(2048));
    await offload.put('globex', 'keep', Buffer.from('globex stays'));
    const backup = join(dir, 'backup');
    await cp(join(offloadDir, 'acme'), backup, { recursive: true });

    await offload.eraseTenant('acme');
    expect(await readdir(offloadDir)).toEqual(['globex']); // the blob directory is gone

    // Restore the blob files from the backup copy: the id is refused, whatever is on disk.
    await mkdir(join(offloadDir, 'acme'));
    await cp(backup, join(offloadDir, 'acme'), { recursive: true });
    for (const blockKey of ['v1-blob', 'v2-blob']) {
      expect((await tgError(() => offload.get('acme', blockKey))).code).toBe(Errors.TENANT_ERASED.code);
    }
    // Nothing left in the keystore opens them either: under any other tenant's name they fail,
    // and the keystore file no longer holds any key of the erased tenant.
    for (const blockKey of ['v1-blob', 'v2-blob']) {
      await copyFile(join(backup, `${blockKey}.blob`), blobPath(offloadDir, 'globex', blockKey));
      expect((await tgError(() => offload.get('globex', blockKey))).code).toBe(Errors.OFFLOAD_AUTH_FAILED.code);
    }
    const doc = JSON.parse(await readFile(keystorePath, 'utf8')) as { tenants: { id: string; versions?: unknown }[] };
    expect(doc.tenants.find((t) => t.id === 'acme')?.versions).toBeUndefined();

    // The id stays refused for every operation, including re-creating it.
    expect((await tgError(() => offload.put('acme', 'again', Buffer.from('x')))).code).toBe(Errors.TENANT_ERASED.code);
    expect((await tgError(() => offload.delete('acme', 'v1-blob'))).code).toBe(Errors.TENANT_ERASED.code);
    expect((await tgError(() => keys.generateDataKey('acme'))).code).toBe(Errors.TENANT_ERASED.code);
    expect((await tgError(() => keys.cacheSalt('acme'))).code).toBe(Errors.TENANT_ERASED.code);
    expect((await tgError(() => keys.createTenant('acme'))).code).toBe(Errors.TENANT_ERASED.code);
    expect((await offload.get('globex', 'keep')).toString()).toBe('globex stays');

    // Startup housekeeping removes the restored directory of the erased tenant again.
    expect(await offload.sweep()).toEqual({ tempFilesRemoved: 0, erasedTenantDirsRemoved: 1, putsCompleted: 0 });
    expect((await readdir(offloadDir)).sort()).toEqual(['globex']);
  });

  test('sweep removes temporary files left by a crashed put', async () => {
    const { offload, offloadDir } = await fixture(['acme']);
    await offload.put('acme', 'blk', Buffer.from('x'));
    await writeFile(join(offloadDir, 'acme', '.blk.blob.0123456789ab.tmp'), 'torn');
    expect(await offload.sweep()).toEqual({ tempFilesRemoved: 1, erasedTenantDirsRemoved: 0, putsCompleted: 0 });
    expect(await listAll(offloadDir)).toEqual(['blk.blob']);
  });

  test('an erasure that lands during a streaming put wins: the put is refused and leaves nothing', async () => {
    const { offload, offloadDir } = await fixture(['acme']);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started: () => void = () => undefined;
    const midway = new Promise<void>((resolve) => (started = resolve));
    async function* slow(): AsyncGenerator<Buffer> {
      yield randomBytes(1024);
      started();
      await gate;
      yield randomBytes(1024);
    }
    const put = offload.put('acme', 'racing', slow());
    await midway;
    await offload.eraseTenant('acme');
    release();
    expect((await tgError(() => put)).code).toBe(Errors.TENANT_ERASED.code);
    expect(await readdir(offloadDir)).toEqual([]);
  });
});

describe('OffloadStore: rollback (issue 20.9)', () => {
  test('an older copy of a blob put back over the latest one is OFFLOAD_STALE, also for a store reopened with the recorded versions; the latest copy opens', async () => {
    const { keys, offload, offloadDir } = await fixture(['acme']);
    const path = blobPath(offloadDir, 'acme', 'blk');
    const versions = new BlobVersions();
    const store = await OffloadStore.open({ dir: offloadDir, keys, versions, recordedKey: (_tenant, blockKey) => blockKey });
    const recorded: number[] = [];
    const record = { beforeCommit: async (r: { generation: number }) => void recorded.push(r.generation) };
    await store.put('acme', 'blk', Buffer.from('first'), record);
    const v1 = await readFile(path);
    await store.put('acme', 'blk', Buffer.from('second'), record);
    const v2 = await readFile(path);
    expect(recorded).toHaveLength(2);
    expect(recorded[1]).toBeGreaterThan(recorded[0] ?? Infinity);
    expect(blobGeneration(v2)).toBe(recorded[1]);

    await writeFile(path, v1);
    const stale = await tgError(() => store.get('acme', 'blk'));
    expect(stale.code).toBe(Errors.OFFLOAD_STALE.code);
    expect(stale.status).toBe(409);
    expect(errorText(stale)).not.toContain('first');

    // As after a restart: a new store over the same directory, versions as replay restores them.
    const replayed = new BlobVersions();
    for (const generation of recorded) replayed.put('acme', 'blk', generation);
    const reopened = await OffloadStore.open({ dir: offloadDir, keys, versions: replayed, recordedKey: (_tenant, blockKey) => blockKey });
    expect((await tgError(() => reopened.get('acme', 'blk'))).code).toBe(Errors.OFFLOAD_STALE.code);
    await writeFile(path, v2);
    expect((await reopened.get('acme', 'blk')).toString()).toBe('second');
    // Without any recorded versions nothing on disk is trusted to be the latest.
    expect((await tgError(() => offload.get('acme', 'blk'))).code).toBe(Errors.OFFLOAD_STALE.code);
    // A new put continues above every recorded generation.
    expect((await reopened.put('acme', 'other', Buffer.from('x'))).bytes).toBe(1);
    expect(blobGeneration(await readFile(blobPath(offloadDir, 'acme', 'other')))).toBeGreaterThan(recorded[1] ?? Infinity);
  });

  test('a deleted blob put back is OFFLOAD_STALE', async () => {
    const { offload, offloadDir } = await fixture(['acme']);
    await offload.put('acme', 'blk', Buffer.from('x'));
    const copy = await readFile(blobPath(offloadDir, 'acme', 'blk'));
    expect(await offload.delete('acme', 'blk')).toBe(true);
    await writeFile(blobPath(offloadDir, 'acme', 'blk'), copy);
    expect((await tgError(() => offload.get('acme', 'blk'))).code).toBe(Errors.OFFLOAD_STALE.code);
  });

  test('two concurrent puts of one block key: the later-started one is the blob, whatever order they commit in', async () => {
    const { offload } = await fixture(['acme']);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = offload.put('acme', 'blk', Buffer.from('older'), { beforeCommit: () => gate });
    const second = offload.put('acme', 'blk', Buffer.from('newer'));
    await second;
    release();
    await first;
    expect((await offload.get('acme', 'blk')).toString()).toBe('newer');
  });

  test('sweep finishes a put killed after its durable record and before its rename: the recorded generation is served', async () => {
    const { keys, offloadDir } = await fixture(['acme']);
    const versions = new BlobVersions();
    const store = await OffloadStore.open({ dir: offloadDir, keys, versions, recordedKey: (_tenant, blockKey) => blockKey });
    await store.put('acme', 'blk', Buffer.from('old'));
    const tenantDir = join(offloadDir, 'acme');
    let saved: { name: string; bytes: Buffer; generation: number } | undefined;
    // The "crash": the record is made, then the process dies; the finished temp file stays behind.
    const crashed = store.put('acme', 'blk', Buffer.from('new'), {
      beforeCommit: async ({ generation }) => {
        const name = (await readdir(tenantDir)).find((n) => n.endsWith('.tmp')) ?? '';
        saved = { name, bytes: await readFile(join(tenantDir, name)), generation };
        throw new Error('killed');
      },
    });
    await expect(crashed).rejects.toThrow('killed');
    if (!saved) throw new Error('no temp file seen');
    await writeFile(join(tenantDir, saved.name), saved.bytes);
    await writeFile(join(tenantDir, '.blk.blob.0123456789ab.tmp'), 'torn, and never recorded');

    versions.put('acme', 'blk', saved.generation); // replay of the durable record
    const restarted = await OffloadStore.open({ dir: offloadDir, keys, versions, recordedKey: (_tenant, blockKey) => blockKey });
    expect(await restarted.sweep()).toEqual({ tempFilesRemoved: 1, erasedTenantDirsRemoved: 0, putsCompleted: 1 });
    expect((await restarted.get('acme', 'blk')).toString()).toBe('new');
    expect(await listAll(offloadDir)).toEqual(['blk.blob']);
  });
});

describe('OffloadStore and KeyStore errors (L1)', () => {
  test('errors never name another tenant, echo a block key, or carry key material or plaintext', async () => {
    const { keys, offload, offloadDir } = await fixture(['acme', 'globex']);
    const secretBlockKey = 'acme-secret-block-name';
    const plaintext = Buffer.from('PROMPT: the quarterly numbers are confidential');
    await offload.put('acme', secretBlockKey, plaintext);
    await offload.put('globex', 'own-block', Buffer.from('globex'));
    const dataKey = keys.generateDataKey('acme');
    await copyFile(blobPath(offloadDir, 'acme', secretBlockKey), blobPath(offloadDir, 'globex', secretBlockKey));

    const errors = [
      await tgError(() => offload.get('globex', secretBlockKey)),
      await tgError(() => offload.get('globex', 'absent-block')),
      await tgError(() => keys.unwrapDataKey('globex', dataKey.wrapped)),
      await tgError(() => offload.put('globex', secretBlockKey, plaintext, { maxBytes: 4 })),
      await tgError(() => offload.put('globex', '../acme/' + secretBlockKey, plaintext)),
    ];
    await offload.eraseTenant('acme');
    errors.push(await tgError(() => offload.get('acme', secretBlockKey)), await tgError(() => keys.unwrapDataKey('acme', dataKey.wrapped)));

    const forbidden = ['acme', secretBlockKey, 'PROMPT', plaintext.toString('base64'), dataKey.plaintext.toString('hex'), dataKey.plaintext.toString('base64'), dataKey.wrapped];
    for (const error of errors) {
      const text = errorText(error);
      for (const needle of forbidden) expect(text).not.toContain(needle);
    }
  });
});

