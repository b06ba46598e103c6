import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import type { ControlContext, ControlOutcome } from '../control.js';
import type { ConformanceTarget } from '../target.js';
import { canaryFor, findCanary } from './canaries.js';
import { InvariantViolation, runHunt, type HuntRun } from './hunt-kit.js';

interface TenantData {
  /** Offloaded block key → the canary content stored under it. */
  readonly blobs: Map<string, string>;
  /** Adapter id (in this tenant's own namespace) → whether it is public, and its digest. */
  readonly adapters: Map<string, { public: boolean; sha256: string }>;
  tokensIn: number;
  tokensOut: number;
  requests: number;
}

interface Model {
  readonly data: Map<string, TenantData>;
}

interface Real {
  readonly target: ConformanceTarget;
}

const ACTING_FOR = 'x-tenantguard-acting-for';

/** Adapter ids the hunt registers, per tenant (well within the free tier's cap of 16, issue 20.5). */
const HUNT_ADAPTER_SLOTS = 4;

/** Per-target baseline of each tenant's metrics, so figures planted by the hunt can be checked exactly. */
const planted = new WeakMap<ConformanceTarget, Map<string, TenantData>>();

/**
 * Interleavings of offload put/get (with cross-tenant attempts), adapter register/apply (with
 * cross-tenant applies and the same ids in several tenants' namespaces), admission + completion with
 * distinct token figures, and metrics queries. Oracles: K1 (a tenant's namespace never yields
 * another tenant's bytes), A1 (an adapter is applied only for its owner unless public and named
 * `<owner>/<id>`; registering a name another tenant holds answers like a fresh one), M1 (a tenant's metrics equal exactly its own planted
 * figures and name nobody else). Every response for tenant X is searched for other tenants'
 * canaries (L1).
 */
