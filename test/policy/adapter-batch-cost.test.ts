import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { Entrypoints, PolicyEngine, REQUIRED_ENTRYPOINTS } from '../../src/policy/index.js';
import { PROJECT_BUNDLE } from '../support/opa.js';

/** The largest batch `POST /v1/adapters/apply` accepts (src/http/routes/adapters.ts). */
const MAX_APPLY_BATCH = 1024;

const apply = (n: number) => ({
  principal: { role: 'worker', id: 'w1', authn: 'mtls' },
  action: 'adapters.apply',
  resource: {
    items: Array.from({ length: n }, (_, index) => ({
      index,
      tenant: 'bob',
      adapter_id: `unknown-${index}`,
      facts: index % 3 === 0 ? { registered: true, owner_is_tenant: false, public: false, digest_matches: false } : { registered: false, owner_is_tenant: true, public: false, digest_matches: false },
    })),
  },
});

describe('adapters.apply batch cost (issue 20.1: one worker call stalled every tenant)', () => {
  test('a maximal batch is decided item by item without the WASM memory growing past a few MiB', async () => {
    const bundlePath = join(mkdtempSync(join(tmpdir(), 'tg-adapters-')), 'bundle.tar.gz');
    copyFileSync(PROJECT_BUNDLE, bundlePath);
    const engine = new PolicyEngine({ bundlePath, requiredEntrypoints: REQUIRED_ENTRYPOINTS, externalData: { tenants: { bob: { tier: 'free' } } } });
    expect((await engine.reload()).ok).toBe(true);
    const decision = engine.decide(Entrypoints.adapters, apply(MAX_APPLY_BATCH));
    const items = decision.details?.['items'] as Array<{ index: number; allow: boolean; reasons: string[] }>;
    expect(items).toHaveLength(MAX_APPLY_BATCH);
    // Another tenant's private adapter: refused without a digest verdict (issue 20.5: no oracle).
    expect(items[0]).toEqual({ index: 0, allow: false, reasons: ['adapter_not_permitted'] });
    expect(items[1]).toEqual({ index: 1, allow: false, reasons: ['adapter_unknown'] });
    // Quadratic rules made this batch take ~4 s of CPU and grow WASM memory to ~460 MiB, which is
    // never returned. Memory is the deterministic witness of the work (time is for bench/).
    expect(engine.wasmMemoryBytes).toBeLessThan(32 * 2 ** 20);
  });
});
