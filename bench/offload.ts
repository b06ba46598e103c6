/**
 * Offload seal/open throughput beside raw AES-256-GCM of the same sizes, in the same run
 * (target: sealed ≥ 80% of raw). In memory: this measures the crypto path, not the disk.
 * Run: npm run build && node dist/bench/offload.js
 */
import { measureSealThroughput } from './seal-throughput.js';
import { reportLine, type BenchResult } from './report.js';

export async function runOffloadBench(): Promise<BenchResult[]> {
  const rows = await measureSealThroughput({ millisPerSize: 1500 });
  return rows.flatMap((r) => {
    const size = r.bytes >= 1024 * 1024 ? `${r.bytes / 1024 / 1024} MiB` : `${r.bytes / 1024} KiB`;
    return [
      { name: `offload seal ${size}`, unit: 'GB/s', value: r.sealGBps, extra: { rawGBps: Number(r.rawSealGBps.toFixed(2)), ratio: Number(r.sealRatio.toFixed(3)) } },
      { name: `offload open ${size}`, unit: 'GB/s', value: r.openGBps, extra: { rawGBps: Number(r.rawOpenGBps.toFixed(2)), ratio: Number(r.openRatio.toFixed(3)) } },
    ];
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const result of await runOffloadBench()) console.log(reportLine(result));
}
