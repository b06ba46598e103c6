import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { BundleError } from './bundle-error.js';
import { verifyBundleSignature, type BundleVerification } from './bundle-signature.js';

/** The parts of an `opa build -t wasm` bundle the engine needs. */
export interface PolicyBundle {
  readonly wasm: Uint8Array;
  readonly data: Record<string, unknown>;
  readonly manifest: BundleManifest;
  /** SHA-256 of the .tar.gz as loaded, so operators can match it to what they shipped. */
  readonly sha256: string;
}

export interface BundleManifest {
  readonly revision: string;
  readonly entrypoints: readonly string[];
  /** Data paths the bundle owns (OPA's `roots`; absent means all of `data`). */
  readonly roots: readonly string[];
}

export { BundleError };

const BLOCK = 512;
/** Bundles are small (a few hundred KiB); a cap keeps a hostile file from exhausting memory. */
const MAX_UNPACKED_BYTES = 64 * 1024 * 1024;

/**
 * Parses a gzip'd ustar archive as written by `opa build`. Throws BundleError on any defect, and,
 * with `verification`, unless the bundle is signed by that key (bundle-signature.ts).
 */
export function parseBundle(archive: Uint8Array, verification?: BundleVerification): PolicyBundle {
  let tar: Buffer;
  try {
    tar = gunzipSync(archive, { maxOutputLength: MAX_UNPACKED_BYTES });
  } catch {
    throw new BundleError('bundle is not a readable gzip archive');
  }
  const files = readTarEntries(tar);
  if (verification) verifyBundleSignature(files, verification);
  const wasm = files.get('policy.wasm');
  const manifestBytes = files.get('.manifest');
  if (!wasm) throw new BundleError('bundle has no /policy.wasm (was it built with `opa build -t wasm`?)');
  if (!manifestBytes) throw new BundleError('bundle has no /.manifest');
  return {
    wasm,
    data: parseJsonObject(files.get('data.json') ?? Buffer.from('{}'), 'data.json'),
    manifest: parseManifest(manifestBytes),
    sha256: createHash('sha256').update(archive).digest('hex'),
  };
}

function readTarEntries(tar: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let offset = 0;
  while (offset + BLOCK <= tar.length) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) break; // end-of-archive marker
    const name = readString(header, 0, 100);
    const prefix = readString(header, 345, 155);
    const size = Number.parseInt(readString(header, 124, 12).trim() || '0', 8);
    const type = String.fromCharCode(header[156] ?? 0);
    if (!Number.isFinite(size) || size < 0) throw new BundleError('bundle archive has a corrupt header');
    const start = offset + BLOCK;
    const end = start + size;
    if (end > tar.length) throw new BundleError('bundle archive is truncated');
    if (type === '0' || type === '\0') {
      const path = (prefix ? `${prefix}/${name}` : name).replace(/^\.?\/+/, '');
      files.set(path, tar.subarray(start, end));
    }
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  return files;
}

function readString(buf: Buffer, start: number, length: number): string {
  const field = buf.subarray(start, start + length);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? field.length : nul).toString('utf8');
}

function parseJsonObject(bytes: Buffer, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new BundleError(`bundle ${what} is not valid JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BundleError(`bundle ${what} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

function parseManifest(bytes: Buffer): BundleManifest {
  const raw = parseJsonObject(bytes, '.manifest');
  const revision = typeof raw['revision'] === 'string' ? raw['revision'] : '';
  // `opa build -t wasm` lists WASM resolvers; the project bundle (issue 17.10) names none, so that
  // stock OPA evaluates its Rego, and records the module's entrypoints as metadata instead.
  const wasm = Array.isArray(raw['wasm']) ? raw['wasm'] : [];
  const fromResolvers = wasm.map((entry: unknown) =>
    typeof entry === 'object' && entry !== null && 'entrypoint' in entry ? String(entry.entrypoint) : '',
  );
  const metadata = raw['metadata'];
  const listed = typeof metadata === 'object' && metadata !== null && 'wasm_entrypoints' in metadata ? metadata.wasm_entrypoints : [];
  const fromMetadata = Array.isArray(listed) ? listed.map((entry: unknown) => (typeof entry === 'string' ? entry : '')) : [];
  const entrypoints = [...new Set([...fromResolvers, ...fromMetadata])].filter((name) => name.length > 0);
  const roots = Array.isArray(raw['roots']) ? raw['roots'].filter((root): root is string => typeof root === 'string') : [''];
  return { revision, entrypoints, roots };
}
