import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Errors, TgError } from '../../src/errors.js';
import { KeyStore, loadMasterKey, openBlob } from '../../src/keys/index.js';
import { callOffload, restartTestSidecar, startTestSidecar, type ClientCredential, type TestSidecar } from '../support/sidecar.js';

let tg: TestSidecar;
beforeAll(async () => {
  tg = await startTestSidecar({ configPatch: (y) => `${y}limits:\n  max_offload_bytes: 1048576\n` });
});
afterAll(async () => tg.close());

const errorCode = (body: unknown): string | undefined => (body as { error?: { code?: string } }).error?.code;

function offload(baseUrl: string, method: string, tenant: string, key: string, actingFor: string | null, body?: Buffer, credential: ClientCredential = tg.worker): Promise<{ status: number; body: Buffer }> {
  return callOffload(baseUrl, tg.ca, credential, { method, tenant, key, actingFor, ...(body ? { body } : {}) });
}
const put = (tenant: string, key: string, bytes: Buffer, actingFor: string | null = tenant) => offload(tg.sidecar.url, 'PUT', tenant, key, actingFor, bytes);
const get = (tenant: string, key: string, actingFor: string | null = tenant) => offload(tg.sidecar.url, 'GET', tenant, key, actingFor);
const blobPath = (tenant: string, key: string): string => join(tg.setup.dir, 'offload', tenant, `${key}.blob`);
const kvBytes = (label: string, size = 64 * 1024): Buffer => Buffer.alloc(size, `KV-CANARY-${label}-`);

describe('data keys and cache salts', () => {
  test('a data key comes back in plaintext and wrapped, and unwraps only for its tenant', async () => {
    const made = await tg.call(tg.worker, 'POST', '/v1/keys/standard-demo/datakey');
    expect(made.status).toBe(200);
    const { plaintext, wrapped, version } = made.body as { plaintext: string; wrapped: string; version: number };
    expect(Buffer.from(plaintext, 'base64')).toHaveLength(32);
    expect(version).toBe(1);
    const mine = await tg.call(tg.worker, 'POST', '/v1/keys/standard-demo/datakey/unwrap', { wrapped });
    expect((mine.body as { plaintext: string }).plaintext).toBe(plaintext);
    const theirs = await tg.call(tg.worker, 'POST', '/v1/keys/free-demo/datakey/unwrap', { wrapped });
    expect(theirs.status).toBe(400);
    expect(JSON.stringify(theirs.body)).not.toContain(plaintext);
    // L1: the key never reaches the audit log.
    const audit = readdirSync(join(tg.setup.dir, 'audit')).map((f) => readFileSync(join(tg.setup.dir, 'audit', f), 'utf8')).join('');
    expect(audit).not.toContain(plaintext);
    expect(audit).not.toContain(Buffer.from(plaintext, 'base64').toString('hex'));
  });

  test('cache salts differ per tenant, are stable, change on rotation, and only workers get them', async () => {
    const salt = async (tenant: string) => ((await tg.call(tg.worker, 'GET', `/v1/tenants/${tenant}/cache-salt`)).body as { cache_salt: string }).cache_salt;
    const a1 = await salt('free-demo');
    expect(a1).toBe(await salt('free-demo'));
    expect(a1).not.toBe(await salt('standard-demo'));
    const rotated = await tg.call(tg.operator, 'POST', '/v1/tenants/free-demo/keys/rotate');
    expect(rotated.body).toMatchObject({ tenant: 'free-demo', version: 2 });
    expect(await salt('free-demo')).not.toBe(a1);
    expect((await tg.call(tg.tenantKey('free-demo'), 'GET', '/v1/tenants/free-demo/cache-salt')).status).toBe(403);
    expect((await tg.call(tg.worker, 'POST', '/v1/tenants/free-demo/keys/rotate')).status).toBe(403);
  });
});

