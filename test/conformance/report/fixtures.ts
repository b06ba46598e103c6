import type { ControlDefinition, ControlResult, ControlStatus, Finding, RunReport, Severity } from '../../../conformance/model.js';

export function control(id: string, overrides: Partial<ControlDefinition> = {}): ControlDefinition {
  return {
    id,
    title: `title of ${id}`,
    rationale: `why ${id} matters`,
    severity: 'high',
    invariants: ['I2'],
    references: { soc2: ['CC6.1'], hipaa: ['164.312(a)(1)'] },
    kind: 'probe',
    ...overrides,
  };
}

export function result(id: string, status: ControlStatus, overrides: Partial<ControlResult> & { severity?: Severity; references?: ControlDefinition['references'] } = {}): ControlResult {
  const { severity, references, ...rest } = overrides;
  return {
    control: control(id, { ...(severity ? { severity } : {}), ...(references ? { references } : {}) }),
    status,
    durationMs: 12,
    evidence: [`checked ${id}`],
    ...rest,
  };
}

export const shrunkFinding: Finding = {
  message: "tenant B read tenant A's block before a scrub",
  seed: 1234,
  path: '0:1:1',
  replay: 'tenantguard conformance --only TG-I2-SCRUB-BEFORE-READ --seed 1234 --replay "0:1:1"',
  witness: [
    { step: 1, actor: 'worker(tenant-a)', method: 'POST', path: '/v1/blocks/allocate', status: 200 },
    { step: 2, actor: 'worker(tenant-a)', method: 'POST', path: '/v1/blocks/free', status: 200 },
    { step: 3, actor: 'worker(tenant-b)', method: 'POST', path: '/v1/blocks/access', status: 200, note: 'no TG_ERR_SCRUB_PENDING' },
  ],
};

export function report(results: ControlResult[], overrides: Partial<RunReport> = {}): RunReport {
  return {
    tool: { name: 'tenantguard-conformance', version: '0.1.0' },
    target: 'https://127.0.0.1:9443',
    startedAt: '2025-06-30T10:00:00.000Z',
    finishedAt: '2025-06-30T10:00:12.500Z',
    seed: 42,
    runs: 100,
    results,
    ...overrides,
  };
}
