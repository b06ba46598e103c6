import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { initDirectory, type InitResult } from '../../src/setup/index.js';
import { REPO_ROOT } from '../support/opa.js';
import { mtlsClient, spawnSidecar, type SidecarProcess } from '../support/process-sidecar.js';

const CLI = join(REPO_ROOT, 'bin/tenantguard.js');

let setup: InitResult;
let sidecar: SidecarProcess;
let operator: ReturnType<typeof mtlsClient>;

beforeAll(async () => {
  setup = await initDirectory(mkdtempSync(join(tmpdir(), 'tg-conf-target-')), { port: 0 });
  sidecar = await spawnSidecar(setup.configFile);
  operator = mtlsClient(setup, setup.files.operator);
}, 60_000);

afterAll(async () => {
  operator.close();
  await sidecar.kill('SIGTERM');
});

function conformance(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'conformance', '--target', sidecar.url, '--dir', setup.dir, '--out', mkdtempSync(join(tmpdir(), 'tg-conf-out-')), '--seed', '3', ...args], { env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

// Controls that reach across every tenant of the target, kept small so the test stays quick.
const CROSS_TENANT = ['--only', 'TG-M1-TENANT-METRICS,TG-K1-DATA-KEY-BINDING,TG-I6-CACHE-SALTS,TG-L1-NO-CROSS-TENANT-RESPONSES', '--runs', '3'];

describe('tenantguard conformance --target against a live sidecar (issue 17.3)', () => {
  test('after a tenant is erased it tests the tenants the sidecar serves, says it writes to the live audit log, and counts the records', async () => {
    const erased = await operator.call(sidecar.url, 'DELETE', '/v1/tenants/standard-demo');
    expect(erased.status).toBe(200);
    const run = await conformance(CROSS_TENANT);
    expect(run.stderr).toMatch(/NOTICE: .* is a live sidecar/);
    expect(run.stderr).toMatch(/audit record/);
    expect(run.stderr).toContain('free-demo, enterprise-demo');
    expect(run.stdout).not.toMatch(/metrics refused/);
    expect(run.status).toBe(0);
    const appended = /audit: (\d+) records appended to the target's audit log/.exec(run.stdout);
    expect(appended).not.toBeNull();
    expect(Number(appended![1])).toBeGreaterThan(0);
  }, 120_000);

  test('with fewer than two tenants left it refuses before running anything (exit 2), naming what is missing', async () => {
    expect((await operator.call(sidecar.url, 'DELETE', '/v1/tenants/enterprise-demo')).status).toBe(200);
    const run = await conformance(CROSS_TENANT);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/need at least 2 tenants/);
    expect(run.stderr).toMatch(/serves free-demo/);
    expect(run.stderr).not.toMatch(/NOTICE/);
  }, 60_000);

  test('--help says what --target writes', async () => {
    const help = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'conformance', '--help']);
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('exit', () => resolve(out));
    });
    expect(help).toMatch(/audit record of each request/);
  });
});
