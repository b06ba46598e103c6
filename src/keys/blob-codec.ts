/**
 * The sealed blob format of the offload store (K1). One blob, one fresh 32-byte data key; the data
 * key is wrapped under the tenant's current KEK and travels in the header:
 *
 *   offset  size  field
 *        0     4  magic "TGB2"
 *        4     4  KEK version, uint32 big-endian
 *        8     8  generation, uint64 big-endian (issue 20.9: which put of this block key it is)
 *       16    60  wrapped blob key: iv(12) ‖ AES-256-GCM(blob key)(32) ‖ tag(16)
 *                 AAD = lp("tenantguard/v1/wrap/offload-blob-key", tenant, version, blockKey)
 *       76    12  body iv
 *       88     n  body ciphertext (AES-256-GCM under the blob key)
 *     88+n    16  body tag;  AAD = lp("tenantguard/v1/offload-blob-body", tenant, blockKey, header[0..88))
 *
 * Both AADs bind tenant, block key and key version, so a blob copied under another tenant's name or
 * another block key, or with any byte changed (header included), fails authentication. The
 * generation is inside the body AAD, so an older copy cannot be relabelled as the latest one: the
 * offload store compares it with the latest generation its write-ahead log recorded (issue 20.9).
 * "TGB1" blobs (before 20.9, no generation) are not opened. The body is encrypted in one cipher
 * pass, chunk by chunk, with no extra copy of the data.
 */
import { createCipheriv, createDecipheriv, type CipherGCM } from 'node:crypto';
import { Errors, TgError } from '../errors.js';
import { GCM, IV_BYTES, KEY_BYTES, TAG_BYTES } from './aead.js';
import { lengthPrefixed } from './encoding.js';
import type { KeyStore } from './key-store.js';
import { takeRandom } from './random-pool.js';

const MAGIC = Buffer.from('TGB2', 'latin1');
const MAGIC_U32 = MAGIC.readUInt32BE(0);
const WRAPPED_BYTES = IV_BYTES + KEY_BYTES + TAG_BYTES;
const VERSION_AT = 4;
const GENERATION_AT = 8;
const WRAPPED_AT = 16;
const BODY_IV_AT = WRAPPED_AT + WRAPPED_BYTES;
export const BLOB_HEADER_BYTES = BODY_IV_AT + IV_BYTES;
/** Header plus tag: a sealed blob is exactly this much larger than its plaintext. */
export const BLOB_OVERHEAD_BYTES = BLOB_HEADER_BYTES + TAG_BYTES;

const BLOB_KEY_PURPOSE = 'offload-blob-key';
const BODY_LABEL = 'tenantguard/v1/offload-blob-body';

const BODY_LABEL_ENCODED = lengthPrefixed([BODY_LABEL]);

function bodyAad(tenant: string, blockKey: string, header: Uint8Array): Buffer {
  return lengthPrefixed([tenant, blockKey, header], BODY_LABEL_ENCODED); // = lp(BODY_LABEL, tenant, blockKey, header)
}

function authFailed(): TgError {
  return new TgError(Errors.OFFLOAD_AUTH_FAILED);
}

/** Seals one blob incrementally: write `header`, then every `update(chunk)`, then `finish()`. */
export class BlobSealer {
  private constructor(
    readonly header: Buffer,
    readonly version: number,
    private readonly cipher: CipherGCM,
  ) {}

