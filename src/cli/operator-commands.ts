import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import type { Command } from 'commander';
import { loadConfig, type SidecarConfig } from '../config/index.js';
import { Errors, TgError } from '../errors.js';
import { pkiPaths } from '../pki/index.js';
import { ExitCode, runCommand } from './run-command.js';
import { DEFAULT_SETUP_DIR } from './serve-command.js';

interface OperatorOptions {
  readonly config?: string;
  readonly url?: string;
  readonly operator: string;
  readonly json?: boolean;
}

/** The running sidecar's operator API over mTLS, with an operator certificate from the config's PKI. */
class OperatorClient {
  private readonly base: string;
  private readonly tls: { ca: Buffer; cert: Buffer; key: Buffer };

  constructor(config: SidecarConfig, options: OperatorOptions) {
    const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
    this.base = options.url ?? `https://${host}:${config.listen.port}`;
    const pki = pkiPaths(config.paths.pki);
    try {
      this.tls = { ca: readFileSync(pki.caCert), cert: readFileSync(pki.certificate('operator', options.operator)), key: readFileSync(pki.privateKey('operator', options.operator)) };
    } catch {
      throw new TgError(Errors.PKI_INVALID, { message: `no operator certificate "${options.operator}" in ${config.paths.pki}; issue one with \`tenantguard pki issue operator ${options.operator}\`` });
    }
  }

  /** The answer's JSON, or a thrown error carrying the sidecar's TG_ERR_* code. */
  call(method: string, path: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const req = request(new URL(path, this.base), { method, ...this.tls, servername: 'localhost', timeout: 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let body: unknown = null;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            /* not JSON */
          }
          if ((res.statusCode ?? 0) < 300) return resolve(body);
          const error = (body as { error?: { code?: string; message?: string } } | null)?.error;
          reject(new SidecarRefusal(error?.code ?? `HTTP ${res.statusCode}`, error?.message ?? 'request refused'));
        });
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (error: NodeJS.ErrnoException) => reject(new SidecarRefusal('UNREACHABLE', `cannot reach the sidecar at ${this.base} (${error.code ?? error.message}); is \`tenantguard serve\` running? (--url to point elsewhere)`)));
      req.end();
    });
  }
}

class SidecarRefusal extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Runs an operator call; a refusal is one line on stderr with the sidecar's code and exit 1. */
function operatorAction(body: (client: OperatorClient, options: OperatorOptions) => Promise<string>): (options: OperatorOptions) => Promise<void> {
  return (options) =>
    runCommand(async () => {
      const config = loadConfig(options.config ?? process.env['TENANTGUARD_CONFIG'] ?? `${DEFAULT_SETUP_DIR}/config.yaml`);
      try {
        process.stdout.write(`${await body(new OperatorClient(config, options), options)}\n`);
      } catch (error) {
        if (!(error instanceof SidecarRefusal)) throw error;
        process.stderr.write(`tenantguard: ${error.message} [${error.code}]\n`);
        process.exitCode = ExitCode.failure;
      }
    });
}

function withConnection(command: Command): Command {
  return command
    .option('-c, --config <file>', 'config file (env: TENANTGUARD_CONFIG)')
    .option('--url <url>', 'sidecar URL (default: https://<listen.host>:<listen.port> of the config)')
    .option('--operator <id>', 'operator certificate to use, from the config\'s PKI', 'admin');
}

interface TenantView {
  readonly id: string;
  readonly tier: string;
  readonly pool: string;
  readonly quota_blocks: number;
}

export function registerOperatorCommands(program: Command): void {
  const tenants = program.command('tenants').description('the running sidecar\'s tenants (operator API over mTLS)');
  withConnection(tenants.command('list').description('list tenants with tier, pool and block quota').option('--json', 'print the JSON answer')).action(
    operatorAction(async (client, options) => {
      const answer = (await client.call('GET', '/v1/tenants')) as { tenants: TenantView[] };
      if (options.json) return JSON.stringify(answer, null, 2);
      return ['TENANT               TIER         POOL                   QUOTA (blocks)', ...answer.tenants.map((t) => `${t.id.padEnd(20)} ${t.tier.padEnd(12)} ${t.pool.padEnd(22)} ${t.quota_blocks}`)].join('\n');
    }),
  );
  withConnection(
    tenants
      .command('erase')
      .description('crypto-shred a tenant: destroys its keys and offloaded blobs, contaminates its KV blocks, refuses its id from then on (irreversible)')
      .argument('<id>', 'tenant id')
      .requiredOption('--yes', 'confirm: this cannot be undone'),
  ).action((id: string, options: OperatorOptions) =>
    operatorAction(async (client) => {
      const answer = (await client.call('DELETE', `/v1/tenants/${encodeURIComponent(id)}`)) as { tenant: string; contaminated_blocks: number };
      return `tenant ${answer.tenant} erased; ${answer.contaminated_blocks} KV blocks will be scrubbed before reuse`;
    })(options),
  );

  const keys = program.command('keys').description('tenant keys on the running sidecar (operator API over mTLS)');
  withConnection(keys.command('rotate').description('add a key version for new data; old versions keep opening old data').argument('<tenant>', 'tenant id')).action(
    (tenant: string, options: OperatorOptions) =>
      operatorAction(async (client) => {
        const answer = (await client.call('POST', `/v1/tenants/${encodeURIComponent(tenant)}/keys/rotate`)) as { tenant: string; version: number };
        return `tenant ${answer.tenant}: key version ${answer.version} is current`;
      })(options),
  );
}
