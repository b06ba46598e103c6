import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../src/config/index.js';
import { EXAMPLE_TENANTS, initDirectory } from '../src/setup/index.js';
import { startSidecar, type ComponentOverrides, type RunningSidecar } from '../src/sidecar/index.js';
import { describeInitDirectory, type TargetDescription } from './target.js';

export interface SpawnedTarget {
  readonly description: TargetDescription;
  readonly sidecar: RunningSidecar;
  close(): Promise<void>;
}

/**
 * `--spawn`: a fresh sidecar with a throw-away PKI and config, in this process. Small pools so
 * hunts reach block reuse, scrubs and exhaustion within a few operations. Component overrides let
 * the harness's own tests build deliberately broken sidecars.
 */
export async function spawnTarget(options: { overrides?: ComponentOverrides; dir?: string } = {}): Promise<SpawnedTarget> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'tg-conformance-'));
  const setup = await initDirectory(dir, { port: 0, force: true });
  const config = readFileSync(setup.configFile, 'utf8')
    .replace(/last: 16383/, 'last: 63')
    .replace(/first: 16384\n(\s+)last: 24575/, 'first: 64\n$1last: 95')
    .replace(/first: 16384, last: 24575/, 'first: 64, last: 95');
  writeFileSync(setup.configFile, config);
  const sidecar = await startSidecar(loadConfig(setup.configFile), { logger: pino({ level: 'silent' }), watchIntervalMs: 200, drainTimeoutMs: 2000, ...(options.overrides ? { overrides: options.overrides } : {}) });
  const tiers = Object.fromEntries(EXAMPLE_TENANTS.map((t) => [t.id, t.tier]));
  return { description: describeInitDirectory(dir, sidecar.url, setup.apiKeys, tiers), sidecar, close: () => sidecar.close() };
}
