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
 * Parses a gzip'd tar archive as written by `opa build` (or GNU tar), without looking at any
 * signature. Throws BundleError on any defect.
 */
export function parseBundle(archive: Uint8Array): PolicyBundle {
  return fromFiles(archive, unpack(archive));
}

/** `parseBundle`, then rejects (BundleError) unless the bundle is signed by `verification`'s key (bundle-signature.ts). */
export async function parseSignedBundle(archive: Uint8Array, verification: BundleVerification): Promise<PolicyBundle> {
  const files = unpack(archive);
  await verifyBundleSignature(files, verification);
  return fromFiles(archive, files);
}

function unpack(archive: Uint8Array): Map<string, Buffer> {
  let tar: Buffer;
  try {
    tar = gunzipSync(archive, { maxOutputLength: MAX_UNPACKED_BYTES });
  } catch {
    throw new BundleError('bundle is not a readable gzip archive');
  }
  return readTarEntries(tar);
}

function fromFiles(archive: Uint8Array, files: ReadonlyMap<string, Buffer>): PolicyBundle {
  const wasm = files.get('policy.wasm');
  const manifestBytes = files.get('.manifest');
  if (!wasm) throw new BundleError('bundle has no /policy.wasm (was it built by `npm run policy:build`?)');
  if (!manifestBytes) throw new BundleError('bundle has no /.manifest');
  return {
    wasm,
    data: parseJsonObject(files.get('data.json') ?? Buffer.from('{}'), 'data.json'),
    manifest: parseManifest(manifestBytes),
    sha256: createHash('sha256').update(archive).digest('hex'),
  };
}

/**
 * Reads the regular files of a tar archive (ustar, with PAX and GNU long-name extensions). Issue
 * 17.11: every header's checksum is checked, so a damaged or spliced header is refused rather than
 * misread, and PAX extended headers (`x`, `g`), which GNU tar and OPA (Go's archive/tar) write for
 * names ustar cannot hold, give the entry its real path and size. A path that occurs twice is
 * refused: the signature check and the loader must see one unambiguous set of files.
 */
function readTarEntries(tar: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let globalPax: Record<string, string> = {};
  let nextPax: Record<string, string> = {};
  let nextLongName: string | null = null;
  let offset = 0;
  while (offset + BLOCK <= tar.length) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) break; // end-of-archive marker
    checkHeaderChecksum(header);
    const type = String.fromCharCode(header[156] ?? 0);
    const extended = { ...globalPax, ...nextPax };
    const size = extended['size'] !== undefined && isFileType(type) ? parseDecimal(extended['size']) : parseOctal(header, 124, 12);
    const start = offset + BLOCK;
    const end = start + size;
    if (end > tar.length) throw new BundleError('bundle archive is truncated');
    const body = tar.subarray(start, end);
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x') {
      nextPax = { ...nextPax, ...parsePaxRecords(body) };
      continue;
    }
    if (type === 'g') {
      globalPax = { ...globalPax, ...parsePaxRecords(body) };
      continue;
    }
    if (type === 'L') {
      nextLongName = readString(body, 0, body.length);
      continue;
    }
    if (isFileType(type)) {
      const name = readString(header, 0, 100);
      const prefix = readString(header, 345, 155);
      const path = (extended['path'] ?? nextLongName ?? (prefix ? `${prefix}/${name}` : name)).replace(/^\.?\/+/, '');
      if (files.has(path)) throw new BundleError(`bundle archive holds ${path} twice`);
      files.set(path, body);
    }
    // Directories, links and anything else carry no bundle file; their extensions end with them.
    nextPax = {};
    nextLongName = null;
  }
  return files;
}

/** Regular files: `0`, the pre-POSIX NUL, and `7` (contiguous file, read like a regular one). */
function isFileType(type: string): boolean {
  return type === '0' || type === '\0' || type === '7';
}

/** The header checksum: the byte sum with the checksum field counted as spaces (signed sums, as old tars wrote, accepted too). */
function checkHeaderChecksum(header: Buffer): void {
  const stored = parseOctal(header, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (header[i] ?? 0);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  if (stored !== unsigned && stored !== signed) throw new BundleError('bundle archive has a header whose checksum does not match (damaged or altered archive)');
}

function parseOctal(header: Buffer, start: number, length: number): number {
  const text = readString(header, start, length).trim();
  if (!/^[0-7]*$/.test(text)) throw new BundleError('bundle archive has a corrupt header');
  return text === '' ? 0 : Number.parseInt(text, 8);
}

function parseDecimal(text: string): number {
  if (!/^[0-9]{1,15}$/.test(text)) throw new BundleError('bundle archive has a corrupt PAX size');
  return Number(text);
}

/** PAX records: `<length> <key>=<value>\n`, the length counting the whole record. */
function parsePaxRecords(body: Buffer): Record<string, string> {
  const records: Record<string, string> = Object.create(null) as Record<string, string>;
  let pos = 0;
  while (pos < body.length) {
    if (body[pos] === 0) break; // padding some writers leave
    const space = body.indexOf(0x20, pos);
    const length = space > pos ? Number(body.subarray(pos, space).toString('latin1')) : Number.NaN;
    if (!Number.isInteger(length) || length <= space - pos || pos + length > body.length || body[pos + length - 1] !== 0x0a) {
      throw new BundleError('bundle archive has a malformed PAX header');
    }
    const record = body.subarray(space + 1, pos + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    if (equals <= 0) throw new BundleError('bundle archive has a malformed PAX header');
    records[record.slice(0, equals)] = record.slice(equals + 1);
    pos += length;
  }
  return records;
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
