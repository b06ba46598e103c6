import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/index.js';
import { initDirectory } from '../../src/setup/index.js';
import { PROJECT_BUNDLE } from '../support/opa.js';
import { spawnSidecar } from '../support/process-sidecar.js';
import { openSetupAudit, startTestSidecar, type TestSidecar } from '../support/sidecar.js';

/**
 * Issue 17.6a: every policy reload, whoever triggers it (POST /v1/policy/reload, SIGHUP, the file
 * watcher), leaves an `admin` audit record: revision, digest, loaded or refused with an error code,
 * and no bundle content.
 */

async function reloadRecords(configFile: string): Promise<AuditRecord[]> {
  const audit = await openSetupAudit(configFile);
  const found: AuditRecord[] = [];
  try {
    for await (const record of audit.records()) if (record.action === 'policy.reload') found.push(record);
  } finally {
    await audit.close();
  }
  return found;
}

/** A test sidecar whose bundle is a private copy, so a test can break and mend it. */
async function sidecarWithBundleCopy(): Promise<{ sidecar: TestSidecar; bundle: string }> {
  const bundle = join(mkdtempSync(join(tmpdir(), 'tg-reload-audit-')), 'bundle.tar.gz');
  copyFileSync(PROJECT_BUNDLE, bundle);
  const sidecar = await startTestSidecar({ configPatch: (yaml) => yaml.replace(/^paths:\n/m, `paths:\n  policy_bundle: ${bundle}\n`), startOptions: { watchIntervalMs: 60_000 } });
  return { sidecar, bundle };
}

async function until<T>(probe: () => Promise<T | undefined>, what: string, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('policy reloads are audited (issue 17.6a)', () => {
  let running: TestSidecar | null = null;
  afterEach(async () => {
    await running?.close();
    running = null;
  });

  it('POST /v1/policy/reload writes an admin record naming the operator, the revision and the digest; a refused one records the error code', async () => {
    const { sidecar, bundle } = await sidecarWithBundleCopy();
    running = sidecar;
    const ok = await sidecar.call(sidecar.operator, 'POST', '/v1/policy/reload');
    expect(ok.status).toBe(200);
    writeFileSync(bundle, Buffer.from('not a bundle, and a secret-looking string: sk-live-123'));
    const refused = await sidecar.call(sidecar.operator, 'POST', '/v1/policy/reload');
    expect(refused.status).toBe(400);
    const info = sidecar.sidecar.services.policy.info!;
    await sidecar.close();
    running = null;

    const records = await reloadRecords(sidecar.setup.configFile);
    expect(records).toHaveLength(2);
    const [loaded, failed] = records as [AuditRecord, AuditRecord];
    expect(loaded).toMatchObject({ type: 'admin', severity: 'info', principal: { role: 'operator', id: 'admin' }, action: 'policy.reload', decision: 'allow', reasons: [], policyRevision: info.revision, effects: { trigger: 'http', sha256: info.sha256 } });
    expect(failed).toMatchObject({ type: 'admin', severity: 'warning', principal: { role: 'operator', id: 'admin' }, action: 'policy.reload', decision: 'deny', reasons: ['bundle_refused'], policyRevision: info.revision, effects: { trigger: 'http', error_code: 'TG_ERR_BUNDLE_INVALID' } });
    // Content-free: nothing of the refused file reaches the record.
    expect(JSON.stringify(failed)).not.toContain('sk-live');
  }, 30_000);

  it('a reload by the file watcher writes an admin record with trigger watch', async () => {
    const bundle = join(mkdtempSync(join(tmpdir(), 'tg-reload-watch-')), 'bundle.tar.gz');
    copyFileSync(PROJECT_BUNDLE, bundle);
    const sidecar = await startTestSidecar({ configPatch: (yaml) => yaml.replace(/^paths:\n/m, `paths:\n  policy_bundle: ${bundle}\n`), startOptions: { watchIntervalMs: 50 } });
    running = sidecar;
    await new Promise((r) => setTimeout(r, 200));
    writeFileSync(bundle, Buffer.from('garbage'));
    await new Promise((r) => setTimeout(r, 1000)); // the watcher polls every 50 ms
    await sidecar.close();
    running = null;
    const records = await reloadRecords(sidecar.setup.configFile);
    expect(records.map((r) => [r.principal.role, r.decision, r.effects?.['trigger'], r.effects?.['error_code']])).toContainEqual(['system', 'deny', 'watch', 'TG_ERR_BUNDLE_INVALID']);
  }, 30_000);

  it('SIGHUP reloads the bundle, logs it and writes an admin record with trigger sighup', async () => {
    const setup = await initDirectory(mkdtempSync(join(tmpdir(), 'tg-reload-sighup-')), { port: 0 });
    const child = await spawnSidecar(setup.configFile);
    let stdout = '';
    child.child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    const lines = (): string[] => stdout.split('\n');
    child.child.kill('SIGHUP');
    const logged = await until(async () => lines().map((l) => { try { return JSON.parse(l) as { msg?: string; trigger?: string; revision?: string }; } catch { return {}; } }).find((e) => e.msg === 'policy bundle reloaded' && e.trigger === 'sighup'), 'the SIGHUP log line');
    expect(logged.revision).toMatch(/^[0-9a-f]{16}$/);
    expect(await child.kill('SIGTERM')).toBe(0);
    const records = await reloadRecords(setup.configFile);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ type: 'admin', principal: { role: 'system' }, action: 'policy.reload', decision: 'allow', policyRevision: logged.revision, effects: { trigger: 'sighup' } });
  }, 40_000);
});
