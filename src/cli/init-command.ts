import { InvalidArgumentError, type Command } from 'commander';
import { TRUST_DOMAIN_PATTERN } from '../ids.js';
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

// Checked here, as the config will check them, so `init` never writes a setup `serve` refuses (issue 17.1).
function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('a port is an integer from 0 to 65535.');
  return n;
}

function trustDomain(value: string): string {
  if (!TRUST_DOMAIN_PATTERN.test(value)) throw new InvalidArgumentError('a trust domain is lowercase letters, digits, dots, dashes and underscores, e.g. example.org.');
  return value;
}

export function registerInitCommand(program: Command): void {
  program
    .command('init')
    .description('create a complete dev setup: CA, server/operator/worker/tenant certificates, API keys, config, master key')
    .argument('<dir>', 'directory to create (e.g. .tenantguard)')
    .option('--trust-domain <name>', 'SPIFFE trust domain (lowercase letters, digits, dots, dashes, underscores)', trustDomain, 'tenantguard.local')
    .option('--port <port>', 'TCP port written into the config (0-65535)', port, 8443)
    .option('--force', 'replace an existing setup (new CA: every issued certificate stops working)', false)
    .action((dir: string, opts: { trustDomain: string; port: number; force: boolean }) =>
      runCommand(async () => printInitResult(await initDirectory(dir, opts))),
    );
}
