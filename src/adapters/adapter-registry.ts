/** A LoRA adapter as registered by its owner (A1). Weights never pass through the sidecar. */
export interface Adapter {
  /**
   * The adapter's name within its owner's namespace as recorded: the keyed digest of the name the
   * owner chose (`recordedIdOf`), so the name, which may carry content, stays out of the audit log
   * and the state replayed from it (L1, issue 20.6).
   */
  readonly adapterId: string;
  readonly owner: string;
  /** Hex SHA-256 of the adapter weights the owner registered. */
  readonly sha256: string;
  readonly rank: number;
  readonly public: boolean;
}

/**
 * The facts policy needs per apply item (`tenantguard.adapters`), about the adapter the item
 * names: `owner_is_tenant` says whether the item names its own tenant's namespace (a bare id, or
 * `<its tenant>/<id>`); the others describe the adapter found there, if any.
 */
export interface ApplyFacts {
  readonly registered: boolean;
  readonly owner_is_tenant: boolean;
  readonly public: boolean;
  readonly digest_matches: boolean;
}

export type ApplyRefusal = 'adapter_unknown' | 'adapter_not_permitted' | 'digest_mismatch';

export type RegisterResult = { readonly ok: true; readonly previous: Adapter | undefined } | { readonly ok: false; readonly reason: 'adapter_limit' };

/** An adapter reference as a request names it, resolved to a namespace (issue 20.5). */
export interface AdapterRef {
  readonly owner: string;
  readonly adapterId: string;
}

/**
 * How a request names an adapter: a bare id is looked up in the request's own tenant's namespace;
 * `<owner>/<id>` names another tenant's adapter, which it may use only when that adapter is public.
 * Ids never contain `/` (the route schema), so the two forms cannot be confused.
 */
export function resolveAdapterRef(tenant: string, name: string): AdapterRef {
  const slash = name.indexOf('/');
  return slash < 0 ? { owner: tenant, adapterId: name } : { owner: name.slice(0, slash), adapterId: name.slice(slash + 1) };
}

/** The id the worker batches by and a public adapter is shared under: `<owner>/<id>`. */
export function qualifiedAdapterId(owner: string, adapterId: string): string {
  return `${owner}/${adapterId}`;
}

/**
 * Registered adapters, one namespace per tenant (issue 20.5): tenant A's "x" and tenant B's "x"
 * are different adapters, so registering never depends on (nor reveals) what another tenant holds,
 * and nobody can squat a name for anyone else, also not by registering it public.
 */
export class AdapterRegistry {
  private readonly byOwner = new Map<string, Map<string, Adapter>>();

  /** `recordedIdOf(owner, name)` is the recorded id an adapter named `name` by `owner` is kept under. */
  constructor(private readonly recordedIdOf: (owner: string, name: string) => string) {}

  /**
   * Registers or replaces an adapter in its owner's namespace. A new id is refused once the owner
   * holds `maxAdapters` (its tier's cap, issue 20.5); replacing an id it holds takes no new slot.
   */
  register(adapter: Adapter, maxAdapters: number): RegisterResult {
    const own = this.byOwner.get(adapter.owner);
    const previous = own?.get(adapter.adapterId);
    if (!previous && (own?.size ?? 0) >= maxAdapters) return { ok: false, reason: 'adapter_limit' };
    this.namespace(adapter.owner).set(adapter.adapterId, { ...adapter });
    return { ok: true, previous };
  }

  /** Puts back what `register` replaced; used when the audit record of a registration fails. */
  restore(owner: string, adapterId: string, previous: Adapter | undefined): void {
    if (previous) this.namespace(owner).set(adapterId, previous);
    else this.byOwner.get(owner)?.delete(adapterId);
  }

  /** Drops every adapter of a tenant (erasure). */
  removeOwner(owner: string): number {
    const removed = this.byOwner.get(owner)?.size ?? 0;
    this.byOwner.delete(owner);
    return removed;
  }

  /** Puts back adapters `removeOwner` dropped (an erasure whose audit record failed); no cap applies. */
  restoreOwner(owner: string, adapters: readonly Adapter[]): void {
    for (const adapter of adapters) this.namespace(owner).set(adapter.adapterId, { ...adapter, owner });
  }

  ownedBy(owner: string): Adapter[] {
    return [...(this.byOwner.get(owner)?.values() ?? [])];
  }

  countOwnedBy(owner: string): number {
    return this.byOwner.get(owner)?.size ?? 0;
  }

  factsFor(tenant: string, name: string, sha256: string): ApplyFacts {
    const ref = resolveAdapterRef(tenant, name);
    const adapter = this.lookup(ref);
    return {
      registered: adapter !== undefined,
      owner_is_tenant: ref.owner === tenant,
      public: adapter?.public === true,
      digest_matches: adapter?.sha256 === sha256,
    };
  }

  /**
   * A1 enforced in code, whatever the policy says: the tenant's own adapter, or another tenant's
   * public one named `<owner>/<id>`, and only with the registered digest. Another tenant's
   * namespace answers `adapter_not_permitted` for a private adapter and for no adapter alike, so
   * the answer never says whether another tenant has an adapter of that name (issue 20.5).
   */
  refusalFor(tenant: string, name: string, sha256: string): ApplyRefusal | null {
    const ref = resolveAdapterRef(tenant, name);
    const adapter = this.lookup(ref);
    if (ref.owner !== tenant) {
      if (!adapter || !adapter.public) return 'adapter_not_permitted';
    } else if (!adapter) return 'adapter_unknown';
    if (adapter.sha256 !== sha256) return 'digest_mismatch';
    return null;
  }

  /** The owner-qualified id of the adapter a request names (what the worker batches by). */
  qualifiedIdFor(tenant: string, name: string): string {
    const ref = resolveAdapterRef(tenant, name);
    return qualifiedAdapterId(ref.owner, ref.adapterId);
  }

  private lookup(ref: AdapterRef): Adapter | undefined {
    return this.byOwner.get(ref.owner)?.get(this.recordedIdOf(ref.owner, ref.adapterId));
  }

  private namespace(owner: string): Map<string, Adapter> {
    let own = this.byOwner.get(owner);
    if (!own) {
      own = new Map();
      this.byOwner.set(owner, own);
    }
    return own;
  }
}

/**
 * Groups allowed items by the adapter that runs (owner-qualified, so two tenants' "x" are never
 * one group) so the worker can batch requests per adapter (fewer switches).
 */
export function groupByAdapter(items: ReadonlyArray<{ requestId: string; qualifiedId: string }>): Array<{ adapter_id: string; request_ids: string[] }> {
  const groups = new Map<string, string[]>();
  for (const item of items) {
    const group = groups.get(item.qualifiedId);
    if (group) group.push(item.requestId);
    else groups.set(item.qualifiedId, [item.requestId]);
  }
  return [...groups].map(([adapter_id, request_ids]) => ({ adapter_id, request_ids }));
}
