/**
 * A deliberately naive reference model of the ledger (maps and arrays, O(n) everywhere) used by
 * the property test. It predicts every denial exactly, checks every allocation against the
 * documented preference order, and keeps an independent I2 oracle: the set of tenants whose
 * content may be in each block. A read or prefix hit that the ledger allows must only ever see
 * the reader's own content.
 */
import { expect } from 'vitest';
import { isTgError } from '../../src/errors.js';
import type { BlockDenial, BlockId, BlockLedger, BlockState, LedgerTenant } from '../../src/ledger/index.js';
import { ALL_IDS, currentUse, POOLS, type Op, resolvePicks, tenantSpec } from './helpers.js';

type Kind = 'clean' | 'owned' | 'cached' | 'dirty' | 'contaminated';

interface ModelBlock {
  id: BlockId;
  pool: string;
  kind: Kind;
  /** Tenant key (id#epoch) for owned / cached / dirty. */
  tenant: string | null;
  awaiting: boolean;
  /** When the block last joined its eviction level (cached only). */
  cachedAt: number;
  /** I2 oracle: tenant keys whose content may still be in the block. */
  data: Set<string>;
}

interface ModelTenant {
  key: string;
  spec: LedgerTenant;
  peak: number;
}

/** Allocation source categories, in the order the ledger must use them. */
type Source = 'own_cached' | 'own_dirty' | 'clean' | 'contaminated' | 'other_dirty' | 'other_cached';

type Outcome = { threw: string } | { value: unknown };

function attempt(fn: () => unknown): Outcome {
  try {
    return { value: fn() };
  } catch (error) {
    return { threw: isTgError(error) ? error.code : String(error) };
  }
}

function value<T>(outcome: Outcome): T {
  if ('threw' in outcome) throw new Error(`unexpected throw ${outcome.threw}`);
  return outcome.value as T;
}

export class LedgerModel {
  private readonly blocks = new Map<BlockId, ModelBlock>();
  private readonly tenants = new Map<string, ModelTenant>();
  private epoch = 0;
  private clock = 0;

  constructor(registered: readonly LedgerTenant[]) {
    for (const pool of POOLS) {
      for (let id = pool.first; id <= pool.last; id++) {
        this.blocks.set(id, { id, pool: pool.name, kind: 'clean', tenant: null, awaiting: false, cachedAt: 0, data: new Set() });
      }
    }
    for (const spec of registered) this.register(spec);
  }

  /** Applies one op to the ledger and the model, checking the ledger's answer. */
  step(ledger: BlockLedger, op: Op): void {
    const ids = resolvePicks(ledger, op);
    switch (op.kind) {
      case 'allocate':
        return this.allocate(ledger, tenantSpec(op.t).id, op.n);
      case 'free':
        return this.free(ledger, tenantSpec(op.t).id, ids, op.cache);
      case 'scrub':
        return this.scrub(ledger, ids);
      case 'access':
        return this.access(ledger, tenantSpec(op.t).id, ids, op.mode);
      case 'update':
        return this.update(ledger, tenantSpec(op.t).id, op.priority, op.quota, op.pool);
      case 'remove':
        return this.remove(ledger, tenantSpec(op.t).id);
      case 'register':
        return this.registerOnBoth(ledger, tenantSpec(op.t));
      case 'rollback':
      case 'commit':
        return;
    }
  }

