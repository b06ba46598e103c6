import { EXIT_USAGE } from './exit-codes.js';

/**
 * An input the user gave the harness is wrong (waiver file, baseline file). The CLI prints the
 * message and exits with `exitCode` (3, usage error); `problems` lists each problem on its own.
 */
export class ReportInputError extends Error {
  readonly exitCode = EXIT_USAGE;
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
    what: string,
  ) {
    super(`invalid ${what} ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ReportInputError';
  }
}
