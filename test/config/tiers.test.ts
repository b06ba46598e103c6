import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { TIERS } from '../../src/config/tiers.js';
import { PROJECT_ROOT } from '../../src/project-root.js';

describe('the tier table has one meaning (issue 13)', () => {
  test('policies/data.json carries exactly the tiers of src/config/tiers.ts (maxAdapters is enforced in code only)', () => {
    const data = JSON.parse(readFileSync(join(PROJECT_ROOT, 'policies', 'data.json'), 'utf8')) as { tiers: unknown };
    const expected = Object.fromEntries(
      Object.entries(TIERS).map(([name, t]) => [
        name,
        {
          concurrent: t.concurrent,
          tokens_per_minute: t.tokensPerMinute,
          kv_quota_bytes: t.kvQuotaBytes,
          dedicated_pool: t.dedicatedPool,
          encrypted_kv: t.encryptedKv,
          mtls_required: t.mtlsRequired,
          priority: t.priority,
        },
      ]),
    );
    expect(data.tiers).toEqual(expected);
  });
});
