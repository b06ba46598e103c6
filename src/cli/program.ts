import { Command } from 'commander';
import { registerAuditCommands } from './audit-command.js';
import { registerConformanceCommand } from './conformance-command.js';
import { registerInitCommand } from './init-command.js';
import { registerOperatorCommands } from './operator-commands.js';
import { registerPkiCommands } from './pki-command.js';
import { registerPolicyCommands } from './policy-commands.js';
import { registerServeCommand } from './serve-command.js';
import { PACKAGE_VERSION } from '../project-root.js';

/**
 * The whole command tree, built without parsing anything, so a test can walk every command and
 * subcommand and check docs/cli.md's exit codes for each (issue 17, acceptance).
 */
export function buildProgram(): Command {
  const program = new Command('tenantguard')
    .description('Tenant-isolation sidecar for shared GPU inference clusters, decided by Rego compiled to WebAssembly.')
    .version(PACKAGE_VERSION)
    // Usage errors are thrown, not exited with commander's 1 (docs/cli.md: 1 means "verification or
    // the sidecar refused"); main.ts gives them 2. Inherited by every command added after it.
    .exitOverride();

  registerServeCommand(program);
  registerInitCommand(program);
  registerPkiCommands(program);
  registerPolicyCommands(program);
  registerAuditCommands(program);
  registerOperatorCommands(program);
  registerConformanceCommand(program);
  return program;
}
