import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { PROJECT_BUNDLE, rsaKey, signedBundle } from '../support/opa.js';
import { startTestSidecar, type TestSidecar } from '../support/sidecar.js';

/** A config patch: the bundle to load and the key it must be signed with. */
function requireSignature(bundle: string, publicPem: string): (yaml: string) => string {
  const keyFile = join(mkdtempSync(join(tmpdir(), 'tg-policy-key-')), 'policy-signing.pub');
  writeFileSync(keyFile, publicPem);
  return (yaml) => `${yaml.replace('paths:\n', `paths:\n  policy_bundle: ${bundle}\n`)}policy:\n  verification:\n    public_key: ${keyFile}\n    algorithm: RS256\n`;
}

describe('policy.verification in the config', () => {
  const key = rsaKey();
  const started: TestSidecar[] = [];
  afterAll(async () => Promise.all(started.map((s) => s.close())));

  test('with a bundle signed by the configured key the sidecar is ready and decides', async () => {
    const tg = await startTestSidecar({ configPatch: requireSignature(signedBundle(key), key.publicPem) });
    started.push(tg);
    expect((await tg.call({}, 'GET', '/readyz')).status).toBe(200);
    expect((await tg.call(tg.operator, 'GET', '/v1/policy')).body).toMatchObject({ signature_verified: true });
    expect((await tg.call(tg.worker, 'POST', '/v1/blocks/allocate', { tenant: 'free-demo', request_id: 'r1', count: 1 })).status).toBe(200);
  });

  test('with an unsigned bundle it is not ready and every decision is 503 TG_ERR_POLICY_UNAVAILABLE (fail closed)', async () => {
    const tg = await startTestSidecar({ configPatch: requireSignature(PROJECT_BUNDLE, key.publicPem) });
    started.push(tg);
    expect((await tg.call({}, 'GET', '/readyz')).status).toBe(503);
    const res = await tg.call(tg.worker, 'POST', '/v1/blocks/allocate', { tenant: 'free-demo', request_id: 'r1', count: 1 });
    expect([res.status, (res.body as { error: { code: string } }).error.code]).toEqual([503, 'TG_ERR_POLICY_UNAVAILABLE']);
  });

  test('a key file that is not a PEM public key stops the start with TG_ERR_CONFIG_INVALID naming the key', async () => {
    const patch = requireSignature(PROJECT_BUNDLE, 'not a key\n');
    await expect(startTestSidecar({ configPatch: patch })).rejects.toMatchObject({ code: 'TG_ERR_CONFIG_INVALID', message: expect.stringMatching(/policy\.verification\.public_key: .*policy-signing\.pub is not a readable PEM public key/) });
  });
});
