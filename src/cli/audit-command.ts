import type { Command } from 'commander';
import { loadAuditKey, runAuditVerify } from '../audit/index.js';
import { loadConfig } from '../config/index.js';
import { runCommand } from './run-command.js';
import { DEFAULT_SETUP_DIR } from './serve-command.js';

export function registerAuditCommands(program: Command): void {
  program
    .command('audit')
    .description('work with the hash-chained audit log')
    .command('verify')
    .description(
      'check the keyed hash chain and its anchor; reports the first bad sequence number of an edited, deleted, reordered or truncated record (exit 1)',
    )
    .argument('[files...]', 'audit directory or segment files (default: the audit directory of the config)')
    .option('-c, --config <file>', 'config file (env: TENANTGUARD_CONFIG)')
    .option('-k, --key <file>', 'audit MAC key file the log was written with (default: paths.audit_key of the config)')
    .option('--anchor <file>', 'anchor file to check (default: audit.anchor of the directory, or beside the last segment file given)')
    .option('--no-anchor', 'check segment files without any anchor (archived segments): records cut from the end are then not detected')
    .option('--allow-empty', 'a log without any record is OK (a sidecar not started yet); by default it fails', false)
    .action((files: string[], opts: { config?: string; key?: string; anchor?: string | boolean; allowEmpty: boolean }) =>
      runCommand(async () => {
        const needsConfig = files.length === 0 || opts.key === undefined;
        const config = needsConfig ? loadConfig(opts.config ?? process.env['TENANTGUARD_CONFIG'] ?? `${DEFAULT_SETUP_DIR}/config.yaml`) : undefined;
        const key = await loadAuditKey(opts.key ?? config?.paths.auditKey ?? '');
        // commander gives `true` when neither --anchor FILE nor --no-anchor was passed: the default anchor.
        const anchor = typeof opts.anchor === 'string' || opts.anchor === false ? { anchor: opts.anchor } : {};
        const { exitCode, output } = await runAuditVerify(files, config?.paths.audit ?? '', key, { ...anchor, allowEmpty: opts.allowEmpty });
        process.stdout.write(output.endsWith('\n') ? output : `${output}\n`);
        process.exitCode = exitCode;
      }),
    );
}
