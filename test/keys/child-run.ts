import { type ChildProcess, spawn } from 'node:child_process';

/** A keys child process (rotate-child.mjs, erase-child.mjs) the crash tests SIGKILL mid-work. */
export interface ChildRun {
  readonly child: ChildProcess;
  /** Lines the child printed so far: what it acknowledged before it was killed. */
  readonly lines: string[];
  /** The signal that ended it; rejects if it exited non-zero on its own. */
  readonly exited: Promise<NodeJS.Signals | null>;
}

export function startChild(script: string, args: string[], what: string): ChildRun {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => {
    const parts = (partial + text).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  });
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<NodeJS.Signals | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal === null && code !== 0) reject(new Error(`${what} child exited ${code}: ${stderr}`));
      else resolve(signal);
    });
  });
  return { child, lines, exited };
}

/** Polls until `condition` holds; fails if the child stops making progress or exits. */
export async function waitFor(condition: () => boolean, run: ChildRun, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} child made no progress: ${run.lines.slice(-3).join(' | ')}`);
    if (run.child.exitCode !== null) throw new Error(`${what} child exited early`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
