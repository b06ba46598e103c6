import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** AES-256-GCM with a 12-byte random IV and a 16-byte tag, for keys and other small secrets. */
export const GCM = 'aes-256-gcm';
export const IV_BYTES = 12;
export const TAG_BYTES = 16;
export const KEY_BYTES = 32;

/** Seals a small secret: returns iv ‖ ciphertext ‖ tag. */
export function sealSmall(key: Uint8Array, associatedData: Uint8Array, plaintext: Uint8Array, iv: Uint8Array = randomBytes(IV_BYTES)): Buffer {
  const cipher = createCipheriv(GCM, key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(associatedData);
  const body = cipher.update(plaintext);
  cipher.final();
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

/**
 * Opens iv ‖ ciphertext ‖ tag. Returns undefined for every kind of failure (wrong key, wrong
 * associated data, altered or truncated input) so callers can only report one generic error.
 */
export function openSmall(key: Uint8Array, associatedData: Uint8Array, sealed: Uint8Array): Buffer | undefined {
  if (sealed.length < IV_BYTES + TAG_BYTES) return undefined;
  const iv = sealed.subarray(0, IV_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv(GCM, key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(associatedData);
    decipher.setAuthTag(tag);
    const plaintext = decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES));
    try {
      decipher.final();
    } catch {
      plaintext.fill(0);
      return undefined;
    }
    return plaintext;
  } catch {
    return undefined;
  }
}
