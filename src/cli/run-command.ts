import { isTgError } from '../errors.js';

/** Exit codes shared by all commands (docs/cli.md). */
export const ExitCode = { ok: 0, failure: 1, invalidInput: 2, internal: 70 } as const;

/**
 * Runs a command body and turns failures into one line on stderr and a non-zero exit code:
 * catalogue errors keep their message, anything else is reported without a stack trace.
 */
export async function runCommand(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    if (isTgError(error)) {
      process.stderr.write(`tenantguard: ${error.message} [${error.code}]\n`);
      process.exitCode = ExitCode.invalidInput;
    } else {
      process.stderr.write(`tenantguard: unexpected failure (${error instanceof Error ? error.name : typeof error}): ${error instanceof Error ? error.message : ''}\n`);
      process.exitCode = ExitCode.internal;
    }
  }
}
