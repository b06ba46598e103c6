/**
 * The physical floor under durable audit: latency of one durable append (a ~700-byte record
 * written to an O_DSYNC file, as the audit log does) on the filesystem that holds the bench's audit
 * logs (the OS temp directory). A tenantguard cycle makes three calls one after another, each
 * answered only after its record is durable, so no cycle can beat three of these.
 * Run: npm run build && node dist/bench/disk.js
 */
import { constants, mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Samples, type LatencySummary } from './loadgen.js';

export async function measureDurableAppend(ms = 2000): Promise<LatencySummary & { directory: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tg-bench-disk-'));
  const handle = await open(join(dir, 'probe.jsonl'), constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | (constants.O_DSYNC ?? 0));
  const record = Buffer.alloc(700, 0x61);
  const samples = new Samples();
  try {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      const start = performance.now();
      await handle.write(record);
      if (constants.O_DSYNC === undefined) await handle.datasync();
      samples.add(performance.now() - start);
    }
  } finally {
    await handle.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return { ...samples.summary(), directory: tmpdir() };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const s = await measureDurableAppend();
  console.log(`durable append (O_DSYNC) in ${s.directory}: ${s.count} samples, p50 ${s.p50.toFixed(3)} ms, p99 ${s.p99.toFixed(3)} ms, p99.9 ${s.p999.toFixed(3)} ms, max ${s.max.toFixed(2)} ms`);
}
