import { existsSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import type { HistoryEntry } from './model.js';

/** How one principal proves itself to the sidecar under test. */
export interface Credential {
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly bearer?: string;
}

export interface TargetDescription {
  readonly url: string;
  readonly ca: Buffer;
  readonly operator: Credential;
  readonly worker: Credential;
  /** Tenant id → its tier and credentials (certificate and/or API key). */
  readonly tenants: Readonly<Record<string, { tier: string; cert?: Credential; apiKey?: Credential }>>;
  /** The audit log directory, when the harness runs beside the sidecar (spawned or co-located). */
  readonly auditDir?: string;
  /** The PKI directory (CA key), when available: lets probes mint certificates the CA would never issue. */
  readonly pkiDir?: string;
}

export interface Exchange {
  readonly actor: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly body: unknown;
  readonly text: string;
  /** The tenant the request acted for, if any: responses are searched for other tenants' data. */
  readonly forTenant?: string;
}

export interface CallOptions {
  readonly body?: unknown;
  readonly raw?: Buffer;
  readonly headers?: Record<string, string>;
  /** The tenant this request acts for (leak search). */
  readonly forTenant?: string;
}

/**
 * The sidecar under test, as a client: every call is recorded (history for witnesses, transcript
 * for leak searches). Keep-alive agents per principal, like a real worker holds them.
 */
export class ConformanceTarget {
  readonly history: HistoryEntry[] = [];
  readonly transcript: Exchange[] = [];
  /** Canary content planted per tenant (offloaded KV bytes), for leak searches. */
  readonly planted = new Map<string, string[]>();
  private readonly agents = new Map<string, Agent>();

  constructor(readonly description: TargetDescription) {}

  get tenantIds(): string[] {
    return Object.keys(this.description.tenants);
  }

  credentialFor(actor: string): Credential {
    const d = this.description;
    if (actor === 'operator') return d.operator;
    if (actor === 'worker') return d.worker;
    if (actor === 'anonymous') return {};
    const [tenant, kind] = actor.split('#');
    const entry = d.tenants[tenant ?? ''];
    const credential = kind === 'key' ? entry?.apiKey : (entry?.cert ?? entry?.apiKey);
    if (!credential) throw new Error(`no credential for ${actor}`);
    return credential;
  }

  async call(actor: string, method: string, path: string, options: CallOptions = {}): Promise<Exchange> {
    const credential = this.credentialFor(actor);
    const payload = options.raw ?? (options.body === undefined ? undefined : Buffer.from(typeof options.body === 'string' ? options.body : JSON.stringify(options.body)));
    const { status, text } = await this.send(actor, credential, method, path, payload, options);
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* raw bytes (offload) or Prometheus text */
    }
    const exchange: Exchange = { actor, method, path, status, body, text, ...(options.forTenant ? { forTenant: options.forTenant } : {}) };
    this.history.push({ step: this.history.length + 1, actor, method, path, status });
    this.transcript.push(exchange);
    return exchange;
  }

  plant(tenant: string, canary: string): void {
    this.planted.set(tenant, [...(this.planted.get(tenant) ?? []), canary]);
  }

  /**
   * One HTTP exchange. A keep-alive socket the server closed as idle just as it was reused fails
   * with ECONNRESET before the request was read; that one case is retried on a fresh socket, as
   * Node's documentation recommends.
   */
  private send(actor: string, credential: Credential, method: string, path: string, payload: Buffer | undefined, options: CallOptions, retried = false): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = request(new URL(path, this.description.url), {
        method,
        agent: this.agentFor(actor, credential),
        servername: 'localhost',
        headers: {
          ...(credential.bearer ? { authorization: `Bearer ${credential.bearer}` } : {}),
          ...(payload ? { 'content-type': options.raw ? 'application/octet-stream' : 'application/json', 'content-length': String(payload.length) } : {}),
          ...options.headers,
        },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('latin1') }));
        res.on('error', reject);
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (!retried && req.reusedSocket && error.code === 'ECONNRESET') {
          this.send(actor, credential, method, path, payload, options, true).then(resolve, reject);
        } else reject(error);
      });
      if (payload) req.write(payload);
      req.end();
    });
  }

  /** History since a mark, renumbered from 1: the requests of one hunt run. */
  historySince(mark: number): HistoryEntry[] {
    return this.history.slice(mark).map((h, i) => ({ ...h, step: i + 1 }));
  }

  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }

  private agentFor(actor: string, credential: Credential): Agent {
    let agent = this.agents.get(actor);
    if (!agent) {
      agent = new Agent({ keepAlive: true, maxSockets: 8, ca: this.description.ca, ...(credential.cert ? { cert: credential.cert, key: credential.key } : {}) });
      this.agents.set(actor, agent);
    }
    return agent;
  }
}

