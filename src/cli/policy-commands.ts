import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { DEFAULT_POLICY_BUNDLE, loadConfig, TenantRegistry } from '../config/index.js';
import { PolicyEngine, policyInfoView, REQUIRED_ENTRYPOINTS } from '../policy/index.js';
import { registryData } from '../sidecar/index.js';
import { runCommand } from './run-command.js';
import { DEFAULT_SETUP_DIR } from './serve-command.js';

export function registerPolicyCommands(program: Command): void {
  const policy = program.command('policy').description('inspect a compiled policy bundle and the data it is evaluated with');
  policy
    .command('info')
    .description('load a bundle (default: the one `npm run policy:build` made) and print what `GET /v1/policy` reports for it')
    .argument('[bundle]', 'path to a bundle built by `npm run policy:build`', DEFAULT_POLICY_BUNDLE)
    .action(async (bundle: string) => {
      const engine = new PolicyEngine({ bundlePath: bundle, requiredEntrypoints: REQUIRED_ENTRYPOINTS });
      const result = await engine.reload();
      if (!result.ok) {
        console.error(`tenantguard: policy bundle refused: ${result.error}`);
        process.exitCode = 2;
        return;
      }
      // Issue 17.9a: the same function and shape as GET /v1/policy.
      console.log(JSON.stringify(policyInfoView(result.info), null, 2));
    });
  // Issue 17.10: the data the sidecar evaluates the bundle with (data.tenants, data.limits), as
  // one JSON document, so stock OPA can be given the bundle plus this and decide what the sidecar
  // decides (docs/policy.md). Built by the same function the sidecar uses (registry-data.ts).
  policy
    .command('data')
    .description('print the tenant registry as the policy data document the sidecar evaluates with ({tenants, limits})')
    .option('-c, --config <file>', 'config file (env: TENANTGUARD_CONFIG)')
    .option('-o, --output <file>', 'write the document to this file instead of stdout')
    .action((opts: { config?: string; output?: string }) =>
      runCommand(async () => {
        const config = loadConfig(opts.config ?? process.env['TENANTGUARD_CONFIG'] ?? `${DEFAULT_SETUP_DIR}/config.yaml`);
        const document = `${JSON.stringify(registryData(config, new TenantRegistry(config.tenants)), null, 2)}\n`;
        if (opts.output) writeFileSync(opts.output, document, { mode: 0o644 });
        else process.stdout.write(document);
      }),
    );
}
