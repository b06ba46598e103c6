/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time per function and per package or
 * source area, so a bench run can say what bounds the sidecar without opening DevTools.
 * Run: node dist/bench/profile-summary.js <file.cpuprofile> [top]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileRow {
  readonly name: string;
  readonly percent: number;
}

export interface ProfileSummary {
  readonly totalMs: number;
  /** share of samples not idle (program + GC + functions) */
  readonly busyPercent: number;
  readonly topFunctions: readonly ProfileRow[];
  readonly byArea: readonly ProfileRow[];
}

/** Buckets a frame by where its code lives: a package, a src/ area, node internals, GC, idle. */
function areaOf(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (functionName === '(idle)') return '(idle)';
  if (functionName === '(garbage collector)') return '(garbage collector)';
  if (functionName === '(program)') return '(program: native, not attributed)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return `npm:${pkg[1]}`;
  const src = /\/dist\/src\/([^/]+)\//.exec(url);
  if (src) return `tenantguard src/${src[1]}`;
  if (url.startsWith('node:')) {
    const m = /^node:(?:internal\/)?([^/]+)/.exec(url);
    return `node:${m?.[1] ?? url}`;
  }
  if (url === '') return `(native) ${functionName || '(anonymous)'}`;
  return url;
}

/**
 * `window`: only samples taken between `fromEndMs` and `toEndMs` milliseconds before the profile
 * ended (e.g. the measured part of a run, without start-up and shutdown).
 */
export function summariseProfile(file: string, top = 25, window?: { fromEndMs: number; toEndMs: number }): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfMicros = new Map<number, number>();
  let at = profile.startTime;
  const from = window ? profile.endTime - window.fromEndMs * 1000 : -Infinity;
  const to = window ? profile.endTime - window.toEndMs * 1000 : Infinity;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (at < from || at > to) continue;
    const id = profile.samples[i]!;
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const total = [...selfMicros.values()].reduce((a, b) => a + b, 0);
  const fn = new Map<string, number>();
  const area = new Map<string, number>();
  let idle = 0;
  for (const [id, micros] of selfMicros) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(idle)') idle += micros;
    const short = frame.url.replace(/^.*\/(node_modules\/|dist\/)/, '$1');
    const key = `${frame.functionName || '(anonymous)'} ${short ? `${short}:${frame.lineNumber + 1}` : ''}`.trim();
    fn.set(key, (fn.get(key) ?? 0) + micros);
    const a = areaOf(frame);
    area.set(a, (area.get(a) ?? 0) + micros);
  }
  const rows = (m: Map<string, number>, n: number): ProfileRow[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, micros]) => ({ name, percent: Number(((100 * micros) / total).toFixed(1)) }));
  return { totalMs: total / 1000, busyPercent: Number(((100 * (total - idle)) / total).toFixed(1)), topFunctions: rows(fn, top), byArea: rows(area, top) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node dist/bench/profile-summary.js <file.cpuprofile> [top]');
    process.exit(2);
  }
  const summary = summariseProfile(file, Number(process.argv[3] ?? 25));
  console.log(`profile ${file}: ${summary.totalMs.toFixed(0)} ms sampled, ${summary.busyPercent}% busy`);
  console.log('\nself time by area:');
  for (const r of summary.byArea) console.log(`${r.percent.toFixed(1).padStart(6)}%  ${r.name}`);
  console.log('\nself time by function:');
  for (const r of summary.topFunctions) console.log(`${r.percent.toFixed(1).padStart(6)}%  ${r.name}`);
}
