import type { Command } from 'commander';
import { runAuditVerify } from '../audit/index.js';
import { loadConfig } from '../config/index.js';
import { runCommand } from './run-command.js';
import { DEFAULT_SETUP_DIR } from './serve-command.js';

export function registerAuditCommands(program: Command): void {
  program
    .command('audit')
    .description('work with the hash-chained audit log')
    .command('verify')
    .description('check the hash chain; reports the first bad sequence number of an edited, deleted, reordered or truncated record (exit 1)')
    .argument('[files...]', 'audit directory or segment files (default: the audit directory of the config)')
    .option('-c, --config <file>', 'config file (env: TENANTGUARD_CONFIG)')
    .action((files: string[], opts: { config?: string }) =>
      runCommand(async () => {
        const defaultDir =
          files.length > 0 ? '' : loadConfig(opts.config ?? process.env['TENANTGUARD_CONFIG'] ?? `${DEFAULT_SETUP_DIR}/config.yaml`).paths.audit;
        const { exitCode, output } = await runAuditVerify(files, defaultDir);
        process.stdout.write(output.endsWith('\n') ? output : `${output}\n`);
        process.exitCode = exitCode;
      }),
    );
}