describe('sealed KV offload (K1)', () => {
  test('a block round-trips and is stored sealed on disk', async () => {
    const bytes = kvBytes('standard-1');
    expect((await put('standard-demo', 'blk-1', bytes)).status).toBe(201);
    const back = await get('standard-demo', 'blk-1');
    expect(back.status).toBe(200);
    expect(back.body.equals(bytes)).toBe(true);
    expect(readFileSync(blobPath('standard-demo', 'blk-1')).includes(Buffer.from('KV-CANARY'))).toBe(false);
  });

  test('a worker acting for one tenant cannot read another tenant\'s blocks (policy: cross_tenant)', async () => {
    const res = await get('standard-demo', 'blk-1', 'free-demo');
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body.toString())).toMatchObject({ error: { code: 'TG_ERR_POLICY_DENIED', reasons: ['cross_tenant'] } });
    expect((await get('standard-demo', 'blk-1', null)).status).toBe(403);
  });

  test('a blob file copied under another tenant\'s name, or another block key, fails to open', async () => {
    mkdirSync(join(tg.setup.dir, 'offload', 'free-demo'), { recursive: true });
    copyFileSync(blobPath('standard-demo', 'blk-1'), blobPath('free-demo', 'stolen'));
    const stolen = await get('free-demo', 'stolen');
    expect(stolen.status).toBe(409);
    expect(JSON.parse(stolen.body.toString()).error.code).toBe('TG_ERR_OFFLOAD_AUTH_FAILED');
    copyFileSync(blobPath('standard-demo', 'blk-1'), blobPath('standard-demo', 'renamed'));
    expect((await get('standard-demo', 'renamed')).status).toBe(409);
  });

  test('a single flipped byte fails to open', async () => {
    await put('standard-demo', 'blk-tamper', kvBytes('tamper', 4096));
    const file = blobPath('standard-demo', 'blk-tamper');
    const sealed = readFileSync(file);
    sealed[sealed.length - 100]! ^= 0x01;
    writeFileSync(file, sealed);
    expect((await get('standard-demo', 'blk-tamper')).status).toBe(409);
  });

  test('rotation keeps old blocks readable and seals new ones under the new version', async () => {
    const old = kvBytes('before-rotation');
    await put('enterprise-demo', 'old', old);
    const rotated = await tg.call(tg.operator, 'POST', '/v1/tenants/enterprise-demo/keys/rotate');
    expect(rotated.body).toMatchObject({ version: 2 });
    const fresh = await put('enterprise-demo', 'new', kvBytes('after-rotation'));
    expect(JSON.parse(fresh.body.toString())).toMatchObject({ version: 2 });
    expect((await get('enterprise-demo', 'old')).body.equals(old)).toBe(true);
  });

  test('a body over the limit is 413 and leaves nothing behind', async () => {
    const res = await put('standard-demo', 'too-big', Buffer.alloc(1048577, 1));
    expect(res.status).toBe(413);
    expect(readdirSync(join(tg.setup.dir, 'offload', 'standard-demo')).some((f) => f.includes('too-big'))).toBe(false);
  });

  test('an older copy of a blob put back over the latest one is refused with 409 TG_ERR_OFFLOAD_STALE, also after a restart; editing its version field does not help (issue 20.9)', async () => {
    const file = blobPath('standard-demo', 'rollback');
    expect((await put('standard-demo', 'rollback', kvBytes('v1', 4096))).status).toBe(201);
    const v1 = readFileSync(file);
    expect((await put('standard-demo', 'rollback', kvBytes('v2', 4096))).status).toBe(201);
    const v2 = readFileSync(file);

    writeFileSync(file, v1); // an attacker (or a careless restore) puts the old copy back
    const stale = await get('standard-demo', 'rollback');
    expect(stale.status).toBe(409);
    expect(errorCode(JSON.parse(stale.body.toString()))).toBe('TG_ERR_OFFLOAD_STALE');
    expect(stale.body.includes(Buffer.from('KV-CANARY'))).toBe(false);

    // The version is authenticated: giving the old copy the latest version's number breaks it.
    const forged = Buffer.from(v1);
    v2.copy(forged, 8, 8, 16);
    writeFileSync(file, forged);
    const forgedGet = await get('standard-demo', 'rollback');
    expect(forgedGet.status).toBe(409);
    expect(errorCode(JSON.parse(forgedGet.body.toString()))).toBe('TG_ERR_OFFLOAD_AUTH_FAILED');

    // The latest version is restored from the audit log at start: the old copy stays refused.
    writeFileSync(file, v1);
    tg = await restartTestSidecar(tg);
    expect(errorCode(JSON.parse((await get('standard-demo', 'rollback')).body.toString()))).toBe('TG_ERR_OFFLOAD_STALE');
    writeFileSync(file, v2);
    const latest = await get('standard-demo', 'rollback');
    expect(latest.status).toBe(200);
    expect(latest.body.equals(kvBytes('v2', 4096))).toBe(true);

    // A deleted blob put back is refused too (its deletion is recorded), before and after a restart.
    expect((await offload(tg.sidecar.url, 'DELETE', 'standard-demo', 'rollback', 'standard-demo')).status).toBe(204);
    writeFileSync(file, v2);
    expect(errorCode(JSON.parse((await get('standard-demo', 'rollback')).body.toString()))).toBe('TG_ERR_OFFLOAD_STALE');
    tg = await restartTestSidecar(tg);
    expect(errorCode(JSON.parse((await get('standard-demo', 'rollback')).body.toString()))).toBe('TG_ERR_OFFLOAD_STALE');
    rmSync(file);
  });

  test('keys survive a restart: the restarted sidecar opens earlier blocks', async () => {
    tg = await restartTestSidecar(tg);
    const res = await get('standard-demo', 'blk-1');
    expect(res.body.equals(kvBytes('standard-1'))).toBe(true);
  });
});

