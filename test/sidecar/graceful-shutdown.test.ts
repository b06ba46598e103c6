import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { verifySetupAudit } from '../support/sidecar.js';
import { initDirectory } from '../../src/setup/index.js';
import { mtlsClient, spawnSidecar } from '../support/process-sidecar.js';

describe('SIGTERM', () => {
  test('drains in-flight requests, answers each of them, and exits 0 with a verifiable log', async () => {
    const setup = await initDirectory(mkdtempSync(join(tmpdir(), 'tg-term-')), { port: 0 });
    const sidecar = await spawnSidecar(setup.configFile);
    const client = mtlsClient(setup, setup.files.worker);
    // Open the connections first so the burst below is in flight on established sockets.
    await Promise.all(Array.from({ length: 8 }, () => client.call(sidecar.url, 'GET', '/healthz')));
    const burst = Array.from({ length: 64 }, (_, i) =>
      client.call(sidecar.url, 'POST', '/v1/blocks/allocate', { tenant: 'standard-demo', request_id: `term-${i}`, count: 1 }).then(
        (res) => res.status,
        () => 'connection-error' as const,
      ),
    );
    await new Promise((r) => setTimeout(r, 5));
    const exitCode = await sidecar.kill('SIGTERM');
    const outcomes = await Promise.all(burst);
    client.close();
    expect(exitCode).toBe(0);
    // Every request the server took was answered in full; none got a 5xx.
    expect(outcomes.filter((o) => typeof o === 'number' && o !== 200)).toEqual([]);
    expect(outcomes.filter((o) => o === 200).length).toBeGreaterThan(0);
    const verified = await verifySetupAudit(setup);
    expect(verified.ok).toBe(true);
    // Each acknowledged allocation is in the log.
    expect(verified.records).toBeGreaterThanOrEqual(outcomes.filter((o) => o === 200).length);
  }, 30_000);
});
