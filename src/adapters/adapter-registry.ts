/** A LoRA adapter as registered by its owner (A1). Weights never pass through the sidecar. */
export interface Adapter {
  readonly adapterId: string;
  readonly owner: string;
  /** Hex SHA-256 of the adapter weights the owner registered. */
  readonly sha256: string;
  readonly rank: number;
  readonly public: boolean;
}

/** The facts policy needs per apply item (`tenantguard.adapters`). */
export interface ApplyFacts {
  readonly registered: boolean;
  readonly owner_is_tenant: boolean;
  readonly public: boolean;
  readonly digest_matches: boolean;
}

export type ApplyRefusal = 'adapter_unknown' | 'adapter_not_permitted' | 'digest_mismatch';

export type RegisterResult = { readonly ok: true; readonly previous: Adapter | undefined } | { readonly ok: false; readonly reason: 'adapter_id_taken' };

/**
 * Registered adapters by id. Ids are one namespace so the worker can name an adapter without a
 * tenant; an id taken by another tenant is refused without saying by whom.
 */
export class AdapterRegistry {
  private readonly byId = new Map<string, Adapter>();

  register(adapter: Adapter): RegisterResult {
    const previous = this.byId.get(adapter.adapterId);
    if (previous && previous.owner !== adapter.owner) return { ok: false, reason: 'adapter_id_taken' };
    this.byId.set(adapter.adapterId, { ...adapter });
    return { ok: true, previous };
  }

  /** Puts back what `register` replaced; used when the audit record of a registration fails. */
  restore(adapterId: string, previous: Adapter | undefined): void {
    if (previous) this.byId.set(adapterId, previous);
    else this.byId.delete(adapterId);
  }

  /** Drops every adapter of a tenant (erasure). */
  removeOwner(owner: string): number {
    let removed = 0;
    for (const [id, adapter] of this.byId) {
      if (adapter.owner === owner) {
        this.byId.delete(id);
        removed++;
      }
    }
    return removed;
  }

  ownedBy(owner: string): Adapter[] {
    return [...this.byId.values()].filter((a) => a.owner === owner);
  }

  factsFor(tenant: string, adapterId: string, sha256: string): ApplyFacts {
    const adapter = this.byId.get(adapterId);
    return {
      registered: adapter !== undefined,
      owner_is_tenant: adapter?.owner === tenant,
      public: adapter?.public === true,
      digest_matches: adapter?.sha256 === sha256,
    };
  }

  /** A1 enforced in code, whatever the policy says: owner or public, and the registered digest. */
  refusalFor(tenant: string, adapterId: string, sha256: string): ApplyRefusal | null {
    const adapter = this.byId.get(adapterId);
    if (!adapter) return 'adapter_unknown';
    if (adapter.owner !== tenant && !adapter.public) return 'adapter_not_permitted';
    if (adapter.sha256 !== sha256) return 'digest_mismatch';
    return null;
  }
}

/** Groups allowed items by adapter so the worker can batch requests per adapter (fewer switches). */
export function groupByAdapter(items: ReadonlyArray<{ requestId: string; adapterId: string }>): Array<{ adapter_id: string; request_ids: string[] }> {
  const groups = new Map<string, string[]>();
  for (const item of items) {
    const group = groups.get(item.adapterId);
    if (group) group.push(item.requestId);
    else groups.set(item.adapterId, [item.requestId]);
  }
  return [...groups].map(([adapter_id, request_ids]) => ({ adapter_id, request_ids }));
}
