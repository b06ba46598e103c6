import fc from 'fast-check';
import type { ControlContext, ControlOutcome } from '../control.js';
import { errorCode } from '../control.js';
import type { ConformanceTarget } from '../target.js';
import { InvariantViolation, runHunt, type HuntRun } from './hunt-kit.js';

export type BlockInvariant = 'I1' | 'I2' | 'I4' | 'I6';

/** What the harness has observed about one block; survives across runs (the sidecar does). */
interface BlockFacts {
  owner?: string;
  cachedBy?: string;
  awaitingScrub: boolean;
  /** The use epoch of the block's last allocation (what its scrub confirmation names, I2). */
  epoch?: number;
  /** Whose data the block holds: a tenant, 'clean', 'mixed' (freed before its scrub) or unknown. */
  data: string;
}

interface Model {
  readonly owned: Map<string, Set<number>>;
  readonly cached: Map<string, Set<number>>;
}

interface Real {
  readonly target: ConformanceTarget;
  readonly facts: Map<number, BlockFacts>;
}

const knowledge = new WeakMap<ConformanceTarget, Map<number, BlockFacts>>();

/**
 * Random interleavings of allocate, free (to dirty or to cache), scrub, reads, prefix hits and
 * deliberate cross-tenant reaches over three tenants of different tiers. The oracle: docs/design.md's
 * I1 (one owner), I2 (another tenant's data only after a confirmed scrub), I4 (only the owner
 * frees or reads), I6 (prefix hits never cross tenants). `checks` selects which invariants fail
 * the run; the others are still exercised.
 */
