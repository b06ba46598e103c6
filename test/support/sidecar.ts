import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { AuditLog, loadAuditKey, verifyAuditLog, type VerifyResult } from '../../src/audit/index.js';
import { loadConfig } from '../../src/config/index.js';
import { initDirectory, type InitResult } from '../../src/setup/index.js';
import { startSidecar, type ComponentOverrides, type RunningSidecar, type StartOptions } from '../../src/sidecar/index.js';

export interface ClientCredential {
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly bearer?: string;
}

export interface TestSidecar {
  readonly setup: InitResult;
  readonly sidecar: RunningSidecar;
  readonly ca: Buffer;
  readonly worker: ClientCredential;
  readonly operator: ClientCredential;
  tenantCert(id: string): ClientCredential;
  tenantKey(id: string): ClientCredential;
  call(credential: ClientCredential, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown; headers: Record<string, unknown> }>;
  close(): Promise<void>;
}

/** A real sidecar on port 0 over a fresh `init` directory with real certificates. */
export async function startTestSidecar(options: { configPatch?: (yaml: string) => string; overrides?: ComponentOverrides; startOptions?: StartOptions } = {}): Promise<TestSidecar> {
  const dir = mkdtempSync(join(tmpdir(), 'tg-sidecar-'));
  const setup = await initDirectory(dir, { port: 0 });
  if (options.configPatch) writeFileSync(setup.configFile, options.configPatch(readFileSync(setup.configFile, 'utf8')));
  return attachTestSidecar(setup, options.overrides, options.startOptions);
}

/** Closes a test sidecar and starts a new one on the same directory (a restart). */
export async function restartTestSidecar(previous: TestSidecar, overrides?: ComponentOverrides, startOptions?: StartOptions): Promise<TestSidecar> {
  await previous.close();
  return attachTestSidecar(previous.setup, overrides, startOptions);
}

async function attachTestSidecar(setup: InitResult, overrides?: ComponentOverrides, startOptions: StartOptions = {}): Promise<TestSidecar> {
  const sidecar = await startSidecar(loadConfig(setup.configFile), { logger: pino({ level: 'silent' }), watchIntervalMs: 100, drainTimeoutMs: 2000, ...startOptions, ...(overrides ? { overrides } : {}) });
  const ca = readFileSync(setup.files.ca);
  const fileCred = (c: { cert: string; key: string }): ClientCredential => ({ cert: readFileSync(c.cert), key: readFileSync(c.key) });
  return {
    setup,
    sidecar,
    ca,
    worker: fileCred(setup.files.worker),
    operator: fileCred(setup.files.operator),
    tenantCert: (id) => fileCred(setup.files.tenants[id]!),
    tenantKey: (id) => ({ bearer: setup.apiKeys[id]! }),
    call: (credential, method, path, body) => callSidecar(sidecar.url, ca, credential, method, path, body),
    close: () => sidecar.close(),
  };
}

/** One HTTPS request on a fresh connection (no agent), so each call is a real TLS handshake; the answer's bytes as they came. */
function httpsOnce(
  url: URL,
  ca: Buffer,
  credential: ClientCredential,
  method: string,
  headers: Record<string, string | number>,
  payload?: string | Buffer,
): Promise<{ status: number; bytes: Buffer; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        method,
        ca,
        agent: false,
        servername: 'localhost',
        ...(credential.cert ? { cert: credential.cert, key: credential.key } : {}),
        headers: { ...(credential.bearer ? { authorization: `Bearer ${credential.bearer}` } : {}), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes: Buffer.concat(chunks), headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** A JSON call (a string body is sent as is); a JSON answer is parsed, anything else (Prometheus text) stays a string. */
export async function callSidecar(
  baseUrl: string,
  ca: Buffer,
  credential: ClientCredential,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: unknown; headers: Record<string, unknown> }> {
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const headers: Record<string, string | number> = payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {};
  const res = await httpsOnce(new URL(path, baseUrl), ca, credential, method, headers, payload);
  const text = res.bytes.toString('utf8');
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** Raw bytes in and out for the offload routes (callSidecar would stringify them). */
export async function callOffload(
  baseUrl: string,
  ca: Buffer,
  credential: ClientCredential,
  request: { method: string; tenant: string; key: string; actingFor: string | null; body?: Buffer },
): Promise<{ status: number; body: Buffer }> {
  const { method, tenant, key, actingFor, body } = request;
  const headers = {
    ...(actingFor ? { 'x-tenantguard-acting-for': actingFor } : {}),
    ...(body ? { 'content-type': 'application/octet-stream', 'content-length': body.length } : {}),
  };
  const res = await httpsOnce(new URL(`/v1/offload/${tenant}/${key}`, baseUrl), ca, credential, method, headers, body);
  return { status: res.status, body: res.bytes };
}

/** Verifies a setup's audit log offline, with the MAC key the sidecar created beside its master key. */
export async function verifySetupAudit(setup: InitResult): Promise<VerifyResult> {
  const config = loadConfig(setup.configFile, {});
  return verifyAuditLog(config.paths.audit, await loadAuditKey(config.paths.auditKey));
}

/** Opens a stopped sidecar's audit log (to read its history offline). */
export async function openSetupAudit(configFile: string): Promise<AuditLog> {
  const config = loadConfig(configFile, {});
  return AuditLog.open({ dir: config.paths.audit, key: await loadAuditKey(config.paths.auditKey) });
}

/** A real log written by a real sidecar driven by `drive`, then stopped: its audit directory and MAC key file. */
export async function writtenAuditLog(drive: (tg: TestSidecar) => Promise<void>): Promise<{ auditDir: string; keyFile: string }> {
  const tg = await startTestSidecar();
  try {
    await drive(tg);
  } finally {
    await tg.close();
  }
  const config = loadConfig(tg.setup.configFile, {});
  return { auditDir: config.paths.audit, keyFile: config.paths.auditKey };
}

/** A throw-away copy of an audit directory, to edit without touching the original. */
export function copyOfAuditDir(auditDir: string): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'tg-audit-copy-')), 'audit');
  cpSync(auditDir, dir, { recursive: true });
  return dir;
}

/** Polls `/readyz` until the sidecar is ready again (e.g. after its audit log recovered); returns the last status. */
export async function readyAgain(tg: TestSidecar, attempts = 40): Promise<number> {
  let status = 0;
  for (let i = 0; i < attempts && status !== 200; i++) {
    await new Promise((r) => setTimeout(r, 100));
    status = (await tg.call({}, 'GET', '/readyz')).status;
  }
  return status;
}
