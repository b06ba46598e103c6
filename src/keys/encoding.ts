import { hkdfSync } from 'node:crypto';

/**
 * Unambiguous encodings for everything that goes into HKDF info and AES-GCM associated data.
 * Each part is preceded by its byte length as a 4-byte big-endian integer, so the encoding of a
 * sequence of parts is injective: ("ab","c") and ("a","bc") give different bytes, and a tenant id
 * can never borrow characters from the block key next to it.
 */
export type Part = string | Uint8Array;
// `encodedPrefix`, when given, must itself be a lengthPrefixed(...) output: then
// lengthPrefixed(b, lengthPrefixed(a)) equals lengthPrefixed([...a, ...b]).

const EMPTY = Buffer.alloc(0);

export function lengthPrefixed(parts: readonly Part[], encodedPrefix?: Uint8Array): Buffer {
  // Strings are encoded straight into the output (no intermediate buffers), and a constant leading
  // part can be passed already encoded: this runs twice for every sealed and opened blob and shows
  // up in small-blob throughput.
  let total = encodedPrefix?.length ?? 0;
  for (const part of parts) total += 4 + (typeof part === 'string' ? Buffer.byteLength(part, 'utf8') : part.length);
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  if (encodedPrefix !== undefined) {
    out.set(encodedPrefix, 0);
    offset = encodedPrefix.length;
  }
  for (const part of parts) {
    if (typeof part === 'string') {
      const length = out.write(part, offset + 4, 'utf8');
      out.writeUInt32BE(length, offset);
      offset += 4 + length;
    } else {
      out.writeUInt32BE(part.length, offset);
      out.set(part, offset + 4);
      offset += 4 + part.length;
    }
  }
  return out;
}

/** A key version as 4 big-endian bytes, so version 12 is never the string "12" next to "3". */
export function u32(value: number): Buffer {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(value, 0);
  return out;
}

/**
 * HKDF-SHA256 with a length-prefixed info string. The input key material is always a uniformly
 * random key here (master key or KEK), so the salt is empty (RFC 5869 §3.1). The returned buffer
 * owns its memory, so `fill(0)` really erases it.
 */
export function deriveKey(inputKey: Uint8Array, info: readonly Part[], length = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', inputKey, EMPTY, lengthPrefixed(info), length));
}
