import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config/index.js';
import { initDirectory } from '../setup/index.js';
import { SIDECAR_ACTOR } from '../enforcement/index.js';
import { startSidecar, type RunningSidecar } from '../sidecar/index.js';
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
        // Installed before the sidecar starts: Node's default for SIGHUP is to exit, so a SIGHUP that
        // arrived between "listening" and a later handler would have killed the sidecar. One that
        // arrives during the start reloads once the sidecar is up.
        let started: RunningSidecar | null = null;
        let reloadWhenStarted = false;
        const reloadPolicy = (): void => {
          // Issue 17.6a: a SIGHUP reload is logged and audited like one over the API.
          if (started) started.services.policyReloads.reload('sighup', SIDECAR_ACTOR).catch(() => undefined); // refused while the audit log is down: logged there
          else reloadWhenStarted = true;
        };
        process.on('SIGHUP', reloadPolicy);
        const sidecar = await startSidecar(loadConfig(configFile));
        started = sidecar;
        if (reloadWhenStarted) reloadPolicy();
        const stop = (signal: string): void => {
          sidecar.services.logger.info({ signal }, 'draining in-flight requests, then exiting');
          void sidecar.close().then(() => process.exit(0));
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      }),
    );
}
