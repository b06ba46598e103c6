import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { REPO_ROOT } from '../support/opa.js';
import { startTestSidecar, type TestSidecar } from '../support/sidecar.js';

/** `tenantguard <args>` as a child process (asynchronously: the sidecar under test runs in this process). */
function run(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/tenantguard.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** An operator command against the test sidecar. */
const cli = (tg: TestSidecar, ...args: string[]) => run([...args, '-c', tg.setup.configFile, '--url', tg.sidecar.url]);

describe('operator commands over mTLS: tenants list | erase, keys rotate', () => {
  let tg: TestSidecar;
  beforeAll(async () => {
    tg = await startTestSidecar();
  });
  afterAll(async () => tg.close());

  test('tenants list prints every tenant with tier, pool and quota; --json prints the API answer', async () => {
    const list = await cli(tg, 'tenants', 'list');
    expect(list.status).toBe(0);
    expect(list.stdout).toMatch(/free-demo\s+free\s+shared\s+\d+/);
    expect(list.stdout).toMatch(/enterprise-demo\s+enterprise\s+enterprise-demo-pool/);
    const json = JSON.parse((await cli(tg, 'tenants', 'list', '--json')).stdout) as { tenants: Array<{ id: string }> };
    expect(json.tenants.map((t) => t.id).sort()).toEqual(['enterprise-demo', 'free-demo', 'standard-demo']);
  });

  test('keys rotate adds a key version on the running sidecar', async () => {
    const before = (await tg.call(tg.worker, 'GET', '/v1/tenants/standard-demo/cache-salt')).body as { version: number };
    const rotate = await cli(tg, 'keys', 'rotate', 'standard-demo');
    expect([rotate.status, rotate.stdout.trim()]).toEqual([0, `tenant standard-demo: key version ${before.version + 1} is current`]);
    expect(((await tg.call(tg.worker, 'GET', '/v1/tenants/standard-demo/cache-salt')).body as { version: number }).version).toBe(before.version + 1);
  });

  test('tenants erase needs --yes; with it the tenant is crypto-shredded and refused from then on', async () => {
    const unconfirmed = await cli(tg, 'tenants', 'erase', 'free-demo');
    expect(unconfirmed.status).not.toBe(0);
    expect(unconfirmed.stderr).toMatch(/--yes/);
    expect((await cli(tg, 'tenants', 'list')).stdout).toContain('free-demo');
    const erased = await cli(tg, 'tenants', 'erase', 'free-demo', '--yes');
    expect([erased.status, erased.stdout]).toEqual([0, expect.stringMatching(/tenant free-demo erased/)]);
    expect((await cli(tg, 'tenants', 'list')).stdout).not.toContain('free-demo');
    expect((await tg.call(tg.worker, 'GET', '/v1/tenants/free-demo/cache-salt')).status).toBe(410);
  });

  test('a refusal prints the sidecar\'s code and exits 1; an unreachable sidecar says so', async () => {
    const unknown = await cli(tg, 'keys', 'rotate', 'no-such-tenant');
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/\[TG_ERR_UNKNOWN_TENANT\]/);
    const down = await run(['tenants', 'list', '-c', tg.setup.configFile, '--url', 'https://127.0.0.1:9']);
    expect(down.status).toBe(1);
    expect(down.stderr).toMatch(/cannot reach the sidecar at https:\/\/127\.0\.0\.1:9/);
  });
});