  /** Compares everything observable and checks I1–I5 on the model's side. */
  verify(ledger: BlockLedger): void {
    const report = ledger.checkInvariants();
    expect(report.violations).toEqual([]);
    expect(ALL_IDS.map((id) => ledger.blockState(id))).toEqual(ALL_IDS.map((id) => this.render(this.block(id))));
    for (const spec of [0, 1, 2, 3].map(tenantSpec)) {
      const tenant = this.tenants.get(spec.id);
      if (tenant === undefined) {
        expect(ledger.tenant(spec.id)).toBeUndefined();
        continue;
      }
      const mine = this.of(tenant);
      expect(ledger.usage(spec.id)).toEqual({
        owned: mine.filter((b) => b.kind === 'owned').length,
        cached: mine.filter((b) => b.kind === 'cached').length,
        awaitingScrub: mine.filter((b) => b.kind === 'owned' && b.awaiting).length,
        quotaBlocks: tenant.spec.quotaBlocks,
        peakOwned: tenant.peak,
      });
      // I3: held never exceeds the quota.
      expect(mine.filter((b) => b.kind === 'owned' || b.kind === 'cached').length).toBeLessThanOrEqual(tenant.spec.quotaBlocks);
      // Cached blocks live in the tenant's own pool.
      for (const b of mine) if (b.kind === 'cached') expect(b.pool).toBe(tenant.spec.pool);
    }
    for (const b of this.blocks.values()) {
      // I1 (model side): one owner slot per block; owned/cached/dirty blocks belong to live tenants.
      if (b.tenant !== null) expect([...this.tenants.values()].some((t) => t.key === b.tenant)).toBe(true);
      // I5: nobody but the dedicated tenant has anything in the dedicated pool.
      const dedicatedTo = POOLS.find((pool) => pool.name === b.pool)?.dedicatedTo;
      if (dedicatedTo !== undefined && b.tenant !== null) expect(b.tenant.split('#')[0]).toBe(dedicatedTo);
      // I2 (model side): an owned block not awaiting a scrub holds only its owner's content.
      if (b.kind === 'owned' && !b.awaiting) expect([...b.data]).toEqual([b.tenant]);
    }
  }

  // ───────────────────────────── operations ─────────────────────────────

