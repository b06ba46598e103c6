import type { Command } from 'commander';
import { initDirectory, type InitResult } from '../setup/index.js';
import { runCommand } from './run-command.js';

export function printInitResult(result: InitResult): void {
  const lines = [
    `tenantguard: dev setup written to ${result.dir}`,
    `  config:      ${result.configFile}`,
    `  CA:          ${result.files.ca}`,
    `  worker:      ${result.files.worker.cert}`,
    `  operator:    ${result.files.operator.cert}`,
    '',
    'Tenant API keys (shown once; only their SHA-256 is stored; enterprise tenants must use mTLS):',
    ...Object.entries(result.apiKeys).map(([tenant, key]) => `  ${tenant.padEnd(16)} ${key}`),
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

export function registerInitCommand(program: Command): void {
  program
    .command('init')
    .description('create a complete dev setup: CA, server/operator/worker/tenant certificates, API keys, config, master key')
    .argument('<dir>', 'directory to create (e.g. .tenantguard)')
    .option('--trust-domain <name>', 'SPIFFE trust domain', 'tenantguard.local')
    .option('--port <port>', 'TCP port written into the config', (v) => Number.parseInt(v, 10), 8443)
    .option('--force', 'replace an existing setup (new CA: every issued certificate stops working)', false)
    .action((dir: string, opts: { trustDomain: string; port: number; force: boolean }) =>
      runCommand(async () => printInitResult(await initDirectory(dir, opts))),
    );
}
