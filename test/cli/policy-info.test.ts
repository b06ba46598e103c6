import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_BUNDLE, REPO_ROOT } from '../support/opa.js';
import { startTestSidecar, type TestSidecar } from '../support/sidecar.js';

/** Issue 17.9a: one shape (snake_case) for a bundle's identity, from the CLI and from the API. */
describe('tenantguard policy info', () => {
  let sidecar: TestSidecar;
  beforeAll(async () => {
    sidecar = await startTestSidecar();
  }, 30_000);
  afterAll(() => sidecar?.close());

  it('prints the same snake_case fields and values as GET /v1/policy for the same bundle', async () => {
    const cli = JSON.parse(execFileSync(process.execPath, [join(REPO_ROOT, 'bin/tenantguard.js'), 'policy', 'info', PROJECT_BUNDLE], { encoding: 'utf8' })) as Record<string, unknown>;
    const api = await sidecar.call(sidecar.operator, 'GET', '/v1/policy');
    expect(api.status).toBe(200);
    const body = api.body as Record<string, unknown>;
    expect(Object.keys(cli).sort()).toEqual(['entrypoints', 'loaded_at', 'revision', 'sha256', 'signature_verified']);
    expect(Object.keys(cli).sort()).toEqual(Object.keys(body).sort());
    const { loaded_at: cliLoaded, ...cliRest } = cli;
    const { loaded_at: apiLoaded, ...apiRest } = body;
    expect(cliRest).toEqual(apiRest);
    expect(new Date(String(cliLoaded)).toISOString()).toBe(cliLoaded);
    expect(new Date(String(apiLoaded)).toISOString()).toBe(apiLoaded);
  });
});
