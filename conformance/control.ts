import type { ControlDefinition, Finding } from './model.js';
import type { ConformanceTarget } from './target.js';

export interface ControlContext {
  readonly target: ConformanceTarget;
  /** fast-check seed for hunts (printed with every finding). */
  readonly seed: number;
  /** fast-check runs per hunt. */
  readonly runs: number;
  /** A replay path from an earlier finding (`--replay`), with `seed`. */
  readonly replayPath?: string;
  /** True when the target was spawned fresh: every block starts clean. */
  readonly freshTarget: boolean;
}

export interface ControlOutcome {
  /** Facts checked, readable by an auditor. */
  readonly evidence: string[];
  readonly finding?: Finding;
  /** Set when the control cannot run against this target (e.g. no access to the audit log). */
  readonly skipped?: string;
}

export interface Control {
  readonly definition: ControlDefinition;
  run(ctx: ControlContext): Promise<ControlOutcome>;
}

/** Collects evidence lines; `expect` records a fact and returns whether it held. */
export class Evidence {
  readonly lines: string[] = [];
  private failure: string | undefined;

  expect(fact: string, held: boolean): boolean {
    this.lines.push(`${held ? 'ok' : 'FAILED'}: ${fact}`);
    if (!held && this.failure === undefined) this.failure = fact;
    return held;
  }

  note(line: string): void {
    this.lines.push(line);
  }

  outcome(): ControlOutcome {
    return this.failure === undefined ? { evidence: this.lines } : { evidence: this.lines, finding: { message: this.failure } };
  }
}

export function errorCode(body: unknown): string {
  return (body as { error?: { code?: string } } | null)?.error?.code ?? '';
}
