import { describe, expect, test } from 'vitest';
import { ApiKeyRegistry, generateApiKey, sha256Hex } from '../../src/identity/index.js';

describe('API keys', () => {
  test('a generated key has 256 bits of entropy and only its SHA-256 is needed to verify it', () => {
    const { key, sha256 } = generateApiKey();
    expect(key).toMatch(/^tg_[A-Za-z0-9_-]{43}$/);
    expect(sha256).toBe(sha256Hex(key));
    const registry = new ApiKeyRegistry([{ tenant: 'bob', sha256 }]);
    expect(registry.authenticate(`Bearer ${key}`)).toEqual({ role: 'tenant', id: 'bob', authn: 'api_key' });
  });

  test('a wrong, malformed or non-bearer key is refused; an absent header is "no key"', () => {
    const { sha256 } = generateApiKey();
    const registry = new ApiKeyRegistry([{ tenant: 'bob', sha256 }]);
    expect(() => registry.authenticate(`Bearer ${generateApiKey().key}`)).toThrow(/not recognised/);
    expect(() => registry.authenticate('Basic Ym9iOnB3')).toThrow(/not recognised/);
    expect(() => registry.authenticate('Bearer has spaces')).toThrow(/not recognised/);
    expect(registry.authenticate(undefined)).toBeNull();
  });
});
