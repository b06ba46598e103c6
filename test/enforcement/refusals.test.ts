import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { AuditRecord } from '../../src/audit/index.js';
import { issueCertificate, loadCertificateAuthority, revokeCertificate } from '../../src/pki/index.js';
import { readyAgain, startTestSidecar, type TestSidecar } from '../support/sidecar.js';

// Issue 20.7: role-denied calls, revoked certificates and bad API keys were refused without an
// audit record or a log line. Every refusal now leaves both, content-free and rate-limited.

/** A pino logger whose lines the test can read (JSON objects, as pino writes them). */
function capturedLogger(): { logger: Logger; lines: Array<Record<string, unknown>>; raw: string[] } {
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void (raw.push(line), lines.push(JSON.parse(line) as Record<string, unknown>)) });
  return { logger, lines, raw };
}

async function auditRecords(tg: TestSidecar): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  for await (const record of tg.sidecar.services.audit.records()) records.push(record);
  return records;
}

/** Records after `seq` that are refusals (the recorder marks them with `effects.code`), once `count` of them are durable. */
async function refusalsAfter(tg: TestSidecar, seq: number, count = 1): Promise<AuditRecord[]> {
  let found: AuditRecord[] = [];
  for (let i = 0; i < 100; i++) {
    found = (await auditRecords(tg)).filter((r) => r.seq > seq && typeof r.effects?.['code'] === 'string');
    if (found.length >= count) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  // Nothing else arrives: the count is exact, not "at least".
  await new Promise((r) => setTimeout(r, 50));
  return (await auditRecords(tg)).filter((r) => r.seq > seq && typeof r.effects?.['code'] === 'string');
}

const lastSeq = async (tg: TestSidecar): Promise<number> => (await auditRecords(tg)).at(-1)?.seq ?? 0;
const codeOf = (body: unknown): string => (body as { error?: { code?: string } }).error?.code ?? '';

describe('every refused request leaves one content-free audit record and one log line (issue 20.7)', () => {
  let tg: TestSidecar;
  let log: ReturnType<typeof capturedLogger>;
  beforeAll(async () => {
    log = capturedLogger();
    tg = await startTestSidecar({ startOptions: { logger: log.logger } });
  });
  afterAll(async () => tg?.close());

  test('a tenant API key on an operator route: 403 TG_ERR_ROLE_DENIED, one deny record naming the tenant and the route action, no key in it', async () => {
    const key = tg.setup.apiKeys['free-demo']!;
    const seq = await lastSeq(tg);
    const logged = log.lines.length;
    const res = await tg.call(tg.tenantKey('free-demo'), 'GET', '/v1/tenants');
    expect([res.status, codeOf(res.body)]).toEqual([403, 'TG_ERR_ROLE_DENIED']);
    const records = await refusalsAfter(tg, seq);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ type: 'decision', decision: 'deny', principal: { role: 'tenant', id: 'free-demo' }, action: 'tenants.read', effects: { code: 'TG_ERR_ROLE_DENIED' } });
    expect(records[0]!.reasons).toContain('role_denied');
    expect(JSON.stringify(records[0])).not.toContain(key);
    const lines = log.lines.slice(logged).filter((l) => l['msg'] === 'request refused');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ code: 'TG_ERR_ROLE_DENIED', action: 'tenants.read', principal: 'tenant/free-demo' });
    expect(log.raw.join('')).not.toContain(key);
  });

  test('a revoked certificate: 401 TG_ERR_CERT_REVOKED, one deny record naming the certificate\'s principal, no certificate bytes in it', async () => {
    const ca = await loadCertificateAuthority(tg.setup.dir + '/pki');
    const cert = await issueCertificate(ca, { role: 'operator', id: 'revoked-op' });
    const credential = { cert: cert.certPem, key: cert.keyPem };
    expect((await tg.call(credential, 'GET', '/v1/tenants')).status).toBe(200);
    await revokeCertificate(tg.setup.dir + '/pki', cert.serialNumber);
    for (let i = 0; i < 50 && !tg.sidecar.services.revocations.has(cert.serialNumber); i++) await new Promise((r) => setTimeout(r, 50));
    const seq = await lastSeq(tg);
    const logged = log.lines.length;
    const res = await tg.call(credential, 'GET', '/v1/tenants');
    expect([res.status, codeOf(res.body)]).toEqual([401, 'TG_ERR_CERT_REVOKED']);
    const records = await refusalsAfter(tg, seq);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ decision: 'deny', principal: { role: 'operator', id: 'revoked-op' }, action: 'authn.certificate', reasons: ['cert_revoked'], effects: { code: 'TG_ERR_CERT_REVOKED' } });
    const body = cert.certPem.split('\n')[5]!; // a line of the base64 DER
    expect(JSON.stringify(records[0])).not.toContain(body);
    const lines = log.lines.slice(logged).filter((l) => l['msg'] === 'request refused');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ code: 'TG_ERR_CERT_REVOKED', principal: 'operator/revoked-op' });
    expect(log.raw.join('')).not.toContain(body);
  });

  test('a bad API key: 401 TG_ERR_UNKNOWN_API_KEY, one deny record of an unauthenticated caller, the presented key nowhere', async () => {
    const presented = 'tg_' + 'Q'.repeat(43);
    const seq = await lastSeq(tg);
    const logged = log.lines.length;
    const res = await tg.call({ bearer: presented }, 'GET', '/v1/usage');
    expect([res.status, codeOf(res.body)]).toEqual([401, 'TG_ERR_UNKNOWN_API_KEY']);
    const records = await refusalsAfter(tg, seq);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ decision: 'deny', principal: { role: 'system', id: 'unauthenticated' }, action: 'authn.api_key', reasons: ['unknown_api_key'], effects: { code: 'TG_ERR_UNKNOWN_API_KEY' } });
    expect(JSON.stringify(records[0])).not.toContain(presented);
    expect(log.lines.slice(logged).filter((l) => l['msg'] === 'request refused')).toHaveLength(1);
    expect(log.raw.join('')).not.toContain(presented);
  });

  test('a call naming a tenant the sidecar does not serve: 404 TG_ERR_UNKNOWN_TENANT on both dispatchers, one deny record each, the id nowhere (issue 17.6)', async () => {
    const seq = await lastSeq(tg);
    const ghost = 'ghost-tenant-x7';
    const fast = await tg.call(tg.worker, 'POST', '/v1/blocks/allocate', { tenant: ghost, request_id: 'r-ghost', count: 1 });
    const express = await tg.call(tg.worker, 'POST', '/v1/admission', { tenant: ghost, request_id: 'r-ghost', max_tokens: 4 });
    expect([fast.status, codeOf(fast.body), express.status, codeOf(express.body)]).toEqual([404, 'TG_ERR_UNKNOWN_TENANT', 404, 'TG_ERR_UNKNOWN_TENANT']);
    const records = await refusalsAfter(tg, seq, 2);
    expect(records.map((r) => [r.decision, r.action, r.effects?.['code'], r.principal.role])).toEqual([
      ['deny', 'tenants.resolve', 'TG_ERR_UNKNOWN_TENANT', 'worker'],
      ['deny', 'tenants.resolve', 'TG_ERR_UNKNOWN_TENANT', 'worker'],
    ]);
    expect(JSON.stringify(records)).not.toContain(ghost);
  });

  test('the refusal records are part of a chain that verifies', async () => {
    expect((await tg.call(tg.operator, 'GET', '/v1/audit/verify')).body).toMatchObject({ ok: true });
  });
});

