import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { syncDirectory } from '../durable-file.js';
import { stringify } from 'yaml';
import { Errors, TgError } from '../errors.js';
import { generateApiKey } from '../identity/index.js';
import { initPkiDirectory, issueCertificate, pkiPaths, saveIssuedCertificate, type IssuedCertificate } from '../pki/index.js';

/** The example tenants `init` creates: one per tier (the tier table, src/config/tiers.ts). */
export const EXAMPLE_TENANTS = [
  { id: 'free-demo', tier: 'free' },
  { id: 'standard-demo', tier: 'standard' },
  { id: 'enterprise-demo', tier: 'enterprise' },
] as const;

export const DEFAULT_TRUST_DOMAIN = 'tenantguard.local';
export const DEFAULT_WORKER_ID = 'worker-1';
export const DEFAULT_OPERATOR_ID = 'admin';

export interface InitOptions {
  readonly trustDomain?: string;
  readonly port?: number;
  readonly force?: boolean;
}

export interface InitResult {
  readonly dir: string;
  readonly configFile: string;
  /** Plaintext API keys, returned once so the caller can show them; only digests are stored. */
  readonly apiKeys: Readonly<Record<string, string>>;
  readonly files: { readonly ca: string; readonly worker: Credential; readonly operator: Credential; readonly tenants: Readonly<Record<string, Credential>> };
}

export interface Credential {
  readonly cert: string;
  readonly key: string;
}

/**
 * Creates a complete dev setup in `dir`: CA, server/operator/worker/tenant certificates, a config
 * file and a master key. Refuses to touch an existing setup unless forced, because that would
 * replace secrets other components already depend on (keys sealed under the master key, issued
 * certificates).
 */
export async function initDirectory(dirArg: string, options: InitOptions = {}): Promise<InitResult> {
  const dir = resolve(dirArg);
  const configFile = join(dir, 'config.yaml');
  if (existsSync(configFile) && !options.force) {
    throw new TgError(Errors.CONFLICT, {
      message: `${configFile} already exists; refusing to overwrite its secrets (pass --force to replace everything)`,
    });
  }
  const trustDomain = options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  // A new setup is built beside its place and renamed into it when complete, so an interrupted
  // init (Ctrl-C during the first `serve`) leaves no half setup that the next run would refuse.
  // Only --force over an existing setup (or a directory holding other files) writes in place.
  await mkdir(dirname(dir), { recursive: true });
  const inPlace = existsSync(dir) && readdirSync(dir).length > 0;
  const work = inPlace ? dir : await mkdtemp(join(dirname(dir), `${basename(dir)}.init-`));
  const pkiDir = join(work, 'pki');

  const pki = await initPkiDirectory(pkiDir, { trustDomain, operatorId: DEFAULT_OPERATOR_ID, force: options.force ?? false });
  const issued: IssuedCertificate[] = await Promise.all([
    issueCertificate(pki.ca, { role: 'worker', id: DEFAULT_WORKER_ID }),
    ...EXAMPLE_TENANTS.map((t) => issueCertificate(pki.ca, { role: 'tenant', id: t.id })),
  ]);
  for (const cert of issued) await saveIssuedCertificate(pkiDir, cert);

  await mkdir(join(work, 'keys'), { recursive: true, mode: 0o700 });
  await writeFile(join(work, 'keys', 'master.key'), randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'w' });

  const apiKeys: Record<string, string> = {};
  const tenants = EXAMPLE_TENANTS.map((t) => {
    const { key, sha256 } = generateApiKey();
    apiKeys[t.id] = key;
    return { id: t.id, tier: t.tier, api_key_sha256: [sha256] };
  });

  const config = {
    trust_domain: trustDomain,
    listen: { host: '127.0.0.1', port: options.port ?? 8443 },
    paths: { pki: './pki', master_key: './keys/master.key', keystore: './keys/keystore.json', audit: './audit' },
    // A Llama-3-8B-like geometry: 2 × 32 × 8 × 128 × 2 bytes × 16 tokens = 2 MiB per block.
    model: { layers: 32, kv_heads: 8, head_dim: 128, dtype: 'fp16', block_tokens: 16 },
    pools: [
      { name: 'shared', first: 0, last: 16383 },
      { name: 'enterprise-demo-pool', first: 16384, last: 24575, dedicated_to: 'enterprise-demo' },
    ],
    tenants,
  };
  const header = '# tenantguard sidecar config, made by `tenantguard init`. Paths are relative to this file.\n';
  await writeFile(join(work, 'config.yaml'), header + stringify(config), { mode: 0o600 });
  if (!inPlace) {
    await rename(work, dir); // replaces `dir` if it is an empty directory
    await syncDirectory(dirname(dir));
  }

  const paths = pkiPaths(join(dir, 'pki'));
  const credential = (role: 'worker' | 'operator' | 'tenant', id: string): Credential => ({
    cert: paths.certificate(role, id),
    key: paths.privateKey(role, id),
  });
  return {
    dir,
    configFile,
    apiKeys,
    files: {
      ca: paths.caCert,
      worker: credential('worker', DEFAULT_WORKER_ID),
      operator: credential('operator', DEFAULT_OPERATOR_ID),
      tenants: Object.fromEntries(EXAMPLE_TENANTS.map((t) => [t.id, credential('tenant', t.id)])),
    },
  };
}
