/**
 * Throughput of offload sealing and opening against raw AES-256-GCM on the same sizes, in memory
 * (no disk), for `npm run bench` (bench/offload.ts). The sealed path adds, per blob, one 32-byte
 * key wrap (seal) or unwrap (open), an 88-byte header and two small AAD encodings; the body is one
 * cipher pass either way. That fixed cost (≈ 4–6 µs, mostly creating the second cipher object)
 * matters only for small blobs: 64 KiB is the tight case, ≥ 1 MiB is within a few percent.
 *
 * Raw and sealed runs alternate in short batches and the medians count, so clock-speed drift and
 * preemption on a shared or virtual machine hit both sides alike (back-to-back runs differ by 2×
 * on the 2-core development VM).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// The raw baseline uses the component's own cipher parameters, so both sides encrypt alike.
import { GCM, IV_BYTES, TAG_BYTES } from '../src/keys/aead.js';
import { KeyStore, openBlob, sealBlob } from '../src/keys/index.js';

/** The sizes to report: 64 KiB, 1 MiB, 16 MiB. */
export const DEFAULT_BENCH_SIZES: readonly number[] = [64 * 1024, 1024 * 1024, 16 * 1024 * 1024];

export interface SealThroughput {
  readonly bytes: number;
  /** GB/s (10^9 bytes per second) of plaintext. */
  readonly rawSealGBps: number;
  readonly sealGBps: number;
  readonly rawOpenGBps: number;
  readonly openGBps: number;
  /** Median of per-round sealed/raw throughput ratios; the target is ≥ 0.8. */
  readonly sealRatio: number;
  readonly openRatio: number;
}

export interface SealBenchOptions {
  readonly sizes?: readonly number[];
  /** Time spent per size on each of seal and open (raw and sealed together); default 1000 ms. */
  readonly millisPerSize?: number;
}

export async function measureSealThroughput(options: SealBenchOptions = {}): Promise<SealThroughput[]> {
  const sizes = options.sizes ?? DEFAULT_BENCH_SIZES;
  const millis = options.millisPerSize ?? 1000;
  const dir = await mkdtemp(join(tmpdir(), 'tg-seal-bench-'));
  const keys = await KeyStore.open(join(dir, 'keystore.json'), randomBytes(32));
  try {
    await keys.createTenant('bench');
    const rawKey = randomBytes(32);
    const aad = Buffer.alloc(64, 1);
    const results: SealThroughput[] = [];
    for (const size of sizes) {
      const plaintext = randomBytes(size);
      const rawSealed = rawSeal(rawKey, aad, plaintext);
      const sealed = Buffer.concat(sealBlob(keys, 'bench', 'block-0', plaintext));
      const seal = compare(
        size,
        millis,
        () => rawSeal(rawKey, aad, plaintext),
        () => sealBlob(keys, 'bench', 'block-0', plaintext),
      );
      const open = compare(
        size,
        millis,
        () => rawOpen(rawKey, aad, rawSealed),
        () => openBlob(keys, 'bench', 'block-0', sealed),
      );
      results.push({
        bytes: size,
        rawSealGBps: seal.raw,
        sealGBps: seal.ours,
        rawOpenGBps: open.raw,
        openGBps: open.ours,
        sealRatio: seal.ratio,
        openRatio: open.ratio,
      });
    }
    return results;
  } finally {
    keys.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The baseline: what any AES-256-GCM user pays (fresh IV, AAD, one pass, tag). */
function rawSeal(key: Buffer, aad: Buffer, plaintext: Buffer): Buffer[] {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(GCM, key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  cipher.final();
  return [iv, body, cipher.getAuthTag()];
}

function rawOpen(key: Buffer, aad: Buffer, parts: Buffer[]): Buffer {
  const [iv, body, tag] = parts as [Buffer, Buffer, Buffer];
  const decipher = createDecipheriv(GCM, key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  const plaintext = decipher.update(body);
  decipher.final();
  return plaintext;
}

/**
 * GB/s of `raw` and `ours` and their ratio, from alternating batches of about 2 MB each. Each round
 * runs one batch of both back to back; the result is the median over rounds (of each side's time
 * and of the per-round ratio), so a round disturbed by preemption or a GC pause does not count.
 */
function compare(bytes: number, millis: number, raw: () => unknown, ours: () => unknown): { raw: number; ours: number; ratio: number } {
  const batch = Math.max(1, Math.round((2 * 1024 * 1024) / bytes));
  const time = (run: () => unknown): number => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) run();
    return Number(process.hrtime.bigint() - start);
  };
  time(raw); // warm up
  time(ours);
  const rawNs: number[] = [];
  const oursNs: number[] = [];
  const ratios: number[] = [];
  const deadline = performance.now() + millis;
  while (performance.now() < deadline || ratios.length < 5) {
    // Alternate which goes first, so neither always runs on a cold cache or after a GC.
    const first = ratios.length % 2 === 0;
    const r = first ? time(raw) : 0;
    const o = time(ours);
    const r2 = first ? r : time(raw);
    rawNs.push(r2);
    oursNs.push(o);
    ratios.push(r2 / o);
  }
  const perSecond = (ns: number): number => (bytes * batch) / ns; // bytes per ns = GB/s
  return { raw: perSecond(median(rawNs)), ours: perSecond(median(oursNs)), ratio: median(ratios) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}
