import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BundlePoller, PolicyEngine, REQUIRED_ENTRYPOINTS } from '../../src/policy/index.js';
import { PROJECT_BUNDLE, rsaKey, signedBundle } from '../support/opa.js';
import type { AuditRecord } from '../../src/audit/index.js';
import { openSetupAudit, startTestSidecar } from '../support/sidecar.js';

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** A bundle server on loopback whose answer the test sets; it records each request's If-None-Match. */
class BundleServer {
  answer: { status: number; etag?: string; body?: Buffer } = { status: 404 };
  readonly seenEtags: Array<string | undefined> = [];
  private server: Server | null = null;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const sent = req.headers['if-none-match'];
      this.seenEtags.push(sent);
      const { status, etag, body } = this.answer;
      if (status === 200 && etag !== undefined && sent === etag) return void res.writeHead(304, { etag }).end();
      res.writeHead(status, etag ? { etag } : {}).end(body);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/bundles/tenantguard.tar.gz`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

describe('pulling bundles from a bundle server (ETag polling)', () => {
  const server = new BundleServer();
  const bundleA = readFileSync(PROJECT_BUNDLE);
  const bundleB = readFileSync(signedBundle(rsaKey())); // another valid bundle (different bytes)
  beforeAll(() => server.start());
  afterAll(() => server.stop());

  test('a new bundle is swapped in and stored, an unchanged one costs a 304, a bad one or a failing server changes nothing', async () => {
    const bundlePath = join(mkdtempSync(join(tmpdir(), 'tg-poll-')), 'bundle.tar.gz');
    const engine = new PolicyEngine({ bundlePath, requiredEntrypoints: REQUIRED_ENTRYPOINTS });
    const poller = new BundlePoller(engine, { url: server.url, pollIntervalMs: 60_000, bundlePath });

    server.answer = { status: 200, etag: '"a"', body: bundleA };
    expect(await poller.poll()).toMatchObject({ kind: 'updated' });
    expect(engine.info?.sha256).toBe(sha256(bundleA));
    expect(sha256(readFileSync(bundlePath))).toBe(sha256(bundleA)); // kept for the next start

    expect(await poller.poll()).toEqual({ kind: 'unchanged' });
    expect(server.seenEtags.at(-1)).toBe('"a"');

    server.answer = { status: 200, etag: '"b"', body: bundleB };
    expect(await poller.poll()).toMatchObject({ kind: 'updated' });
    expect(engine.info?.sha256).toBe(sha256(bundleB));

    for (const answer of [{ status: 200, etag: '"c"', body: Buffer.from('not a bundle') }, { status: 500 }, { status: 404 }]) {
      server.answer = answer;
      expect(await poller.poll()).toMatchObject({ kind: 'failed' });
      expect(engine.info?.sha256).toBe(sha256(bundleB));
      expect(sha256(readFileSync(bundlePath))).toBe(sha256(bundleB)); // the stored bundle is never a refused one
    }
    // A refused download does not set the ETag: the next poll asks for the bundle again.
    server.answer = { status: 200, etag: '"c"', body: Buffer.from('still not a bundle') };
    await poller.poll();
    expect(server.seenEtags.at(-1)).toBe('"b"');

    const unreachable = new BundlePoller(engine, { url: 'http://127.0.0.1:9/bundle.tar.gz', pollIntervalMs: 60_000, bundlePath });
    expect(await unreachable.poll()).toMatchObject({ kind: 'failed', problem: expect.stringMatching(/unreachable/) });
    expect(engine.info?.sha256).toBe(sha256(bundleB));
  });

  test('a bundle that serves but cannot be stored is downloaded again (its ETag is not kept) until the store works', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-poll-store-'));
    const bundlePath = join(dir, 'bundle.tar.gz');
    mkdirSync(bundlePath); // rename(2) over a directory fails: the disk refuses the store for real
    const engine = new PolicyEngine({ bundlePath, requiredEntrypoints: REQUIRED_ENTRYPOINTS });
    const poller = new BundlePoller(engine, { url: server.url, pollIntervalMs: 60_000, bundlePath });
    server.answer = { status: 200, etag: '"s"', body: bundleA };
    expect(await poller.poll()).toMatchObject({ kind: 'failed', problem: expect.stringMatching(/serving but could not be stored/) });
    expect(engine.info?.sha256).toBe(sha256(bundleA));
    rmSync(bundlePath, { recursive: true });
    expect(await poller.poll()).toMatchObject({ kind: 'updated' });
    expect(server.seenEtags.at(-1)).toBeUndefined(); // asked for the whole bundle again
    expect(sha256(readFileSync(bundlePath))).toBe(sha256(bundleA));
    expect(await poller.poll()).toEqual({ kind: 'unchanged' });
  });

  test('a sidecar configured with policy.bundle_service and no local bundle becomes ready from the server', async () => {
    const bundlePath = join(mkdtempSync(join(tmpdir(), 'tg-poll-sidecar-')), 'bundle.tar.gz');
    server.answer = { status: 200, etag: '"a"', body: bundleA };
    const tg = await startTestSidecar({
      configPatch: (yaml) => `${yaml.replace('paths:\n', `paths:\n  policy_bundle: ${bundlePath}\n`)}policy:\n  bundle_service:\n    url: ${server.url}\n    poll_seconds: 0.2\n`,
    });
    try {
      const deadline = Date.now() + 10_000;
      // Ready once the downloaded bundle serves; it is stored for the next start right after.
      while (((await tg.call({}, 'GET', '/readyz')).status !== 200 || !existsSync(bundlePath)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect((await tg.call(tg.operator, 'GET', '/v1/policy')).body).toMatchObject({ sha256: sha256(bundleA) });
      expect(sha256(readFileSync(bundlePath))).toBe(sha256(bundleA));
      expect((await tg.call(tg.worker, 'POST', '/v1/blocks/allocate', { tenant: 'free-demo', request_id: 'r1', count: 1 })).status).toBe(200);
    } finally {
      await tg.close();
    }
  });

  // Issue 17.6a: a bundle that starts serving because the poller downloaded it is audited like any reload.
  test('a bundle downloaded from the bundle server and now serving leaves an admin policy.reload record with trigger bundle_service', async () => {
    const bundlePath = join(mkdtempSync(join(tmpdir(), 'tg-poll-audit-')), 'bundle.tar.gz');
    server.answer = { status: 200, etag: '"audit"', body: bundleA };
    const tg = await startTestSidecar({
      configPatch: (yaml) => `${yaml.replace('paths:\n', `paths:\n  policy_bundle: ${bundlePath}\n`)}policy:\n  bundle_service:\n    url: ${server.url}\n    poll_seconds: 0.2\n`,
    });
    try {
      const deadline = Date.now() + 10_000;
      while (((await tg.call({}, 'GET', '/readyz')).status !== 200 || !existsSync(bundlePath)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 200)); // the record is appended right after the swap
    } finally {
      await tg.close();
    }
    const audit = await openSetupAudit(tg.setup.configFile);
    const reloads: AuditRecord[] = [];
    for await (const record of audit.records()) if (record.action === 'policy.reload') reloads.push(record);
    await audit.close();
    expect(reloads[0]).toMatchObject({ type: 'admin', principal: { role: 'system', id: 'sidecar' }, decision: 'allow', effects: { trigger: 'bundle_service', sha256: sha256(bundleA) } });
  });
});