  private allocate(ledger: BlockLedger, id: string, n: number): void {
    const outcome = attempt(() => ledger.allocate(id, n));
    const tenant = this.tenants.get(id);
    if (tenant === undefined) return void expect(outcome).toEqual({ threw: 'TG_ERR_UNKNOWN_TENANT' });
    const mine = this.of(tenant);
    const owned = mine.filter((b) => b.kind === 'owned').length;
    const cached = mine.filter((b) => b.kind === 'cached').length;
    const quota = tenant.spec.quotaBlocks;
    const result = value<{ ok: boolean } & Record<string, unknown>>(outcome);
    if (owned + n > quota) {
      return void expect(result).toEqual({ ok: false, reason: 'quota_exceeded', held: owned + cached, owned, requested: n, quota });
    }
    const pool = [...this.blocks.values()].filter((b) => b.pool === tenant.spec.pool);
    const available = pool.filter((b) => b.kind !== 'owned').length;
    if (n > available) return void expect(result).toEqual({ ok: false, reason: 'pool_exhausted', requested: n, available });

    // The expected sequence of sources, per the documented preference order.
    const sourceOf = (b: ModelBlock): Source => {
      const own = b.tenant === tenant.key;
      if (b.kind === 'clean') return 'clean';
      if (b.kind === 'contaminated') return 'contaminated';
      if (b.kind === 'dirty') return own ? 'own_dirty' : 'other_dirty';
      if (b.kind === 'cached') return own ? 'own_cached' : 'other_cached';
      throw new Error('owned blocks are never a source');
    };
    const supply = (source: Source): number => pool.filter((b) => b.kind !== 'owned' && sourceOf(b) === source).length;
    const need = Math.max(0, owned + cached + n - quota);
    const expected: Source[] = Array<Source>(need).fill('own_cached');
    let remaining = n - need;
    const plan: Array<[Source, number]> = [
      ['own_dirty', supply('own_dirty')],
      ['clean', supply('clean')],
      ['own_cached', supply('own_cached') - need],
      ['contaminated', supply('contaminated')],
      ['other_dirty', supply('other_dirty')],
      ['other_cached', supply('other_cached')],
    ];
    for (const [source, count] of plan) {
      const take = Math.min(remaining, count);
      expected.push(...Array<Source>(take).fill(source));
      remaining -= take;
    }
    expect(remaining).toBe(0);

    expect(result.ok).toBe(true);
    const allocation = result as unknown as { blocks: Array<{ id: number; scrub: boolean }>; evicted: number[]; reclaimed: number[] };
    const taken = allocation.blocks.map((got) => this.block(got.id));
    expect(new Set(taken.map((b) => b.id)).size).toBe(n);
    for (const b of taken) expect(b.pool).toBe(tenant.spec.pool); // I5
    expect(taken.map(sourceOf)).toEqual(expected);
    for (const [i, got] of allocation.blocks.entries()) {
      const source = expected[i]!;
      // I2: anything that is not clean and not the tenant's own data is flagged for scrub.
      expect(got.scrub).toBe(source === 'contaminated' || source === 'other_dirty' || source === 'other_cached');
    }
    const byAge = (a: ModelBlock, b: ModelBlock): number => a.cachedAt - b.cachedAt;
    const ownCachedTaken = taken.filter((b) => sourceOf(b) === 'own_cached');
    const oldestOwn = pool.filter((b) => b.kind === 'cached' && b.tenant === tenant.key).sort(byAge);
    expect(ownCachedTaken.map((b) => b.id)).toEqual(oldestOwn.slice(0, ownCachedTaken.length).map((b) => b.id));
    expect(allocation.reclaimed).toEqual(ownCachedTaken.map((b) => b.id));
    // Eviction: least important tenant first, least recently cached first within a level.
    const priorityOf = (b: ModelBlock): number => this.tenantByKey(b.tenant).spec.priority;
    const victims = pool
      .filter((b) => b.kind === 'cached' && b.tenant !== tenant.key)
      .sort((a, b) => priorityOf(b) - priorityOf(a) || a.cachedAt - b.cachedAt);
    const evicted = taken.filter((b) => sourceOf(b) === 'other_cached').map((b) => b.id);
    expect(evicted).toEqual(victims.slice(0, evicted.length).map((b) => b.id));
    expect(allocation.evicted).toEqual(evicted);

    for (const [i, b] of taken.entries()) {
      Object.assign(b, { kind: 'owned', tenant: tenant.key, awaiting: allocation.blocks[i]!.scrub });
      b.data.add(tenant.key);
    }
    tenant.peak = Math.max(tenant.peak, owned + n);
  }

  private free(ledger: BlockLedger, id: string, ids: BlockId[], cache: boolean): void {
    const outcome = attempt(() => ledger.free(id, ids, { cache }));
    const tenant = this.tenants.get(id);
    if (tenant === undefined) return void expect(outcome).toEqual({ threw: 'TG_ERR_UNKNOWN_TENANT' });
    const denials: BlockDenial[] = [];
    const seen = new Set<number>();
    for (const blockId of ids) {
      const b = this.blocks.get(blockId);
      if (b === undefined) denials.push({ id: blockId, reason: 'unknown_block' });
      else if (seen.has(blockId)) denials.push({ id: blockId, reason: 'duplicate' });
      else {
        seen.add(blockId);
        const reason = this.ownership(b, tenant, 'free');
        if (reason !== null) denials.push({ id: blockId, reason });
      }
    }
    const result = value<unknown>(outcome);
    const violation = denials.some((d) => d.reason === 'not_owner' || d.reason === 'not_allocated');
    if (denials.length > 0) return void expect(result).toEqual({ ok: false, reason: 'blocks_denied', violation, blocks: denials });
    const counts = { cached: 0, dirty: 0, contaminated: 0 };
    for (const blockId of ids) {
      const b = this.block(blockId);
      if (b.awaiting) {
        Object.assign(b, { kind: 'contaminated', tenant: null, awaiting: false });
        counts.contaminated++;
      } else if (cache && b.pool === tenant.spec.pool) {
        Object.assign(b, { kind: 'cached', cachedAt: ++this.clock });
        counts.cached++;
      } else {
        b.kind = 'dirty';
        counts.dirty++;
      }
    }
    expect(result).toMatchObject({ ok: true, ...counts });
  }

