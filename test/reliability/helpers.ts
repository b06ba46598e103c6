import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { AdapterRegistry } from '../../src/adapters/index.js';
import type { AuditRecord } from '../../src/audit/index.js';
import { Errors } from '../../src/errors.js';
import type { BlockLedger } from '../../src/ledger/index.js';
import type { ClientCredential, TestSidecar } from '../support/sidecar.js';

export const TENANTS = ['free-demo', 'standard-demo', 'enterprise-demo'] as const;

/** Every code of the catalogue with its HTTP status: the only error bodies a caller may see. */
const CATALOGUE: ReadonlyMap<string, number> = new Map(Object.values(Errors).map((e) => [e.code, e.status]));

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

export interface RawRequest {
  readonly method: string;
  readonly path: string;
  readonly body?: Buffer;
  readonly headers?: Record<string, string>;
}

/**
 * Raw HTTPS for fuzzing: exact bytes, any content type or encoding, any header. One keep-alive
 * agent per credential, so a server that drops a connection shows up as a client error.
 */
export class RawClient {
  private readonly agents = new Map<ClientCredential, Agent>();

  constructor(private readonly tg: TestSidecar) {}

  send(credential: ClientCredential, req: RawRequest): Promise<RawResponse> {
    let agent = this.agents.get(credential);
    if (!agent) {
      agent = new Agent({ keepAlive: true, maxSockets: 4, ca: this.tg.ca, ...(credential.cert ? { cert: credential.cert, key: credential.key } : {}) });
      this.agents.set(credential, agent);
    }
    return new Promise((resolve, reject) => {
      const r = request(
        new URL(req.path, this.tg.sidecar.url),
        {
          method: req.method,
          agent,
          servername: 'localhost',
          headers: {
            ...(credential.bearer ? { authorization: `Bearer ${credential.bearer}` } : {}),
            ...(req.body ? { 'content-length': String(req.body.length) } : {}),
            ...req.headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      r.on('error', reject);
      if (req.body) r.write(req.body);
      r.end();
    });
  }

  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }
}

/**
 * The error contract of docs/api.md: never a 5xx for anything a caller sends, and every refusal is
 * `{"error": {"code": "TG_ERR_…", "message", "reasons"?}}` with a catalogue code and its status.
 */
export function expectContract(res: RawResponse, what: string): void {
  expect(res.status, `${what}: no 5xx (got ${res.status}: ${res.text.slice(0, 200)})`).toBeLessThan(500);
  expect(res.status, `${what}: a real HTTP status`).toBeGreaterThanOrEqual(200);
  if (res.status < 400) return;
  expect(String(res.headers['content-type'] ?? ''), `${what}: error body is JSON`).toMatch(/^application\/json/);
  let body: unknown;
  expect(() => (body = JSON.parse(res.text)), `${what}: error body parses`).not.toThrow();
  const error = (body as { error?: { code?: unknown; message?: unknown; reasons?: unknown } }).error;
  expect(error, `${what}: an "error" object`).toBeTypeOf('object');
  expect(error!.code, `${what}: a TG_ERR_* code`).toMatch(/^TG_ERR_[A-Z_]+$/);
  expect(CATALOGUE.get(String(error!.code)), `${what}: code ${String(error!.code)} is in the catalogue with this status`).toBe(res.status);
  expect(error!.message, `${what}: a message`).toBeTypeOf('string');
  if (error!.reasons !== undefined) {
    expect(Array.isArray(error!.reasons) && (error!.reasons as unknown[]).every((r) => typeof r === 'string'), `${what}: reasons are strings`).toBe(true);
  }
}

export const errorCode = (res: { text: string } | { body: unknown }): string | undefined => {
  const body = 'text' in res ? safeJson(res.text) : res.body;
  return (body as { error?: { code?: string } } | undefined)?.error?.code;
};

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export const sha256 = (bytes: Buffer | string): string => createHash('sha256').update(bytes).digest('hex');

/** Every file under `dir` (relative path → sha256), so any write, removal or addition shows. */
export function treeDigest(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  const walk = (sub: string): void => {
    for (const name of readdirSync(join(dir, sub)).sort()) {
      const rel = sub ? `${sub}/${name}` : name;
      const full = join(dir, rel);
      if (statSync(full).isDirectory()) walk(rel);
      else out[rel] = sha256(readFileSync(full));
    }
  };
  walk('');
  return out;
}

/** Handles on the real components, captured through the sidecar's component overrides. */
export interface Captured {
  ledger?: BlockLedger;
  adapters?: AdapterRegistry;
}

export const captureOverrides = (captured: Captured) => ({
  ledger: (real: BlockLedger) => (captured.ledger = real),
  adapters: (real: AdapterRegistry) => (captured.adapters = real),
});

/**
 * Everything a request could change, read in-process: the ledger (every block that is not clean,
 * per-tenant usage, invariants), the adapter registry, admitted-request and token figures, the
 * keystore file bytes, the offload directory and the loaded policy. Denial counters and audit
 * records are not part of it: a refusal is allowed (and meant) to leave evidence.
 */
export async function stateSnapshot(tg: TestSidecar, captured: Captured, tenants: readonly string[] = TENANTS): Promise<unknown> {
  const { services } = tg.sidecar;
  const ledger = captured.ledger!;
  const blocks: unknown[] = [];
  for (const pool of services.config.pools) {
    for (let id = pool.first; id <= pool.last; id++) {
      const state = ledger.blockState(id);
      if (state && state.state !== 'clean') blocks.push(state);
    }
  }
  const live = tenants.filter((t) => services.tenants.ids().includes(t));
  return {
    tenants: services.tenants.ids(),
    usage: live.map((t) => services.blocks.usage(t)),
    blocks,
    invariants: ledger.checkInvariants(),
    adapters: live.map((t) => captured.adapters!.ownedBy(t)),
    admission: await Promise.all(live.map(async (t) => {
      const view = await services.metrics.tenantView(t);
      return { requests: view.requests, tokens: view.tokens };
    })),
    keystore: sha256(readFileSync(join(tg.setup.dir, 'keys', 'keystore.json'))),
    offload: treeDigest(join(tg.setup.dir, 'offload')),
    policy: services.policy.info?.sha256 ?? null,
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Every record of a sidecar's audit log, in chain order (read as files: the running log is not reopened). */
export function auditRecords(auditDir: string): AuditRecord[] {
  return readdirSync(auditDir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .flatMap((f) => readFileSync(join(auditDir, f), 'utf8').split('\n').filter(Boolean))
    .map((line) => JSON.parse(line) as AuditRecord);
}