describe('erasure (crypto-shred)', () => {
  test('after DELETE /v1/tenants/{id} nothing opens the old blocks and the id is refused', async () => {
    const secret = kvBytes('erase-me');
    await put('free-demo', 'doomed', secret);
    const backup = readFileSync(blobPath('free-demo', 'doomed'));
    const erased = await tg.call(tg.operator, 'DELETE', '/v1/tenants/free-demo');
    expect(erased.status).toBe(200);
    expect(erased.body).toMatchObject({ tenant: 'free-demo', erased: true });

    // Restore the blob from a "backup": the keystore no longer has any key that opens it.
    mkdirSync(join(tg.setup.dir, 'offload', 'free-demo'), { recursive: true });
    writeFileSync(blobPath('free-demo', 'doomed'), backup);
    const config = loadConfig(tg.setup.configFile);
    const keystoreText = readFileSync(config.paths.keystore, 'utf8');
    expect(keystoreText).toContain('"erased"');
    const keys = await KeyStore.open(`${config.paths.keystore}`, await loadMasterKey(config.paths.masterKey));
    expect(() => openBlob(keys, 'free-demo', 'doomed', backup)).toThrow();
    keys.close();

    expect((await get('free-demo', 'doomed')).status).toBe(410);
    expect((await tg.call(tg.worker, 'POST', '/v1/keys/free-demo/datakey')).status).toBe(410);
    expect((await tg.call(tg.worker, 'POST', '/v1/blocks/allocate', { tenant: 'free-demo', request_id: 'x', count: 1 })).status).toBe(410);
    expect((await tg.call(tg.tenantKey('free-demo'), 'GET', '/v1/usage')).status).toBe(401);
    expect((await tg.call(tg.operator, 'DELETE', '/v1/tenants/free-demo')).status).toBe(410);
    const records = readdirSync(join(tg.setup.dir, 'audit')).filter((f) => f.endsWith('.jsonl')).flatMap((f) => readFileSync(join(tg.setup.dir, 'audit', f), 'utf8').split('\n').filter(Boolean)).map((l) => JSON.parse(l) as { action: string; tenant?: string });
    expect(records.some((r) => r.action === 'tenants.erase' && r.tenant === 'free-demo')).toBe(true);

    // The erasure outlives a restart (replayed from the log), and the others carry on.
    tg = await restartTestSidecar(tg);
    expect((await tg.call(tg.worker, 'POST', '/v1/keys/free-demo/datakey')).status).toBe(410);
    expect((await get('standard-demo', 'blk-1')).status).toBe(200);
    expect((await tg.call(tg.operator, 'GET', '/v1/audit/verify')).body).toMatchObject({ ok: true });
  });

  test('a keystore backup taken before an erasure does not open the erased tenant with the master key the erasure left (issue 20.4)', async () => {
    const config = loadConfig(tg.setup.configFile);
    const secret = kvBytes('backed-up');
    expect((await put('enterprise-demo', 'backed-up', secret)).status).toBe(201);
    const blob = readFileSync(blobPath('enterprise-demo', 'backed-up'));
    const backupDir = mkdtempSync(join(tmpdir(), 'tg-keystore-backup-'));
    const backupKeystore = join(backupDir, 'keystore.json');
    copyFileSync(config.paths.keystore, backupKeystore);
    const oldMasterKey = await loadMasterKey(config.paths.masterKey);

    expect((await tg.call(tg.operator, 'DELETE', '/v1/tenants/enterprise-demo')).status).toBe(200);

    // The backup plus the master key file as it is now: refused, so the blob copy cannot be opened.
    const currentMasterKey = await loadMasterKey(config.paths.masterKey);
    const openWith = async (keystorePath: string, masterKey: Buffer): Promise<Buffer | TgError> => {
      let keys: KeyStore;
      try {
        keys = await KeyStore.open(keystorePath, masterKey);
      } catch (error) {
        if (error instanceof TgError) return error;
        throw error;
      }
      try {
        return openBlob(keys, 'enterprise-demo', 'backed-up', blob);
      } finally {
        keys.close();
      }
    };
    const refused = await openWith(backupKeystore, currentMasterKey);
    expect(refused).toBeInstanceOf(TgError);
    expect((refused as TgError).code).toBe(Errors.KEYSTORE_INVALID.code);
    // Not just the check value: with the backup's masterKeyCheck replaced by the current one, the
    // wrapped KEKs themselves do not authenticate under the current master key.
    const current = JSON.parse(readFileSync(config.paths.keystore, 'utf8')) as { masterKeyCheck: string };
    const relabelled = join(backupDir, 'relabelled.json');
    const backupDoc = JSON.parse(readFileSync(backupKeystore, 'utf8')) as { masterKeyCheck: string };
    writeFileSync(relabelled, JSON.stringify({ ...backupDoc, masterKeyCheck: current.masterKeyCheck }));
    const stillRefused = await openWith(relabelled, currentMasterKey);
    expect(stillRefused).toBeInstanceOf(TgError);
    expect((stillRefused as TgError).code).toBe(Errors.KEYSTORE_INVALID.code);

    // The old master key is gone from the keys directory: no file there holds it any more.
    const keysDir = dirname(config.paths.masterKey);
    for (const name of readdirSync(keysDir)) {
      const text = readFileSync(join(keysDir, name));
      expect(text.includes(Buffer.from(oldMasterKey.toString('base64')))).toBe(false);
    }
    // The documented limit: a backup of BOTH the old keystore and the old master key still opens it.
    const both = await openWith(backupKeystore, oldMasterKey);
    expect(Buffer.isBuffer(both) && both.equals(secret)).toBe(true);
    rmSync(backupDir, { recursive: true, force: true });

    // The remaining tenants carry on under the new master key, also after a restart.
    tg = await restartTestSidecar(tg);
    expect((await get('standard-demo', 'blk-1')).body.equals(kvBytes('standard-1'))).toBe(true);
    expect((await tg.call(tg.worker, 'POST', '/v1/keys/enterprise-demo/datakey')).status).toBe(410);
  });
});
