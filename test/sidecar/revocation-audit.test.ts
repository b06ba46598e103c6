import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { AuditRecord } from '../../src/audit/index.js';
import { loadConfig } from '../../src/config/index.js';
import { normalizeSerial, revokeCertificate } from '../../src/pki/index.js';
import { startTestSidecar, verifySetupAudit, type TestSidecar } from '../support/sidecar.js';

let tg: TestSidecar;
let auditDir: string;

beforeAll(async () => {
  tg = await startTestSidecar();
  auditDir = loadConfig(tg.setup.configFile, {}).paths.audit;
}, 60_000);
afterAll(async () => tg.close());

function records(): AuditRecord[] {
  return readdirSync(auditDir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .flatMap((f) => readFileSync(join(auditDir, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord));
}

async function eventually<T>(probe: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const reloads = (): AuditRecord[] => records().filter((r) => r.action === 'pki.revocations.reload');

describe('revocation list changes picked up by the sidecar are in the audit chain (issue 17.6)', () => {
  test('a new revocation, an un-revocation and an unreadable list each leave one content-free record', async () => {
    const serial = normalizeSerial(new X509Certificate(readFileSync(tg.setup.files.tenants['free-demo']!.cert)).serialNumber)!;
    await revokeCertificate(join(tg.setup.dir, 'pki'), serial);
    const added = await eventually(() => reloads()[0]);
    expect(tg.sidecar.services.revocations.has(serial)).toBe(true);
    expect(added).toMatchObject({ type: 'admin', principal: { role: 'system', id: 'pki' }, decision: 'allow', counts: { revoked: 1, added: 1, removed: 0 } });
    expect(added.reasons).toEqual([`revoked:${serial}`]);

    // Someone edits revoked.json by hand and drops the serial: the certificate works again, and the log says so.
    writeFileSync(join(tg.setup.dir, 'pki', 'revoked.json'), `${JSON.stringify({ version: 1, serials: [] })}\n`);
    const removed = await eventually(() => reloads()[1]);
    expect(removed).toMatchObject({ severity: 'warning', decision: 'allow', counts: { revoked: 0, added: 0, removed: 1 }, reasons: [`unrevoked:${serial}`] });

    writeFileSync(join(tg.setup.dir, 'pki', 'revoked.json'), '{"version":1,"serials":["4a01",');
    const unreadable = await eventually(() => reloads()[2]);
    expect(unreadable).toMatchObject({ severity: 'critical', decision: 'deny', reasons: ['revocation_list_unreadable'] });

    expect(reloads()).toHaveLength(3);
    const text = JSON.stringify(reloads());
    expect(text).not.toMatch(/BEGIN CERTIFICATE|PRIVATE KEY/);
  }, 20_000);

  test('the chain with these records still verifies', async () => {
    await tg.close();
    expect(await verifySetupAudit(tg.setup)).toMatchObject({ ok: true });
  }, 20_000);
});
