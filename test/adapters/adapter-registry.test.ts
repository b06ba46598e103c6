import { describe, expect, test } from 'vitest';
import { AdapterRegistry, resolveAdapterRef, type Adapter } from '../../src/adapters/index.js';

const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);
const adapter = (owner: string, adapterId: string, sha256 = SHA_A, isPublic = false): Adapter => ({ owner, adapterId, sha256, rank: 8, public: isPublic });

describe('AdapterRegistry: one namespace per tenant and a cap per tenant (issue 20.5)', () => {
  test('a bare name resolves in the request\'s own tenant, <owner>/<id> in the owner\'s', () => {
    expect(resolveAdapterRef('alice', 'x')).toEqual({ owner: 'alice', adapterId: 'x' });
    expect(resolveAdapterRef('alice', 'bob/x')).toEqual({ owner: 'bob', adapterId: 'x' });
  });

  test('two tenants hold the same id as different adapters; registering one never depends on the other', () => {
    const registry = new AdapterRegistry((_owner, name) => name);
    expect(registry.register(adapter('alice', 'x', SHA_A), 4)).toEqual({ ok: true, previous: undefined });
    expect(registry.register(adapter('bob', 'x', SHA_B), 4)).toEqual({ ok: true, previous: undefined });
    expect(registry.refusalFor('alice', 'x', SHA_A)).toBeNull();
    expect(registry.refusalFor('bob', 'x', SHA_B)).toBeNull();
    expect(registry.refusalFor('bob', 'x', SHA_A)).toBe('digest_mismatch');
    expect(registry.qualifiedIdFor('bob', 'x')).toBe('bob/x');
  });

  test('another tenant\'s namespace refuses a private adapter, a missing one and an unknown owner alike (adapter_not_permitted); a bare name stays in the caller\'s namespace', () => {
    const registry = new AdapterRegistry((_owner, name) => name);
    registry.register(adapter('alice', 'private'), 4);
    registry.register(adapter('alice', 'shared', SHA_A, true), 4);
    expect(registry.refusalFor('bob', 'alice/private', SHA_A)).toBe('adapter_not_permitted');
    expect(registry.refusalFor('bob', 'alice/missing', SHA_A)).toBe('adapter_not_permitted');
    expect(registry.refusalFor('bob', 'nobody/missing', SHA_A)).toBe('adapter_not_permitted');
    expect(registry.refusalFor('bob', 'private', SHA_A)).toBe('adapter_unknown');
    expect(registry.refusalFor('bob', 'alice/shared', SHA_A)).toBeNull();
    expect(registry.refusalFor('bob', 'alice/shared', SHA_B)).toBe('digest_mismatch');
    expect(registry.refusalFor('alice', 'alice/private', SHA_A)).toBeNull();
    expect(registry.factsFor('bob', 'alice/private', SHA_A).owner_is_tenant).toBe(false);
  });

  test('a new id past the cap is refused, public or not; replacing an id the tenant holds takes no new slot; other tenants are unaffected', () => {
    const registry = new AdapterRegistry((_owner, name) => name);
    expect(registry.register(adapter('alice', 'one'), 2).ok).toBe(true);
    expect(registry.register(adapter('alice', 'two', SHA_A, true), 2).ok).toBe(true);
    expect(registry.register(adapter('alice', 'three'), 2)).toEqual({ ok: false, reason: 'adapter_limit' });
    expect(registry.register(adapter('alice', 'three', SHA_A, true), 2)).toEqual({ ok: false, reason: 'adapter_limit' });
    const replaced = registry.register(adapter('alice', 'one', SHA_B), 2);
    expect(replaced).toEqual({ ok: true, previous: adapter('alice', 'one') });
    expect(registry.register(adapter('bob', 'three'), 2).ok).toBe(true);
    expect(registry.countOwnedBy('alice')).toBe(2);
  });

  test('restore undoes a registration; removeOwner and restoreOwner drop and put back one tenant\'s adapters only', () => {
    const registry = new AdapterRegistry((_owner, name) => name);
    registry.register(adapter('alice', 'x'), 4);
    registry.register(adapter('bob', 'x'), 4);
    const result = registry.register(adapter('alice', 'y'), 4);
    expect(result.ok).toBe(true);
    if (result.ok) registry.restore('alice', 'y', result.previous);
    expect(registry.ownedBy('alice').map((a) => a.adapterId)).toEqual(['x']);
    const saved = registry.ownedBy('alice');
    expect(registry.removeOwner('alice')).toBe(1);
    expect(registry.refusalFor('alice', 'x', SHA_A)).toBe('adapter_unknown');
    expect(registry.refusalFor('bob', 'x', SHA_A)).toBeNull();
    registry.restoreOwner('alice', saved);
    expect(registry.refusalFor('alice', 'x', SHA_A)).toBeNull();
  });
});
