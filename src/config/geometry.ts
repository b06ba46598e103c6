export type KvDtype = 'fp32' | 'fp16' | 'bf16' | 'fp8' | 'int8';

export const DTYPE_BYTES: Readonly<Record<KvDtype, number>> = { fp32: 4, fp16: 2, bf16: 2, fp8: 1, int8: 1 };

export interface ModelGeometry {
  readonly layers: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly dtype: KvDtype;
  readonly blockTokens: number;
}

/** bytes_per_block = 2 (K,V) × layers × kv_heads × head_dim × dtype_bytes × block_tokens (docs/design.md). */
export function bytesPerBlock(geometry: ModelGeometry): number {
  return 2 * geometry.layers * geometry.kvHeads * geometry.headDim * DTYPE_BYTES[geometry.dtype] * geometry.blockTokens;
}

/** A quota in bytes becomes whole blocks, rounded down so the byte quota is never exceeded (I3). */
export function quotaBlocks(quotaBytes: number, geometry: ModelGeometry): number {
  return Math.floor(quotaBytes / bytesPerBlock(geometry));
}
