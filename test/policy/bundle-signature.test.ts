/**
 * Signed bundles, built by the real OPA CLI (`opa build -b --signing-key`), loaded by the engine
 * with a verification key: only a bundle signed by that key, with exactly its signed files, loads.
 */
import { execFileSync } from 'node:child_process';
import { sign } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadVerificationKey, PolicyEngine, REQUIRED_ENTRYPOINTS, type BundleVerification } from '../../src/policy/index.js';
import { ecKey, PROJECT_BUNDLE, rsaKey, signedBundle } from '../support/opa.js';

/** Unpacks a bundle, lets `edit` change its files, packs it again (the signature is kept as it was). */
function tampered(bundle: string, edit: (root: string) => void): string {
  const root = mkdtempSync(join(tmpdir(), 'tg-tampered-'));
  mkdirSync(join(root, 'files'));
  execFileSync('tar', ['xzf', bundle, '-C', join(root, 'files')]);
  edit(join(root, 'files'));
  const out = join(root, 'bundle.tar.gz');
  execFileSync('tar', ['czf', out, '--format=ustar', '-C', join(root, 'files'), '.']);
  return out;
}

async function load(bundlePath: string, verification?: BundleVerification) {
  const engine = new PolicyEngine({ bundlePath, requiredEntrypoints: REQUIRED_ENTRYPOINTS, ...(verification ? { verification } : {}) });
  return { engine, result: await engine.reload() };
}

const allocate = { principal: { role: 'worker', id: 'w', authn: 'mtls' }, action: 'blocks.allocate', tenant: 't', resource: { count: 1 }, facts: { owned: 0, cached: 0, quota_blocks: 10, pool: { name: 'shared' } } };

describe('signed policy bundles', () => {
  const rsa = rsaKey();
  const rs256: BundleVerification = { publicKey: loadVerificationKey(rsa.publicPem), algorithm: 'RS256' };
  const signed = signedBundle(rsa);

  test('a bundle signed by the configured key (RS256, as opa build writes it) loads and decides', async () => {
    const { engine, result } = await load(signed, rs256);
    expect(result.ok).toBe(true);
    expect(engine.decide('tenantguard/blocks/decision', allocate).reasons).not.toContain('policy_unavailable');
  });

  test('ES256 signatures verify too', async () => {
    const ec = ecKey();
    const { result } = await load(signedBundle(ec, { algorithm: 'ES256' }), { publicKey: loadVerificationKey(ec.publicPem), algorithm: 'ES256' });
    expect(result.ok).toBe(true);
  });

  test('an unsigned bundle is refused when verification is configured (and loads without it)', async () => {
    expect((await load(PROJECT_BUNDLE)).result.ok).toBe(true);
    const { engine, result } = await load(PROJECT_BUNDLE, rs256);
    expect(result).toMatchObject({ ok: false, error: expect.stringMatching(/not signed/) });
    expect(engine.decide('tenantguard/blocks/decision', allocate)).toEqual({ allow: false, reasons: ['policy_unavailable'] });
  });

  test('a bundle signed by another key is refused', async () => {
    const { result } = await load(signedBundle(rsaKey()), rs256);
    expect(result).toMatchObject({ ok: false, error: expect.stringMatching(/does not verify/) });
  });

  test('a signed bundle whose data.json was edited afterwards is refused, even with the signature kept', async () => {
    const edited = tampered(signed, (root) => {
      const data = JSON.parse(readFileSync(join(root, 'data.json'), 'utf8')) as { tiers: { free: { concurrent: number } } };
      data.tiers.free.concurrent = 1_000_000;
      writeFileSync(join(root, 'data.json'), JSON.stringify(data));
    });
    const { result } = await load(edited, rs256);
    expect(result).toMatchObject({ ok: false, error: expect.stringMatching(/data\.json does not match its signed hash/) });
  });

  test('a file added to a signed bundle, or a signed file removed, is refused', async () => {
    const added = tampered(signed, (root) => writeFileSync(join(root, 'extra.rego'), 'package x\n'));
    expect((await load(added, rs256)).result).toMatchObject({ ok: false, error: expect.stringMatching(/extra\.rego is not covered/) });
    const removed = tampered(signed, (root) => execFileSync('rm', [join(root, 'data.json')]));
    expect((await load(removed, rs256)).result).toMatchObject({ ok: false, error: expect.stringMatching(/lacks signed file data\.json/) });
  });

  test('the algorithm and the key id must be the configured ones', async () => {
    expect((await load(signed, { ...rs256, algorithm: 'RS512' })).result).toMatchObject({ ok: false, error: expect.stringMatching(/uses RS256/) });
    expect((await load(signed, { ...rs256, keyId: 'policy-ci' })).result).toMatchObject({ ok: false, error: expect.stringMatching(/key id default/) });
    expect((await load(signedBundle(rsa, { keyId: 'policy-ci' }), { ...rs256, keyId: 'policy-ci' })).result.ok).toBe(true);
  });

  test('a refused bundle never replaces the signed one that is serving', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'tg-signed-live-')), 'bundle.tar.gz');
    writeFileSync(path, readFileSync(signed));
    const { engine, result } = await load(path, rs256);
    expect(result.ok).toBe(true);
    writeFileSync(path, readFileSync(PROJECT_BUNDLE)); // unsigned
    expect((await engine.reload()).ok).toBe(false);
    expect(engine.info?.sha256).toBe(result.ok ? result.info.sha256 : '');
  });

  // Issue 17.11: verification is jose's (a maintained JOSE library), which applies RFC 7515 in
  // full; the hand-written verifier it replaced accepted a header marking an extension it does not
  // understand as critical, which RFC 7515 §4.1.11 says must be refused.
  test('a correctly signed JWS whose protected header marks an unknown extension critical (crit) is refused', async () => {
    const edited = tampered(signed, (root) => {
      const { signatures } = JSON.parse(readFileSync(join(root, '.signatures.json'), 'utf8')) as { signatures: [string] };
      const payload = signatures[0].split('.')[1]!;
      const header = Buffer.from(JSON.stringify({ alg: 'RS256', crit: ['x-tenantguard-unknown'], 'x-tenantguard-unknown': true })).toString('base64url');
      const signature = sign('sha256', Buffer.from(`${header}.${payload}`), rsa.privatePem).toString('base64url');
      writeFileSync(join(root, '.signatures.json'), JSON.stringify({ signatures: [`${header}.${payload}.${signature}`] }));
    });
    expect((await load(edited, rs256)).result).toMatchObject({ ok: false, error: expect.stringMatching(/does not verify/) });
  });

  test('a JWS re-signed with the right key over the same payload still loads (the crit test above fails only for crit)', async () => {
    const resigned = tampered(signed, (root) => {
      const { signatures } = JSON.parse(readFileSync(join(root, '.signatures.json'), 'utf8')) as { signatures: [string] };
      const payload = signatures[0].split('.')[1]!;
      const header = Buffer.from(JSON.stringify({ alg: 'RS256' })).toString('base64url');
      const signature = sign('sha256', Buffer.from(`${header}.${payload}`), rsa.privatePem).toString('base64url');
      writeFileSync(join(root, '.signatures.json'), JSON.stringify({ signatures: [`${header}.${payload}.${signature}`] }));
    });
    expect((await load(resigned, rs256)).result).toMatchObject({ ok: true });
  });
});