export function dataHunt(ctx: ControlContext, check: 'K1' | 'A1' | 'M1'): HuntRun<Model, Real> {
  const target = ctx.target;
  const tenants = target.tenantIds;
  const tenantArb = fc.constantFrom(...tenants);
  const state = planted.get(target) ?? new Map(tenants.map((t) => [t, { blobs: new Map(), adapters: new Map(), tokensIn: 0, tokensOut: 0, requests: 0 } satisfies TenantData]));
  planted.set(target, state);
  const fail = (invariant: 'K1' | 'A1' | 'M1', message: string): void => {
    if (invariant === check) throw new InvariantViolation(invariant, message);
  };
  const othersCanaries = (tenant: string): string[] => tenants.filter((t) => t !== tenant).flatMap((t) => [...state.get(t)!.blobs.values()]);
  const searchLeak = (tenant: string, text: string): void => {
    const leaked = findCanary(text, othersCanaries(tenant));
    if (leaked) fail(check, `a response for ${tenant} carried another tenant's content (${leaked.slice(0, 24)}…)`);
  };

  class PutBlob implements fc.AsyncCommand<Model, Real> {
    constructor(readonly tenant: string, readonly key: string) {}
    check = (): boolean => true;
    async run(_m: Model, real: Real): Promise<void> {
      const canary = canaryFor(this.tenant);
      const res = await real.target.call('worker', 'PUT', `/v1/offload/${this.tenant}/${this.key}`, { raw: Buffer.from(canary.repeat(64)), headers: { [ACTING_FOR]: this.tenant }, forTenant: this.tenant });
      if (res.status !== 201) throw new Error(`offload put refused: ${res.status}`);
      state.get(this.tenant)!.blobs.set(this.key, canary);
      real.target.plant(this.tenant, canary);
    }
    toString = (): string => `put(${this.tenant}/${this.key})`;
  }

  class GetBlob implements fc.AsyncCommand<Model, Real> {
    /** `pathTenant` names the namespace asked for; the worker acts for `actingFor`. */
    constructor(readonly actingFor: string, readonly pathTenant: string, readonly key: string) {}
    check = (): boolean => true;
    async run(_m: Model, real: Real): Promise<void> {
      const res = await real.target.call('worker', 'GET', `/v1/offload/${this.pathTenant}/${this.key}`, { headers: { [ACTING_FOR]: this.actingFor }, forTenant: this.actingFor });
      searchLeak(this.actingFor, res.text);
      const own = this.actingFor === this.pathTenant ? state.get(this.actingFor)!.blobs.get(this.key) : undefined;
      if (own && res.status === 200 && !res.text.includes(own)) fail('K1', `${this.actingFor}/${this.key} returned bytes that are not the ones stored`);
      if (this.actingFor !== this.pathTenant && res.status === 200) fail('K1', `a worker acting for ${this.actingFor} read ${this.pathTenant}'s offloaded block ${this.key}`);
    }
    toString = (): string => `get(${this.pathTenant}/${this.key} for ${this.actingFor})`;
  }

  /** A refusal a hunt must accept: the tenant holds as many adapters as its tier allows (issue 20.5). */
  const atAdapterCap = (res: { status: number; body: unknown }): boolean => res.status === 429 && (res.body as { error?: { code?: string } } | undefined)?.error?.code === 'TG_ERR_ADAPTER_LIMIT';

  /**
   * Registers (or replaces) one of a few ids, the same ids for every tenant: the hunt must not use
   * up the target's adapter caps (issue 20.5), and ids are per tenant, so another tenant holding
   * the same id must change nothing about the answer (no "taken" oracle) nor about its adapter.
   * Ids never name a tenant: responses for one tenant must not name another (L1).
   */
  class RegisterAdapter implements fc.AsyncCommand<Model, Real> {
    constructor(readonly tenant: string, readonly slot: number, readonly isPublic: boolean) {}
    check = (): boolean => true;
    async run(_m: Model, real: Real): Promise<void> {
      const id = `hunt-adapter-${this.slot}`;
      const sha256 = createHash('sha256').update(`${id}:${randomBytes(8).toString('hex')}`).digest('hex');
      const res = await real.target.call(`${this.tenant}#cert`, 'POST', '/v1/adapters', { body: { adapter_id: id, sha256, rank: 8, public: this.isPublic }, forTenant: this.tenant });
      if (atAdapterCap(res)) return;
      if (res.status !== 201) {
        const holders = tenants.filter((t) => t !== this.tenant && state.get(t)!.adapters.has(id));
        if (holders.length > 0) fail('A1', `${this.tenant} registering ${id}, which ${holders.join(', ')} also holds, answered ${res.status}: whether another tenant holds a name must not change the answer`);
        throw new Error(`adapter registration refused: ${res.status}`);
      }
      state.get(this.tenant)!.adapters.set(id, { public: this.isPublic, sha256 });
    }
    toString = (): string => `register-adapter(${this.tenant} #${this.slot}${this.isPublic ? ', public' : ''})`;
  }

  /** A request of `tenant` names `owner`'s adapter: by its bare id, or owner-qualified (`<owner>/<id>`). */
  class ApplyAdapter implements fc.AsyncCommand<Model, Real> {
    constructor(readonly tenant: string, readonly owner: string, readonly index: number, readonly qualified: boolean) {}
    check = (): boolean => state.get(this.owner)!.adapters.size > 0;
    async run(_m: Model, real: Real): Promise<void> {
      const adapters = [...state.get(this.owner)!.adapters];
      const [id, info] = adapters[this.index % adapters.length]!;
      const name = this.qualified ? `${this.owner}/${id}` : id;
      const res = await real.target.call('worker', 'POST', '/v1/adapters/apply', { body: { batch: [{ request_id: 'r1', tenant: this.tenant, adapter_id: name, sha256: info.sha256 }] }, forTenant: this.tenant });
      if (res.status !== 200) throw new Error(`adapter apply failed: ${res.status}`);
      const allowed = (res.body as { results: { allow: boolean }[] }).results[0]?.allow === true;
      // A bare id always names the request's own tenant's namespace; a same-named adapter there has
      // other weights (digests are random per registration), so only the owner or a public share may run it.
      const permitted = this.tenant === this.owner || (this.qualified && info.public);
      if (allowed && !permitted) fail('A1', `${this.owner}'s ${info.public ? 'public' : 'private'} adapter ${id} was applied to a request of ${this.tenant} naming "${name}"`);
      if (!allowed && permitted) throw new Error(`a permitted adapter apply was refused for ${this.tenant} naming "${name}"`);
    }
    toString = (): string => `apply(${this.owner}'s #${this.index} for ${this.tenant}${this.qualified ? ', qualified' : ''})`;
  }

  class Serve implements fc.AsyncCommand<Model, Real> {
    constructor(readonly tenant: string, readonly input: number, readonly output: number) {}
    check = (): boolean => true;
    async run(_m: Model, real: Real): Promise<void> {
      const id = `hunt-${randomBytes(6).toString('hex')}`;
      const admitted = await real.target.call('worker', 'POST', '/v1/admission', { body: { tenant: this.tenant, request_id: id, max_tokens: this.input + this.output + 1 }, forTenant: this.tenant });
      if (admitted.status !== 200) return; // rate limits are legitimate refusals
      const done = await real.target.call('worker', 'POST', `/v1/admission/${id}/complete`, { body: { input_tokens: this.input, output_tokens: this.output }, forTenant: this.tenant });
      if (done.status !== 200) throw new Error(`completion refused: ${done.status}`);
      const d = state.get(this.tenant)!;
      d.tokensIn += this.input;
      d.tokensOut += this.output;
      d.requests += 1;
    }
    toString = (): string => `serve(${this.tenant}, ${this.input}+${this.output} tokens)`;
  }

  class ReadMetrics implements fc.AsyncCommand<Model, Real> {
    constructor(readonly tenant: string) {}
    check = (): boolean => true;
    async run(_m: Model, real: Real): Promise<void> {
      const res = await real.target.call(`${this.tenant}#cert`, 'GET', '/v1/metrics', { forTenant: this.tenant });
      if (res.status !== 200) throw new Error(`metrics refused: ${res.status}`);
      for (const other of tenants.filter((t) => t !== this.tenant)) if (res.text.includes(other)) fail('M1', `${this.tenant}'s metrics name ${other}`);
      const view = res.body as { tokens?: { input?: number; output?: number } };
      const d = state.get(this.tenant)!;
      const base = baselines.get(target)?.get(this.tenant);
      if (base && (view.tokens?.input !== base.input + d.tokensIn || view.tokens?.output !== base.output + d.tokensOut)) {
        fail('M1', `${this.tenant}'s metrics show ${view.tokens?.input}/${view.tokens?.output} tokens; it used ${base.input + d.tokensIn}/${base.output + d.tokensOut}`);
      }
    }
    toString = (): string => `metrics(${this.tenant})`;
  }

  const key = fc.constantFrom('blk-0', 'blk-1', 'blk-2');
  return {
    name: `data hunt (${check})`,
    maxCommands: 20,
    commands: [
      fc.tuple(tenantArb, key).map(([t, k]) => new PutBlob(t, k)),
      fc.tuple(tenantArb, tenantArb, key).map(([a, p, k]) => new GetBlob(a, p, k)),
      fc.tuple(tenantArb, fc.nat({ max: HUNT_ADAPTER_SLOTS - 1 }), fc.boolean()).map(([t, slot, p]) => new RegisterAdapter(t, slot, p)),
      fc.tuple(tenantArb, tenantArb, fc.nat(), fc.boolean()).map(([t, o, i, q]) => new ApplyAdapter(t, o, i, q)),
      fc.tuple(tenantArb, fc.integer({ min: 1, max: 97 }), fc.integer({ min: 1, max: 13 })).map(([t, i, o]) => new Serve(t, i, o)),
      tenantArb.map((t) => new ReadMetrics(t)),
    ],
    setup: () => ({ model: { data: state }, real: { target } }),
    cleanup: async () => undefined,
  };
}

/** Each tenant's token figures before the hunt began (the harness plants on top of them). */
const baselines = new WeakMap<ConformanceTarget, Map<string, { input: number; output: number }>>();

export async function runDataHunt(ctx: ControlContext, check: 'K1' | 'A1' | 'M1', controlId: string): Promise<ControlOutcome> {
  if (!baselines.has(ctx.target)) {
    const base = new Map<string, { input: number; output: number }>();
    for (const tenant of ctx.target.tenantIds) {
      const res = await ctx.target.call(`${tenant}#cert`, 'GET', '/v1/metrics', { forTenant: tenant });
      const view = res.body as { tokens?: { input?: number; output?: number } };
      base.set(tenant, { input: view.tokens?.input ?? 0, output: view.tokens?.output ?? 0 });
    }
    baselines.set(ctx.target, base);
  }
  return runHunt(ctx, dataHunt(ctx, check), controlId);
}
