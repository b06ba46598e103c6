import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditKey, type AuditEvent } from '../../src/audit/index.js';

/** The MAC key of every log these tests write (a sidecar's own key lives in its setup). */
export const TEST_KEY = new AuditKey(randomBytes(32));

export function freshDir(prefix = 'tg-audit-'): string {
  return join(mkdtempSync(join(tmpdir(), prefix)), 'audit');
}

/** A realistic allocation decision; `n` varies the block ids so records differ. */
export function allocation(n: number, tenant = 'acme'): AuditEvent {
  return {
    type: 'decision',
    severity: 'info',
    principal: { role: 'worker', id: 'spiffe://tg.local/worker/w1' },
    action: 'blocks.allocate',
    tenant,
    decision: 'allow',
    reasons: [],
    counts: { requested: 2, granted: 2 },
    blocks: [2 * n, 2 * n + 1],
    effects: { scrub: [2 * n], reused_same_tenant: true },
    policyRevision: 'rev-0123abcd',
  };
}
