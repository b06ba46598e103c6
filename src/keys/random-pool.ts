import { randomFillSync } from 'node:crypto';

/**
 * Random bytes for per-blob keys and IVs, drawn from a pooled 4 KiB buffer: one `randomBytes`
 * call costs about as much as sealing 4 KiB, which would be most of the envelope overhead on
 * small blobs (Node's own randomUUID pools the same way). Callers zero what they take as soon as
 * it is used; the unused tail is zeroed before a pool is dropped. A fresh buffer is allocated per
 * refill, never refilled in place, so a slice a caller still holds cannot change under it.
 * Internal use only: never hand a slice to a caller outside this folder (its `.buffer` is the pool).
 */
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let offset = 0;

export function takeRandom(length: number): Buffer {
  if (length > POOL_BYTES) throw new RangeError('takeRandom is for small draws');
  if (offset + length > pool.length) {
    pool.fill(0, offset);
    pool = randomFillSync(Buffer.allocUnsafeSlow(POOL_BYTES));
    offset = 0;
  }
  const slice = pool.subarray(offset, offset + length);
  offset += length;
  return slice;
}
