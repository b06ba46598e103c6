import { Command } from 'commander';
import { registerPolicyCommands } from './policy-commands.js';

const program = new Command('tenantguard')
  .description('Tenant-isolation sidecar for shared GPU inference clusters, decided by Rego compiled to WebAssembly.')
  .version('0.1.0');

registerPolicyCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // Commander reports its own usage errors; anything else is a bug, reported without a stack.
  console.error(`tenantguard: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