/** Target description from a `tenantguard init` directory plus the API keys init printed. */
export function describeInitDirectory(dir: string, url: string, apiKeys: Readonly<Record<string, string>>, tiers: Readonly<Record<string, string>>): TargetDescription {
  const pair = (role: string, id: string): Credential => ({ cert: readFileSync(`${dir}/pki/${role}/${id}.crt`), key: readFileSync(`${dir}/pki/${role}/${id}.key`) });
  return {
    url,
    ca: readFileSync(`${dir}/pki/ca.crt`),
    operator: pair('operator', 'admin'),
    worker: pair('worker', 'worker-1'),
    tenants: Object.fromEntries(
      Object.entries(tiers).map(([id, tier]) => [id, { tier, cert: pair('tenant', id), ...(apiKeys[id] ? { apiKey: { bearer: apiKeys[id] } } : {}) }]),
    ),
    auditDir: `${dir}/audit`,
    pkiDir: `${dir}/pki`,
  };
}

/** The least the controls need: two tenants to reach across (I4, K1, M1, L1 cross-tenant checks). */
export const MIN_LIVE_TENANTS = 2;

export class TargetTenantsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TargetTenantsError';
  }
}

/**
 * `--target`: the tenants to attack are the ones the sidecar serves now, from its operator API
 * (`GET /v1/tenants`), not the demo names of the init directory's config (issue 17.3: after
 * `tenants erase standard-demo` a run gave 2 FAIL and 3 ERROR `metrics refused: 403`). A live
 * tenant is used when the init directory holds its certificate; an erased or unknown one never.
 * Fewer than MIN_LIVE_TENANTS usable tenants is refused with what is missing, before any control runs.
 */
export async function describeLiveTenants(
  dir: string,
  base: Omit<TargetDescription, 'tenants'>,
  apiKeys: Readonly<Record<string, string>>,
): Promise<{ description: TargetDescription; live: string[]; withoutCertificate: string[] }> {
  const probe = new ConformanceTarget({ ...base, tenants: {} });
  let answer: Exchange;
  try {
    answer = await probe.call('operator', 'GET', '/v1/tenants');
  } finally {
    probe.close();
  }
  const listed = (answer.body as { tenants?: { id?: unknown; tier?: unknown }[] } | null)?.tenants;
  if (answer.status !== 200 || !Array.isArray(listed)) {
    throw new TargetTenantsError(`cannot list the target's tenants: GET /v1/tenants as operator answered ${answer.status}${errorCodeOf(answer.body)}; the operator certificate in ${dir}/pki/operator/admin.crt must be one this sidecar trusts`);
  }
  const live = listed.filter((t): t is { id: string; tier: string } => typeof t.id === 'string' && typeof t.tier === 'string');
  const usable = live.filter((t) => existsSync(`${dir}/pki/tenant/${t.id}.crt`) && existsSync(`${dir}/pki/tenant/${t.id}.key`));
  const withoutCertificate = live.filter((t) => !usable.includes(t)).map((t) => t.id);
  if (usable.length < MIN_LIVE_TENANTS) {
    throw new TargetTenantsError(
      `the controls need at least ${MIN_LIVE_TENANTS} tenants of the target with certificates in ${dir}/pki/tenant/; ` +
        `the target serves ${live.length === 0 ? 'none' : live.map((t) => t.id).join(', ')}` +
        (withoutCertificate.length > 0 ? ` (no certificate for ${withoutCertificate.join(', ')}: \`tenantguard pki issue tenant ID\`)` : '') +
        '; add tenants to the config, or run with --spawn',
    );
  }
  const pair = (id: string): Credential => ({ cert: readFileSync(`${dir}/pki/tenant/${id}.crt`), key: readFileSync(`${dir}/pki/tenant/${id}.key`) });
  const tenants = Object.fromEntries(usable.map((t) => [t.id, { tier: t.tier, cert: pair(t.id), ...(apiKeys[t.id] ? { apiKey: { bearer: apiKeys[t.id]! } } : {}) }]));
  return { description: { ...base, tenants }, live: live.map((t) => t.id), withoutCertificate };
}

/** The live log's head, from the operator API: what a run appended is the difference (issue 17.3). */
export async function auditHead(base: Omit<TargetDescription, 'tenants'>): Promise<number | undefined> {
  const probe = new ConformanceTarget({ ...base, tenants: {} });
  try {
    const res = await probe.call('operator', 'GET', '/v1/audit/verify');
    const lastSeq = (res.body as { lastSeq?: unknown } | null)?.lastSeq;
    return typeof lastSeq === 'number' ? lastSeq : res.status === 200 ? 0 : undefined;
  } catch {
    return undefined;
  } finally {
    probe.close();
  }
}

function errorCodeOf(body: unknown): string {
  const code = (body as { error?: { code?: unknown } } | null)?.error?.code;
  return typeof code === 'string' ? ` ${code}` : '';
}