  /** Throws UNKNOWN_TENANT / TENANT_ERASED before anything is sealed. */
  static start(keys: KeyStore, tenant: string, blockKey: string, generation: number): BlobSealer {
    assertGeneration(generation);
    // The blob key and both IVs in one draw from the pool (random-pool.ts explains why).
    const random = takeRandom(KEY_BYTES + 2 * IV_BYTES);
    try {
      const blobKey = random.subarray(0, KEY_BYTES);
      const wrapIv = random.subarray(KEY_BYTES, KEY_BYTES + IV_BYTES);
      const bodyIv = random.subarray(KEY_BYTES + IV_BYTES);
      const { version, sealed } = keys.wrapUnderTenant(tenant, BLOB_KEY_PURPOSE, [blockKey], blobKey, wrapIv);
      const header = Buffer.allocUnsafe(BLOB_HEADER_BYTES);
      header.set(MAGIC, 0);
      header.writeUInt32BE(version, VERSION_AT);
      header.writeBigUInt64BE(BigInt(generation), GENERATION_AT);
      header.set(sealed, WRAPPED_AT);
      header.set(bodyIv, BODY_IV_AT);
      const cipher = createCipheriv(GCM, blobKey, bodyIv, { authTagLength: TAG_BYTES });
      cipher.setAAD(bodyAad(tenant, blockKey, header));
      return new BlobSealer(header, version, cipher);
    } finally {
      random.fill(0); // the cipher holds its own copy of the key
    }
  }

  update(chunk: Uint8Array): Buffer {
    return this.cipher.update(chunk);
  }

  /** Returns the 16-byte tag that ends the blob. */
  finish(): Buffer {
    this.cipher.final();
    return this.cipher.getAuthTag();
  }
}

/** Seals a whole blob in memory: [header, ciphertext, tag], ready for a vectored write. */
export function sealBlob(keys: KeyStore, tenant: string, blockKey: string, plaintext: Uint8Array, generation = 1): Buffer[] {
  const sealer = BlobSealer.start(keys, tenant, blockKey, generation);
  const body = sealer.update(plaintext);
  return [sealer.header, body, sealer.finish()];
}

/**
 * The generation in a sealed blob's header, undefined if it has none. Unauthenticated on its own:
 * trust it only for bytes that `openBlob` opened (the generation is inside the body AAD).
 */
export function blobGeneration(sealed: Uint8Array): number | undefined {
  if (sealed.length < BLOB_HEADER_BYTES) return undefined;
  const view = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (view.readUInt32BE(0) !== MAGIC_U32) return undefined;
  const generation = view.readBigUInt64BE(GENERATION_AT);
  return generation <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(generation) : undefined;
}

function assertGeneration(generation: number): void {
  // A bug, not a caller error: generations come from BlobVersions.
  if (!Number.isSafeInteger(generation) || generation < 1) throw new TgError(Errors.INTERNAL);
}

/**
 * Opens a sealed blob for (tenant, blockKey). Every failure — wrong tenant or block key, unknown
 * or erased-then-unknown key version, truncation, any altered byte — is the one generic
 * OFFLOAD_AUTH_FAILED; an erased or unknown tenant is refused (TENANT_ERASED / UNKNOWN_TENANT).
 */
export function openBlob(keys: KeyStore, tenant: string, blockKey: string, sealed: Buffer): Buffer {
  if (sealed.length < BLOB_OVERHEAD_BYTES || sealed.readUInt32BE(0) !== MAGIC_U32) {
    keys.currentVersion(tenant); // an erased or unknown tenant is refused before anything else
    throw authFailed();
  }
  const header = sealed.subarray(0, BLOB_HEADER_BYTES);
  const version = sealed.readUInt32BE(VERSION_AT);
  const blobKey = keys.unwrapUnderTenant(tenant, BLOB_KEY_PURPOSE, [blockKey], version, header.subarray(WRAPPED_AT, BODY_IV_AT));
  if (blobKey === undefined) throw authFailed();
  const bodyEnd = sealed.length - TAG_BYTES;
  let plaintext: Buffer | undefined;
  try {
    const decipher = createDecipheriv(GCM, blobKey, header.subarray(BODY_IV_AT), { authTagLength: TAG_BYTES });
    decipher.setAAD(bodyAad(tenant, blockKey, header));
    decipher.setAuthTag(sealed.subarray(bodyEnd));
    plaintext = decipher.update(sealed.subarray(BLOB_HEADER_BYTES, bodyEnd));
    decipher.final();
    return plaintext;
  } catch {
    plaintext?.fill(0); // never hand out, or keep, unauthenticated plaintext
    throw authFailed();
  } finally {
    blobKey.fill(0);
  }
}
