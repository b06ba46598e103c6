import { afterEach, describe, expect, test } from 'vitest';
import { ConformanceTarget, runConformance, spawnTarget, type RunReport, type SpawnedTarget } from '../../conformance/index.js';
import type { ComponentOverrides } from '../../src/sidecar/index.js';
import { adapterOwnerIgnored, contentWrittenToAudit, crossTenantOffloadRead, metricsViewLeaks, ownershipCheckSkipped, scrubSkipped } from './broken-sidecars.js';

let spawned: SpawnedTarget | undefined;
afterEach(async () => {
  await spawned?.close();
  spawned = undefined;
});

async function run(only: string[], overrides?: ComponentOverrides, extra: { seed?: number; replayPath?: string } = {}): Promise<RunReport> {
  spawned = await spawnTarget(overrides ? { overrides } : {});
  const target = new ConformanceTarget(spawned.description);
  try {
    return await runConformance({ target, freshTarget: true, seed: extra.seed ?? 7, runs: 40, only, ...(extra.replayPath ? { replayPath: extra.replayPath } : {}) });
  } finally {
    target.close();
  }
}

const statusOf = (report: RunReport, id: string) => report.results.find((r) => r.control.id === id);

describe('the conformance harness', () => {
  test('against the correct sidecar every control passes', async () => {
    const report = await run([]);
    expect(report.results.length).toBeGreaterThanOrEqual(20);
    expect(report.results.filter((r) => r.status !== 'pass').map((r) => `${r.control.id}: ${r.finding?.message ?? r.error ?? r.status}`)).toEqual([]);
  }, 120_000);

  test.each([
    ['ownership check skipped', ownershipCheckSkipped, 'TG-I4-OWNER-ONLY'],
    ['scrub skipped', scrubSkipped, 'TG-I2-SCRUB-BEFORE-READ'],
    ['adapter owner ignored', adapterOwnerIgnored, 'TG-A1-ADAPTER-OWNER'],
    ['metrics view leaking other tenants', metricsViewLeaks, 'TG-M1-TENANT-METRICS'],
    ['cross-tenant offload read', crossTenantOffloadRead, 'TG-K1-OFFLOAD-ISOLATION'],
  ] as const)('a sidecar with %s fails %s with a replayable, shrunk witness', async (_name, overrides, controlId) => {
    const report = await run([controlId], overrides);
    const result = statusOf(report, controlId)!;
    expect(result.status).toBe('fail');
    expect(result.finding?.seed).toBe(7);
    expect(result.finding?.path).toMatch(/^\d+(:\d+)*(#\S+)?$/);
    expect(result.finding?.witness?.length).toBeGreaterThan(0);
    expect(result.finding?.replay).toContain(`--only ${controlId} --seed 7 --replay`);
  }, 60_000);

  test('a sidecar writing request content into the audit log fails TG-L1-NO-CONTENT-IN-AUDIT', async () => {
    const report = await run(['TG-L1-NO-CONTENT-IN-AUDIT'], contentWrittenToAudit());
    const result = statusOf(report, 'TG-L1-NO-CONTENT-IN-AUDIT')!;
    expect(result.status).toBe('fail');
    expect(result.finding?.message).toMatch(/found CANARY-/);
  }, 60_000);

  test('a finding replays from its seed and path', async () => {
    const first = statusOf(await run(['TG-I4-OWNER-ONLY'], ownershipCheckSkipped, { seed: 11 }), 'TG-I4-OWNER-ONLY')!;
    await spawned?.close();
    const again = statusOf(await run(['TG-I4-OWNER-ONLY'], ownershipCheckSkipped, { seed: first.finding!.seed!, replayPath: first.finding!.path! }), 'TG-I4-OWNER-ONLY')!;
    expect(again.error).toBeUndefined();
    expect(again.status).toBe('fail');
    expect(again.finding?.message.replace(/\d+/g, 'N')).toBe(first.finding?.message.replace(/\d+/g, 'N'));
  }, 60_000);

  test('the L1 response search catches another tenant\'s content served to a worker acting for someone else', async () => {
    const report = await run(['TG-K1-OFFLOAD-ISOLATION', 'TG-L1-NO-CROSS-TENANT-RESPONSES'], crossTenantOffloadRead);
    expect(statusOf(report, 'TG-L1-NO-CROSS-TENANT-RESPONSES')?.status).toBe('fail');
  }, 60_000);
});