export function blocksHunt(ctx: ControlContext, checks: ReadonlySet<BlockInvariant>): HuntRun<Model, Real> {
  const target = ctx.target;
  const tenants = target.tenantIds;
  const facts = knowledge.get(target) ?? new Map<number, BlockFacts>();
  knowledge.set(target, facts);
  const factsOf = (id: number): BlockFacts => {
    let f = facts.get(id);
    if (!f) {
      f = { awaitingScrub: false, data: ctx.freshTarget ? 'clean' : 'unknown' };
      facts.set(id, f);
    }
    return f;
  };
  const fail = (invariant: BlockInvariant, message: string): void => {
    if (checks.has(invariant)) throw new InvariantViolation(invariant, message);
  };
  const tenantArb = fc.constantFrom(...tenants);
  const pick = (set: Set<number> | undefined, index: number): number | undefined => {
    if (!set || set.size === 0) return undefined;
    return [...set][index % set.size];
  };
  const ownerOf = (model: Model, id: number): string | undefined => tenants.find((t) => model.owned.get(t)?.has(id));
  const release = (model: Model, tenant: string, id: number): void => {
    model.owned.get(tenant)?.delete(id);
  };

  class Allocate implements fc.AsyncCommand<Model, Real> {
    constructor(readonly tenant: string, readonly count: number) {}
    check = (): boolean => true;
    async run(model: Model, real: Real): Promise<void> {
      const res = await real.target.call('worker', 'POST', '/v1/blocks/allocate', { body: { tenant: this.tenant, request_id: `hunt-${this.tenant}-${Date.now()}`, count: this.count }, forTenant: this.tenant });
      if (res.status !== 200) return; // quota or pool exhaustion: a legitimate refusal
      // The model takes every granted block before any violation is raised, so cleanup can free
      // them all and the next run starts from the same state.
      const violations: Array<[BlockInvariant, string]> = [];
      for (const { id, scrub, epoch } of (res.body as { blocks: { id: number; scrub: boolean; epoch: number }[] }).blocks) {
        const f = factsOf(id);
        const holder = f.owner ?? ownerOf(model, id);
        if (holder !== undefined && holder !== this.tenant) violations.push(['I1', `block ${id} allocated to ${this.tenant} while ${holder} still owns it`]);
        const foreignData = f.data !== 'clean' && f.data !== 'unknown' && f.data !== this.tenant;
        if (foreignData && !scrub) violations.push(['I2', `block ${id} last held ${f.data === 'mixed' ? 'unscrubbed mixed' : `${f.data}'s`} data and reached ${this.tenant} without scrub: true`]);
        for (const t of tenants) model.cached.get(t)?.delete(id);
        f.owner = this.tenant;
        f.cachedBy = undefined;
        f.awaitingScrub = scrub;
        f.epoch = epoch;
        if (!scrub && f.data === 'unknown') f.data = this.tenant;
        model.owned.get(this.tenant)!.add(id);
      }
      for (const [invariant, message] of violations) fail(invariant, message);
    }
    toString = (): string => `allocate(${this.tenant}, ${this.count})`;
  }

  /** Frees 1..all of a tenant's blocks (index picks how many), to its dirty list or its cache. */
  class Free implements fc.AsyncCommand<Model, Real> {
    constructor(readonly tenant: string, readonly index: number, readonly cache: boolean) {}
    check = (m: Readonly<Model>): boolean => (m.owned.get(this.tenant)?.size ?? 0) > 0;
    async run(model: Model, real: Real): Promise<void> {
      const owned = [...model.owned.get(this.tenant)!];
      const ids = owned.slice(0, 1 + (this.index % owned.length));
      const res = await real.target.call('worker', 'POST', '/v1/blocks/free', { body: { tenant: this.tenant, blocks: ids, cache: this.cache }, forTenant: this.tenant });
      if (res.status !== 200) throw new Error(`owner free of ${ids.length} blocks refused: ${res.status} ${errorCode(res.body)}`);
      for (const id of ids) {
        const f = factsOf(id);
        release(model, this.tenant, id);
        f.owner = undefined;
        // The owner wrote its data; a block freed before its scrub holds a mix of two tenants'.
        f.data = f.awaitingScrub ? 'mixed' : this.tenant;
        if (this.cache && !f.awaitingScrub) {
          f.cachedBy = this.tenant;
          model.cached.get(this.tenant)!.add(id);
        }
        f.awaitingScrub = false;
      }
    }
    toString = (): string => `free(${this.tenant}, ${1 + this.index}${this.cache ? ', cache' : ''})`;
  }

  class Scrub implements fc.AsyncCommand<Model, Real> {
    constructor(readonly tenant: string) {}
    check = (m: Readonly<Model>): boolean => [...(m.owned.get(this.tenant) ?? [])].some((id) => factsOf(id).awaitingScrub);
    async run(model: Model, real: Real): Promise<void> {
      const ids = [...model.owned.get(this.tenant)!].filter((id) => factsOf(id).awaitingScrub);
      const res = await real.target.call('worker', 'POST', '/v1/blocks/scrubbed', { body: { blocks: ids, epochs: ids.map((id) => factsOf(id).epoch ?? 0) } });
      if (res.status !== 200) throw new Error(`scrub confirmation refused: ${res.status} ${errorCode(res.body)}`);
      for (const id of ids) Object.assign(factsOf(id), { awaitingScrub: false, data: this.tenant });
    }
    toString = (): string => `scrubbed(${this.tenant})`;
  }

  class ReadOwn implements fc.AsyncCommand<Model, Real> {
    constructor(readonly tenant: string, readonly index: number) {}
    check = (m: Readonly<Model>): boolean => (m.owned.get(this.tenant)?.size ?? 0) > 0;
    async run(model: Model, real: Real): Promise<void> {
      const id = pick(model.owned.get(this.tenant), this.index)!;
      const res = await real.target.call('worker', 'POST', '/v1/blocks/access', { body: { tenant: this.tenant, blocks: [id], mode: 'read' }, forTenant: this.tenant });
      const f = factsOf(id);
      if (f.awaitingScrub && res.status === 200) fail('I2', `${this.tenant} read block ${id} before its scrub was confirmed`);
      if (!f.awaitingScrub && res.status !== 200) throw new Error(`owner read of block ${id} refused: ${res.status} ${errorCode(res.body)}`);
    }
    toString = (): string => `read(${this.tenant}, #${this.index})`;
  }

  /** A worker bug or a malicious caller: touch a block another tenant holds. Must be 403. */
  class ReachForeign implements fc.AsyncCommand<Model, Real> {
    constructor(readonly tenant: string, readonly index: number, readonly how: 'free' | 'read' | 'prefix_hit') {}
    private victimBlocks(m: Readonly<Model>): Set<number> {
      const pool = this.how === 'prefix_hit' ? m.cached : m.owned;
      return new Set(tenants.filter((t) => t !== this.tenant).flatMap((t) => [...(pool.get(t) ?? [])]));
    }
    check = (m: Readonly<Model>): boolean => this.victimBlocks(m).size > 0;
    async run(model: Model, real: Real): Promise<void> {
      const id = pick(this.victimBlocks(model), this.index)!;
      const victim = tenants.find((t) => (this.how === 'prefix_hit' ? model.cached : model.owned).get(t)?.has(id))!;
      const body = this.how === 'free' ? { tenant: this.tenant, blocks: [id] } : { tenant: this.tenant, blocks: [id], mode: this.how };
      const res = await real.target.call('worker', 'POST', this.how === 'free' ? '/v1/blocks/free' : '/v1/blocks/access', { body, forTenant: this.tenant });
      if (res.status >= 200 && res.status < 300) {
        // Keep the model true to the sidecar before failing, so cleanup works.
        if (this.how === 'free') {
          release(model, victim, id);
          factsOf(id).owner = undefined;
        } else if (this.how === 'prefix_hit') {
          model.cached.get(victim)?.delete(id);
          model.owned.get(this.tenant)!.add(id);
          Object.assign(factsOf(id), { owner: this.tenant, cachedBy: undefined });
        }
        fail(this.how === 'prefix_hit' ? 'I6' : 'I4', `${this.tenant} could ${this.how.replace('_', ' ')} block ${id} held by ${victim} (HTTP ${res.status})`);
      }
    }
    toString = (): string => `${this.how}-foreign(${this.tenant}, #${this.index})`;
  }

  /** Concurrent allocations for several tenants at once: no block may be handed out twice (I1). */
  class Burst implements fc.AsyncCommand<Model, Real> {
    constructor(readonly requests: ReadonlyArray<readonly [string, number]>) {}
    check = (): boolean => true;
    async run(model: Model, real: Real): Promise<void> {
      const results = await Promise.all(
        this.requests.map(([tenant, count], i) =>
          real.target.call('worker', 'POST', '/v1/blocks/allocate', { body: { tenant, request_id: `burst-${Date.now()}-${i}`, count }, forTenant: tenant }).then((res) => ({ tenant, res })),
        ),
      );
      const seen = new Map<number, string>();
      const violations: string[] = [];
      for (const { tenant, res } of results) {
        if (res.status !== 200) continue;
        for (const { id, scrub, epoch } of (res.body as { blocks: { id: number; scrub: boolean; epoch: number }[] }).blocks) {
          const twice = seen.get(id);
          const f = factsOf(id);
          const holder = f.owner;
          model.owned.get(tenant)!.add(id);
          for (const t of tenants) model.cached.get(t)?.delete(id);
          Object.assign(f, { owner: tenant, cachedBy: undefined, awaitingScrub: scrub, epoch });
          if (twice !== undefined) violations.push(`block ${id} handed to ${twice} and ${tenant} in one concurrent burst`);
          if (holder !== undefined && holder !== tenant) violations.push(`block ${id} allocated to ${tenant} while ${holder} still owns it`);
          seen.set(id, tenant);
        }
      }
      for (const message of violations) fail('I1', message);
    }
    toString = (): string => `burst(${this.requests.map(([t, n]) => `${t}:${n}`).join(' ')})`;
  }

  return {
    name: `blocks hunt (${[...checks].join(', ')})`,
    maxCommands: 30,
    commands: [
      // Up to half the spawned shared pool per call: tenants soon have to take each other's freed blocks.
      fc.tuple(tenantArb, fc.integer({ min: 1, max: 32 })).map(([t, n]) => new Allocate(t, n)),
      fc.tuple(tenantArb, fc.nat(), fc.boolean()).map(([t, i, c]) => new Free(t, i, c)),
      tenantArb.map((t) => new Scrub(t)),
      fc.tuple(tenantArb, fc.nat()).map(([t, i]) => new ReadOwn(t, i)),
      fc.tuple(tenantArb, fc.nat(), fc.constantFrom('free' as const, 'read' as const, 'prefix_hit' as const)).map(([t, i, how]) => new ReachForeign(t, i, how)),
      fc.array(fc.tuple(tenantArb, fc.integer({ min: 1, max: 4 })), { minLength: 2, maxLength: 6 }).map((r) => new Burst(r)),
    ],
    setup: () => ({
      model: { owned: new Map(tenants.map((t) => [t, new Set<number>()])), cached: new Map(tenants.map((t) => [t, new Set<number>()])) },
      real: { target, facts },
    }),
    // Every run ends with all blocks the harness touched freed and scrubbed, so every run starts
    // from the same clean state and a shrunk counterexample replays on its own.
    cleanup: async (model) => {
      for (const tenant of tenants) {
        const ids = [...(model.owned.get(tenant) ?? [])];
        if (ids.length > 0) await target.call('worker', 'POST', '/v1/blocks/free', { body: { tenant, blocks: ids }, forTenant: tenant });
      }
      // Freed blocks moved to a new epoch since their allocation: the operator's pool view has it.
      const epochs = await currentEpochs(target);
      const touched = [...facts.entries()].filter(([id, f]) => (f.data !== 'clean' || f.cachedBy !== undefined) && epochs.has(id)).map(([id]) => id);
      for (let i = 0; i < touched.length; i += 1024) {
        const slice = touched.slice(i, i + 1024);
        await target.call('worker', 'POST', '/v1/blocks/scrubbed', { body: { blocks: slice, epochs: slice.map((id) => epochs.get(id)!) } });
      }
      for (const f of facts.values()) Object.assign(f, { owner: undefined, cachedBy: undefined, awaitingScrub: false, data: 'clean' });
    },
  };
}

export function runBlocksHunt(ctx: ControlContext, invariant: BlockInvariant, controlId: string): Promise<ControlOutcome> {
  return runHunt(ctx, blocksHunt(ctx, new Set([invariant])), controlId);
}

/** Block id → use epoch of every block that is not clean, from the operator's pool views. */
async function currentEpochs(target: ConformanceTarget): Promise<Map<number, number>> {
  const epochs = new Map<number, number>();
  const listed = await target.call('operator', 'GET', '/v1/tenants');
  const pools = new Set(((listed.body as { tenants?: { pool?: string }[] }).tenants ?? []).map((t) => t.pool).filter((p): p is string => p !== undefined));
  for (const pool of pools) {
    const view = await target.call('operator', 'GET', `/v1/pools/${encodeURIComponent(pool)}/ledger`);
    for (const block of (view.body as { blocks?: { id: number; epoch: number }[] }).blocks ?? []) epochs.set(block.id, block.epoch);
  }
  return epochs;
}
