import { readFileSync } from 'node:fs';
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