describe('a flood of bad API keys writes a bounded number of records plus a suppressed count (issue 20.7)', () => {
  const BURST = 10;
  const PER_SECOND = 2;
  let tg: TestSidecar;
  let log: ReturnType<typeof capturedLogger>;
  beforeAll(async () => {
    log = capturedLogger();
    tg = await startTestSidecar({ startOptions: { logger: log.logger, refusalLimits: { burst: BURST, perSecond: PER_SECOND, summaryIntervalMs: 300 } } });
  });
  afterAll(async () => tg?.close());

  test('1,000 requests with unknown keys: every one is 401, records ≤ burst + rate × duration, and records + suppressed = 1,000', async () => {
    const seq = await lastSeq(tg);
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    const url = new URL('/v1/usage', tg.sidecar.url);
    const one = (i: number): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = httpsRequest(url, { agent, ca: tg.ca, servername: 'localhost', headers: { authorization: `Bearer tg_flood${i}` } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end();
      });
    const started = Date.now();
    const statuses = await Promise.all(Array.from({ length: 1000 }, (_, i) => one(i)));
    const seconds = (Date.now() - started) / 1000;
    agent.destroy();
    expect(new Set(statuses)).toEqual(new Set([401]));

    // Wait for the summary of what the bucket dropped.
    let records: AuditRecord[] = [];
    let suppressed = 0;
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 100));
      records = (await auditRecords(tg)).filter((r) => r.seq > seq);
      suppressed = records.filter((r) => r.action === 'refusals.suppressed').reduce((sum, r) => sum + (r.counts?.['tg_err_unknown_api_key'] ?? 0), 0);
      const written = records.filter((r) => r.action === 'authn.api_key').length;
      if (written + suppressed === 1000) break;
    }
    const written = records.filter((r) => r.action === 'authn.api_key').length;
    expect(written).toBeGreaterThanOrEqual(BURST);
    expect(written).toBeLessThanOrEqual(BURST + Math.ceil(PER_SECOND * (seconds + 1)));
    expect(written + suppressed).toBe(1000);
    const summary = records.find((r) => r.action === 'refusals.suppressed')!;
    expect(summary).toMatchObject({ type: 'lifecycle', principal: { role: 'system', id: 'refusals' }, decision: 'deny' });
    // The log is bounded the same way, and says how many were dropped.
    const refusedLines = log.lines.filter((l) => l['msg'] === 'request refused').length;
    expect(refusedLines).toBe(written);
    const suppressedLines = log.lines.filter((l) => l['msg'] === 'refusals suppressed by the rate limit');
    expect(suppressedLines.reduce((sum, l) => sum + ((l['byCode'] as Record<string, number>)['tg_err_unknown_api_key'] ?? 0), 0)).toBe(suppressed);
    expect((await tg.call(tg.operator, 'GET', '/v1/audit/verify')).body).toMatchObject({ ok: true });
  });
});

