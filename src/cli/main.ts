import { CommanderError } from 'commander';
import { buildProgram } from './program.js';
import { ExitCode } from './run-command.js';

const program = buildProgram();

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (!(error instanceof CommanderError)) throw error;
  // Commander has printed the problem. 0 for --help/--version; a command may set its own code.
  process.exitCode = error.exitCode === 1 ? ExitCode.invalidInput : error.exitCode;
}
