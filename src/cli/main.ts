import { Command, CommanderError } from 'commander';
import { registerAuditCommands } from './audit-command.js';
import { registerConformanceCommand } from './conformance-command.js';
import { registerInitCommand } from './init-command.js';
import { registerOperatorCommands } from './operator-commands.js';
import { registerPkiCommands } from './pki-command.js';
import { registerPolicyCommands } from './policy-commands.js';
import { registerServeCommand } from './serve-command.js';
import { ExitCode } from './run-command.js';

const program = new Command('tenantguard')
  .description('Tenant-isolation sidecar for shared GPU inference clusters, decided by Rego compiled to WebAssembly.')
  .version('0.1.0')
  // Usage errors are thrown, not exited with commander's 1 (docs/cli.md: 1 means "verification or
  // the sidecar refused"); the catch below gives them 2. Inherited by every command added after it.
  .exitOverride();

registerServeCommand(program);
registerInitCommand(program);
registerPkiCommands(program);
registerPolicyCommands(program);
registerAuditCommands(program);
registerOperatorCommands(program);
registerConformanceCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (!(error instanceof CommanderError)) throw error;
  // Commander has printed the problem. 0 for --help/--version; a command may set its own code.
  process.exitCode = error.exitCode === 1 ? ExitCode.invalidInput : error.exitCode;
}
