/**
 * Durable audit appends per second with group commit: 64 concurrent writers, each appending
 * sequentially (a record is acknowledged only after its fsync), on the real filesystem.
 * Run: npm run build && node dist/bench/audit.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditKey, AuditLog, type AuditEvent } from '../src/audit/index.js';
import { randomBytes } from 'node:crypto';
import { reportLine, type BenchResult } from './report.js';

const event: AuditEvent = {
  type: 'decision',
  severity: 'info',
  principal: { role: 'worker', id: 'worker-1' },
  action: 'blocks.allocate',
  tenant: 'standard-demo',
  decision: 'allow',
  reasons: [],
  counts: { requested: 16, granted: 16 },
  blocks: Array.from({ length: 16 }, (_, i) => 1000 + i),
  effects: { request_id: 'bench-request', scrub: [], evicted: [], reclaimed: [] },
  policyRevision: '0123456789abcdef',
};

export async function runAuditBench(writers = 64, seconds = 3): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tg-audit-bench-'));
  const log = await AuditLog.open({ dir, key: new AuditKey(randomBytes(32)) });
  const deadline = Date.now() + seconds * 1000;
  let appended = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (Date.now() < deadline) {
        await log.append(event);
        appended++;
      }
    }),
  );
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  const stats = log.stats;
  await log.close();
  rmSync(dir, { recursive: true, force: true });
  return [
    {
      name: `audit durable appends, ${writers} writers`,
      unit: 'records/s',
      value: appended / elapsed,
      extra: { records: appended, fsyncs: stats.fsyncs, recordsPerFsync: Number((appended / stats.fsyncs).toFixed(1)) },
    },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const result of await runAuditBench()) console.log(reportLine(result));
}
