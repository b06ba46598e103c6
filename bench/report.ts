import { cpus } from 'node:os';

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

export function machineNote(): Record<string, string | number> {
  return { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', date: new Date().toISOString() };
}