  private scrub(ledger: BlockLedger, ids: BlockId[]): void {
    const result = value<unknown>(attempt(() => ledger.confirmScrub(currentUse(ledger, ids))));
    const unknown = ids.filter((blockId) => !this.blocks.has(blockId));
    if (unknown.length > 0) {
      return void expect(result).toEqual({
        ok: false,
        reason: 'blocks_denied',
        violation: false,
        blocks: unknown.map((blockId) => ({ id: blockId, reason: 'unknown_block' })),
      });
    }
    const counts = { cleaned: 0, cleared: 0 };
    for (const blockId of new Set(ids)) {
      const b = this.block(blockId);
      if (b.kind === 'owned') {
        if (b.awaiting) {
          b.awaiting = false;
          b.data = new Set([b.tenant!]); // zeroed, then written by its owner
          counts.cleared++;
        }
      } else if (b.kind !== 'clean') {
        Object.assign(b, { kind: 'clean', tenant: null, awaiting: false, data: new Set() });
        counts.cleaned++;
      }
    }
    expect(result).toMatchObject({ ok: true, ...counts });
  }

  private access(ledger: BlockLedger, id: string, ids: BlockId[], mode: 'read' | 'prefix_hit'): void {
    const outcome = attempt(() => ledger.access(id, ids, mode));
    const tenant = this.tenants.get(id);
    if (tenant === undefined) return void expect(outcome).toEqual({ threw: 'TG_ERR_UNKNOWN_TENANT' });
    const denials: BlockDenial[] = [];
    const seen = new Set<number>();
    for (const blockId of ids) {
      const b = this.blocks.get(blockId);
      if (b === undefined) denials.push({ id: blockId, reason: 'unknown_block' });
      else if (!seen.has(blockId)) {
        seen.add(blockId);
        const reason = this.ownership(b, tenant, mode);
        if (reason !== null) denials.push({ id: blockId, reason });
      }
    }
    const result = value<unknown>(outcome);
    if (denials.length > 0) {
      const violation = denials.some((d) => d.reason === 'not_owner' || d.reason === 'not_allocated');
      return void expect(result).toEqual({ ok: false, reason: 'blocks_denied', violation, blocks: denials });
    }
    let hits = 0;
    for (const blockId of seen) {
      const b = this.block(blockId);
      // The I2 / I6 oracle: whatever the ledger lets a tenant see holds only that tenant's content.
      for (const owner of b.data) expect(owner).toBe(tenant.key);
      if (b.kind === 'cached') {
        b.kind = 'owned';
        hits++;
      }
    }
    const owned = this.of(tenant).filter((b) => b.kind === 'owned').length;
    if (mode === 'prefix_hit') tenant.peak = Math.max(tenant.peak, owned);
    expect(result).toMatchObject({ ok: true, hits });
  }

  private update(ledger: BlockLedger, id: string, priority?: number, quota?: number, pool?: string): void {
    const patch = { ...(priority === undefined ? {} : { priority }), ...(quota === undefined ? {} : { quotaBlocks: quota }), ...(pool === undefined ? {} : { pool }) };
    const outcome = attempt(() => ledger.updateTenant(id, patch));
    const tenant = this.tenants.get(id);
    if (tenant === undefined) return void expect(outcome).toEqual({ threw: 'TG_ERR_UNKNOWN_TENANT' });
    const next = { ...tenant.spec, ...patch };
    const dedicated = POOLS.find((p) => p.name === next.pool)?.dedicatedTo;
    const mine = this.of(tenant);
    const owned = mine.filter((b) => b.kind === 'owned').length;
    const wrongPool = (dedicated !== undefined && dedicated !== id) || (id === 'e' && next.pool !== 'ent');
    if (wrongPool || next.quotaBlocks < owned) return void expect(outcome).toEqual({ threw: 'TG_ERR_CONFLICT' });

    const reclaimed: BlockId[] = [];
    const cachedByAge = (): ModelBlock[] => mine.filter((b) => b.kind === 'cached').sort((a, b) => a.cachedAt - b.cachedAt);
    if (next.pool !== tenant.spec.pool) {
      for (const b of cachedByAge()) {
        b.kind = 'dirty';
        reclaimed.push(b.id);
      }
    }
    if (next.priority !== tenant.spec.priority) for (const b of cachedByAge()) b.cachedAt = ++this.clock;
    for (const b of cachedByAge()) {
      if (owned + cachedByAge().length <= next.quotaBlocks) break;
      b.kind = 'dirty';
      reclaimed.push(b.id);
    }
    tenant.spec = next;
    expect(value<unknown>(outcome)).toMatchObject({ reclaimed });
  }

