import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import type { SealThroughput } from '../../src/keys/index.js';
import { useTranspiledKeysComponent } from './compile-keys.js';

const run = promisify(execFile);

// The full benchmark (64 KiB, 1 MiB, 16 MiB) is `measureSealThroughput()` for `npm run bench`; this
// is its quick form as a regression guard. It runs in a plain node child, like the bench and the
// sidecar do: inside a vitest worker the same code measures 10–30% slower relative to raw
// (module wrappers, a larger heap), which says nothing about the product.
describe('offload sealing throughput', () => {
  const keys = useTranspiledKeysComponent();

  test('seal and open run at ≥ 80% of raw AES-256-GCM on 1 MiB blobs, and well above half on 64 KiB', async () => {
    const script = `
      const { measureSealThroughput } = await import(${JSON.stringify(keys.entry)});
      const results = await measureSealThroughput({ sizes: [64 * 1024, 1024 * 1024], millisPerSize: 500 });
      process.stdout.write(JSON.stringify(results));`;
    // 1 MiB: the fixed per-blob cost is negligible; an extra copy or a second pass would show.
    // 64 KiB: the per-blob key wrap/unwrap (≈ 3–4 µs) is visible; on an idle machine this measures
    // ≈ 0.8–0.9. The guard is looser, and a run may be repeated twice, so a machine busy with other
    // work does not fail it; a second pass over the data fails every run.
    const passes = (small: SealThroughput, large: SealThroughput): boolean =>
      large.sealRatio >= 0.8 && large.openRatio >= 0.8 && small.sealRatio >= 0.6 && small.openRatio >= 0.6;
    const seen: string[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script]);
      const [small, large] = JSON.parse(stdout) as SealThroughput[];
      if (!small || !large) throw new Error('missing results');
      seen.push(JSON.stringify([small, large].map((r) => ({ bytes: r.bytes, seal: r.sealRatio.toFixed(3), open: r.openRatio.toFixed(3) }))));
      if (passes(small, large)) return;
    }
    expect.fail(`sealed/raw throughput ratios below the guard in every run: ${seen.join(' ; ')}`);
  });
});
