import type { Command } from 'commander';
import { PolicyEngine, REQUIRED_ENTRYPOINTS } from '../policy/index.js';

import { DEFAULT_POLICY_BUNDLE } from '../config/index.js';

export function registerPolicyCommands(program: Command): void {
  program
    .command('policy')
    .description('inspect a compiled policy bundle')
    .command('info')
    .description('load a bundle (default: the one `npm run policy:build` made) and print its revision and entrypoints')
    .argument('[bundle]', 'path to an `opa build -t wasm` bundle', DEFAULT_POLICY_BUNDLE)
    .action(async (bundle: string) => {
      const engine = new PolicyEngine({ bundlePath: bundle, requiredEntrypoints: REQUIRED_ENTRYPOINTS });
      const result = await engine.reload();
      if (!result.ok) {
        console.error(`tenantguard: policy bundle refused: ${result.error}`);
        process.exitCode = 2;
        return;
      }
      console.log(JSON.stringify(result.info, null, 2));
    });
}
