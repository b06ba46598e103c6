import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { compactVerify, decodeProtectedHeader, type ProtectedHeaderParameters } from 'jose';
import { BundleError } from './bundle-error.js';

/**
 * Signed bundles as OPA writes them (`opa build -b --signing-key ...`, or `opa sign`):
 * `/.signatures.json` holds one JWT whose payload lists every file of the bundle with its SHA-256.
 * A sidecar configured with a verification key loads only bundles whose JWT verifies under that key
 * and whose files are exactly the listed ones with the listed hashes, so a bundle edited anywhere
 * between the policy authors' CI and this machine is refused (the last good one keeps serving).
 */
export interface BundleVerification {
  readonly publicKey: KeyObject;
  /** The JWT's `alg` must be this (OPA's default is RS256). */
  readonly algorithm: SigningAlgorithm;
  /** When set, the JWT's key id (`keyid` claim, else the `kid` header) must be this. */
  readonly keyId?: string;
}

export const SIGNING_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

export const SIGNATURES_FILE = '.signatures.json';

/** Reads a PEM public key (RSA or EC) for `BundleVerification`. */
export function loadVerificationKey(pem: string | Buffer): KeyObject {
  return createPublicKey(pem);
}

/**
 * Rejects (BundleError) unless the bundle's files carry a valid signature under `verification`.
 * The JWS itself is verified by jose (issue 17.11: a maintained JOSE library instead of
 * hand-written code), restricted to the configured algorithm, so RFC 7515's rules (`crit`,
 * `b64`, key type per algorithm, ECDSA signature encoding) are applied in full.
 */
export async function verifyBundleSignature(files: ReadonlyMap<string, Buffer>, verification: BundleVerification): Promise<void> {
  const signed = files.get(SIGNATURES_FILE);
  if (!signed) throw new BundleError('bundle is not signed (no /.signatures.json) but policy.verification requires a signature');
  const jwt = onlySignature(signed);
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(jwt);
  } catch {
    throw new BundleError('bundle signature header is not a JSON object');
  }
  if (header.alg !== verification.algorithm) throw new BundleError(`bundle signature uses ${String(header.alg)}, policy.verification expects ${verification.algorithm}`);
  let payloadBytes: Uint8Array;
  try {
    ({ payload: payloadBytes } = await compactVerify(jwt, verification.publicKey, { algorithms: [verification.algorithm] }));
  } catch {
    // Wrong key, altered header or payload, unknown critical extension, key unfit for the algorithm.
    throw new BundleError('bundle signature does not verify under the configured public key');
  }
  const payload = decodeJson(payloadBytes, 'signature payload');
  const keyId = typeof payload['keyid'] === 'string' ? payload['keyid'] : header.kid;
  if (verification.keyId !== undefined && keyId !== verification.keyId) throw new BundleError(`bundle was signed with key id ${String(keyId)}, policy.verification expects ${verification.keyId}`);
  checkFileHashes(files, payload['files']);
}

function onlySignature(bytes: Buffer): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new BundleError('bundle /.signatures.json is not valid JSON');
  }
  const list = typeof parsed === 'object' && parsed !== null ? (parsed as { signatures?: unknown }).signatures : undefined;
  // OPA writes exactly one; more would leave open which one vouches for the files.
  if (!Array.isArray(list) || list.length !== 1 || typeof list[0] !== 'string' || list[0].split('.').length !== 3) {
    throw new BundleError('bundle /.signatures.json must hold exactly one JWT');
  }
  return list[0];
}

function decodeJson(bytes: Uint8Array, what: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    /* reported below */
  }
  throw new BundleError(`bundle ${what} is not a JSON object`);
}

/** Every file but the signature itself must be listed, with its hash; nothing listed may be missing. */
function checkFileHashes(files: ReadonlyMap<string, Buffer>, listed: unknown): void {
  if (!Array.isArray(listed)) throw new BundleError('bundle signature lists no files');
  const expected = new Map<string, string>();
  for (const entry of listed as unknown[]) {
    const { name, hash, algorithm } = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
    if (typeof name !== 'string' || typeof hash !== 'string') throw new BundleError('bundle signature has a malformed file entry');
    if (algorithm !== 'SHA-256') throw new BundleError(`bundle signature uses file hash ${String(algorithm)}; only SHA-256 is supported`);
    expected.set(name.replace(/^\.?\/+/, ''), hash.toLowerCase());
  }
  for (const [name, bytes] of files) {
    if (name === SIGNATURES_FILE) continue;
    const hash = expected.get(name);
    if (hash === undefined) throw new BundleError(`bundle file ${name} is not covered by its signature`);
    if (fileHash(name, bytes) !== hash) throw new BundleError(`bundle file ${name} does not match its signed hash`);
    expected.delete(name);
  }
  const missing = [...expected.keys()];
  if (missing.length > 0) throw new BundleError(`bundle lacks signed file ${missing[0]}`);
}

/** OPA hashes JSON files (data, manifest) in canonical form: keys sorted, no whitespace; others as bytes. */
function fileHash(name: string, bytes: Buffer): string {
  const sha = createHash('sha256');
  if (!name.endsWith('.json') && name !== '.manifest') return sha.update(bytes).digest('hex');
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new BundleError(`bundle file ${name} is not valid JSON`);
  }
  return sha.update(canonicalJson(value)).digest('hex');
}

/**
 * Go's encoding/json output for a parsed value with sorted keys (it escapes <, >, & and U+2028/9).
 * Checked against `opa build -b --signing-key` on this project's data.json and .manifest. Keys are
 * sorted by UTF-16 code unit where Go sorts bytes: the orders differ only for keys mixing characters
 * above U+FFFF with ones in U+E000–U+FFFF, where a valid bundle would be refused (never accepted).
 */
function canonicalJson(value: unknown): string {
  const sorted = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sorted);
    if (typeof v !== 'object' || v === null) return v;
    const out = Object.create(null) as Record<string, unknown>; // a `__proto__` key stays a key
    for (const key of Object.keys(v).sort()) out[key] = sorted((v as Record<string, unknown>)[key]);
    return out;
  };
  return JSON.stringify(sorted(value)).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
