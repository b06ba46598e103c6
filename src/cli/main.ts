import { Command } from 'commander';
import { registerAuditCommands } from './audit-command.js';
import { registerConformanceCommand } from './conformance-command.js';
import { registerInitCommand } from './init-command.js';
import { registerOperatorCommands } from './operator-commands.js';
import { registerPkiCommands } from './pki-command.js';
import { registerPolicyCommands } from './policy-commands.js';
import { registerServeCommand } from './serve-command.js';

const program = new Command('tenantguard')
  .description('Tenant-isolation sidecar for shared GPU inference clusters, decided by Rego compiled to WebAssembly.')
  .version('0.1.0');

registerServeCommand(program);
registerInitCommand(program);
registerPkiCommands(program);
registerPolicyCommands(program);
registerAuditCommands(program);
registerOperatorCommands(program);
registerConformanceCommand(program);

await program.parseAsync(process.argv);
