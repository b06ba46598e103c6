import type { AdapterRegistry } from '../../src/adapters/index.js';
import type { AuditLog } from '../../src/audit/index.js';
import type { OffloadStore } from '../../src/keys/index.js';
import type { BlockLedger } from '../../src/ledger/index.js';
import type { TenantMetrics } from '../../src/metrics/index.js';
import type { ComponentOverrides } from '../../src/sidecar/index.js';

/**
 * Deliberately broken sidecars: each swaps in one faulty component through the sidecar's
 * component overrides. The harness must catch every one of them.
 */

/** Wraps `real` so that the listed methods are replaced; everything else is the real thing. */
function patch<T extends object>(real: T, replacements: Partial<Record<keyof T, unknown>>): T {
  return new Proxy(real, {
    get(target, property, receiver) {
      if (Object.prototype.hasOwnProperty.call(replacements, property)) return replacements[property as keyof T];
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** I4 broken: ownership is not checked; a foreign block is freed or read on its owner's behalf. */
export const ownershipCheckSkipped: ComponentOverrides = {
  ledger: (real: BlockLedger) =>
    patch(real, {
      // Policy facts see every block as clean, so policy finds nothing foreign...
      blockState: (id: number) => {
        const state = real.blockState(id);
        return state ? { id: state.id, pool: state.pool, state: 'clean' } : state;
      },
      // ...and the ledger acts as the owner instead of refusing.
      free: (tenant: string, ids: readonly number[], options?: { cache?: boolean }) => {
        const owner = ownerOf(real, ids[0]!) ?? tenant;
        return real.free(owner, ids, options);
      },
      access: (tenant: string, ids: readonly number[], mode: 'read' | 'prefix_hit') => {
        const owner = ownerOf(real, ids[0]!) ?? tenant;
        return real.access(owner, ids, mode);
      },
    }),
};

function ownerOf(ledger: BlockLedger, id: number): string | undefined {
  const state = ledger.blockState(id);
  return state && (state.state === 'owned' || state.state === 'cached') ? state.tenant : undefined;
}

/** I2 broken: blocks with another tenant's data are handed out as if zeroed. */
export const scrubSkipped: ComponentOverrides = {
  ledger: (real: BlockLedger) =>
    patch(real, {
      allocate: (tenant: string, count: number) => {
        const result = real.allocate(tenant, count);
        if (!result.ok) return result;
        const dirty = result.blocks.filter((b) => b.scrub).map((b) => b.id);
        if (dirty.length === 0) return result;
        const scrubbed = real.confirmScrub(dirty.map((id) => ({ id, epoch: real.epochOf(id) ?? 0 }))); // pretend the zeroing happened
        return { ...result, opId: scrubbed.ok ? scrubbed.opId : result.opId, blocks: result.blocks.map((b) => ({ ...b, scrub: false })) };
      },
    }),
};

/** A1 broken: the adapter's owner is ignored. */
export const adapterOwnerIgnored: ComponentOverrides = {
  adapters: (real: AdapterRegistry) =>
    patch(real, {
      factsFor: (tenant: string, adapterId: string, sha256: string) => ({ ...real.factsFor(tenant, adapterId, sha256), owner_is_tenant: true }),
      refusalFor: (tenant: string, adapterId: string, sha256: string) => {
        const refusal = real.refusalFor(tenant, adapterId, sha256);
        return refusal === 'adapter_not_permitted' ? null : refusal;
      },
    }),
};

/** M1 broken: a tenant's view reports cluster-wide token totals (everyone's figures). */
export const metricsViewLeaks: ComponentOverrides = {
  metrics: (real: TenantMetrics) =>
    patch(real, {
      tenantView: async (tenant: string) => {
        const own = await real.tenantView(tenant);
        const all = await real.aggregateView(['free-demo', 'standard-demo', 'enterprise-demo']);
        return { ...own, tokens: all.totals.tokens };
      },
    }),
};

/** L1 broken: the offload path writes a sample of the KV bytes (content) into the audit log. */
export function contentWrittenToAudit(): ComponentOverrides {
  let audit: AuditLog | undefined;
  return {
    audit: (real: AuditLog) => {
      audit = real;
      return real;
    },
    offload: (real: OffloadStore) =>
      patch(real, {
        put: async (tenant: string, blockKey: string, data: AsyncIterable<Uint8Array> | Uint8Array, options?: { maxBytes?: number }) => {
          const chunks: Buffer[] = [];
          if (data instanceof Uint8Array) chunks.push(Buffer.from(data));
          else for await (const chunk of data) chunks.push(Buffer.from(chunk));
          const bytes = Buffer.concat(chunks);
          const result = await real.put(tenant, blockKey, bytes, options);
          await audit!.append({ type: 'decision', severity: 'info', principal: { role: 'system', id: 'debug' }, action: 'offload.debug', tenant, decision: 'allow', reasons: [], effects: { sample: bytes.subarray(0, 60).toString('hex') } });
          return result;
        },
      }),
  };
}

/** K1 broken: a missing block is looked up in every tenant's namespace. */
export const crossTenantOffloadRead: ComponentOverrides = {
  offload: (real: OffloadStore) =>
    patch(real, {
      get: async (tenant: string, blockKey: string) => {
        try {
          return await real.get(tenant, blockKey);
        } catch (error) {
          for (const other of ['free-demo', 'standard-demo', 'enterprise-demo']) {
            if (other === tenant) continue;
            try {
              return await real.get(other, blockKey);
            } catch {
              /* try the next namespace */
            }
          }
          throw error;
        }
      },
    }),
};