// The disk is made to refuse writes for real with RLIMIT_FSIZE on this process (as in
// test/enforcement/audit-down.test.ts).
const prlimitWorks = spawnSync('prlimit', ['--pid', String(process.pid), '--fsize']).status === 0;
const setFileSizeLimit = (value: string): void => void execFileSync('prlimit', ['--pid', String(process.pid), `--fsize=${value}:`]);

describe.skipIf(!prlimitWorks)('with the audit log down, refusals are still refusals (issue 20.7)', () => {
  let tg: TestSidecar;
  beforeAll(async () => {
    tg = await startTestSidecar();
  });
  afterAll(async () => {
    if (prlimitWorks) setFileSizeLimit('unlimited');
    await tg?.close();
  });

  test('a bad key stays 401 and a role denial 403 (never a 5xx) while the log refuses writes; the log recovers and verifies', async () => {
    const dir = join(tg.setup.dir, 'audit');
    const segment = readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort().at(-1)!;
    setFileSizeLimit(String(statSync(join(dir, segment)).size + 50));
    try {
      for (let i = 0; i < 5; i++) {
        const bad = await tg.call({ bearer: `tg_down${i}` }, 'GET', '/v1/usage');
        expect([bad.status, codeOf(bad.body)]).toEqual([401, 'TG_ERR_UNKNOWN_API_KEY']);
        const denied = await tg.call(tg.tenantKey('free-demo'), 'GET', '/v1/tenants');
        expect([denied.status, codeOf(denied.body)]).toEqual([403, 'TG_ERR_ROLE_DENIED']);
      }
      // The log really is down: a state change is refused with 503.
      const allocate = await tg.call(tg.worker, 'POST', '/v1/blocks/allocate', { tenant: 'free-demo', request_id: 'down-1', count: 1 });
      expect([allocate.status, codeOf(allocate.body)]).toEqual([503, 'TG_ERR_AUDIT_DOWN']);
    } finally {
      setFileSizeLimit('unlimited');
    }
    expect(await readyAgain(tg)).toBe(200);
    expect((await tg.call(tg.operator, 'GET', '/v1/audit/verify')).body).toMatchObject({ ok: true });
  });
});
