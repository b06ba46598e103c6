import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config/index.js';
import { initDirectory } from '../setup/index.js';
import { startSidecar } from '../sidecar/index.js';
import { printInitResult } from './init-command.js';
import { runCommand } from './run-command.js';

export const DEFAULT_SETUP_DIR = '.tenantguard';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description(
      'start the sidecar (HTTPS, TLS 1.3, mTLS). Without --config it uses $TENANTGUARD_CONFIG, else ' +
        `${DEFAULT_SETUP_DIR}/config.yaml, creating that dev setup with \`init\` on first run`,
    )
    .option('-c, --config <file>', 'config file (env: TENANTGUARD_CONFIG)')
    .action((opts: { config?: string }) =>
      runCommand(async () => {
        const configFile = opts.config ?? process.env['TENANTGUARD_CONFIG'] ?? resolve(DEFAULT_SETUP_DIR, 'config.yaml');
        if (!opts.config && !process.env['TENANTGUARD_CONFIG'] && !existsSync(configFile)) {
          printInitResult(await initDirectory(DEFAULT_SETUP_DIR));
        }
        const sidecar = await startSidecar(loadConfig(configFile));
        const stop = (signal: string): void => {
          sidecar.services.logger.info({ signal }, 'draining in-flight requests, then exiting');
          void sidecar.close().then(() => process.exit(0));
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
        process.on('SIGHUP', () => void sidecar.services.policy.reload());
      }),
    );
}
