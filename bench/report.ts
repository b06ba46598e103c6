import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';

export interface BenchResult {
  readonly name: string;
  readonly unit: string;
  readonly value: number;
  readonly extra?: Record<string, number | string>;
}

export function reportLine(result: BenchResult): string {
  const extra = result.extra ? `  ${JSON.stringify(result.extra)}` : '';
  return `${result.name.padEnd(36)} ${result.value.toFixed(2).padStart(12)} ${result.unit}${extra}`;
}

export function machineNote(extra: Record<string, string | number> = {}): Record<string, string | number> {
  return {
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    kernel: `${process.platform} ${release()}`,
    loadAverage1m: Number(loadavg()[0]!.toFixed(2)),
    date: new Date().toISOString(),
    ...extra,
  };
}

/**
 * Linux pressure stall information: the share of the last 10 s in which at least one runnable
 * task waited for a CPU (or for I/O). On a shared machine it says how much of it was ours.
 */
export function pressure(): { cpuSome10s: number | null; ioSome10s: number | null } {
  const read = (kind: string): number | null => {
    try {
      const match = /^some avg10=([\d.]+)/m.exec(readFileSync(`/proc/pressure/${kind}`, 'utf8'));
      return match ? Number(match[1]) : null;
    } catch {
      return null;
    }
  };
  return { cpuSome10s: read('cpu'), ioSome10s: read('io') };
}