  private remove(ledger: BlockLedger, id: string): void {
    const outcome = attempt(() => ledger.removeTenant(id));
    const tenant = this.tenants.get(id);
    if (tenant === undefined) return void expect(outcome).toEqual({ threw: 'TG_ERR_UNKNOWN_TENANT' });
    const mine = this.of(tenant);
    for (const b of mine) Object.assign(b, { kind: 'contaminated', tenant: null, awaiting: false });
    this.tenants.delete(id);
    expect(value<unknown>(outcome)).toMatchObject({ contaminated: mine.length });
  }

  private registerOnBoth(ledger: BlockLedger, spec: LedgerTenant): void {
    const outcome = attempt(() => ledger.registerTenant(spec));
    if (this.tenants.has(spec.id)) return void expect(outcome).toEqual({ threw: 'TG_ERR_CONFLICT' });
    expect('value' in outcome).toBe(true);
    this.register(spec);
  }

  // ───────────────────────────── helpers ─────────────────────────────

  private register(spec: LedgerTenant): void {
    this.tenants.set(spec.id, { key: `${spec.id}#${++this.epoch}`, spec: { ...spec }, peak: 0 });
  }

  private ownership(b: ModelBlock, tenant: ModelTenant, intent: 'free' | 'read' | 'prefix_hit'): BlockDenial['reason'] | null {
    const mine = b.tenant === tenant.key;
    if (b.kind === 'owned' && mine) return b.awaiting && intent !== 'free' ? 'scrub_pending' : null;
    if (b.kind === 'cached' && mine) return intent === 'prefix_hit' ? null : 'not_allocated';
    if (b.kind === 'owned' || b.kind === 'cached') return 'not_owner';
    return 'not_allocated';
  }

  private of(tenant: ModelTenant): ModelBlock[] {
    return [...this.blocks.values()].filter((b) => b.tenant === tenant.key);
  }

  private tenantByKey(key: string | null): ModelTenant {
    const tenant = [...this.tenants.values()].find((t) => t.key === key);
    if (tenant === undefined) throw new Error(`no live tenant ${key}`);
    return tenant;
  }

  private block(id: BlockId): ModelBlock {
    const b = this.blocks.get(id);
    if (b === undefined) throw new Error(`no block ${id}`);
    return b;
  }

  private render(b: ModelBlock): BlockState {
    const tenant = b.tenant === null ? null : b.tenant.split('#')[0]!;
    switch (b.kind) {
      case 'clean':
        return { id: b.id, pool: b.pool, state: 'clean' };
      case 'owned':
        return { id: b.id, pool: b.pool, state: 'owned', tenant: tenant!, awaitingScrub: b.awaiting };
      case 'cached':
        return { id: b.id, pool: b.pool, state: 'cached', tenant: tenant! };
      case 'dirty':
        return { id: b.id, pool: b.pool, state: 'dirty', tenant: tenant! };
      case 'contaminated':
        return { id: b.id, pool: b.pool, state: 'dirty', tenant: null };
    }
  }
}

