import { describe, expect, test } from 'vitest';
import { FRAMEWORK_REFERENCES, summarize } from '../../../conformance/report/index.js';
import { report, result } from './fixtures.js';

describe('summarize', () => {
  const run = report([
    result('TG-I2-SCRUB', 'pass', { severity: 'critical', references: { soc2: ['CC6.1', 'CC6.7'], hipaa: ['164.312(a)(1)'] } }),
    result('TG-I4-OWNER', 'fail', { severity: 'high', references: { soc2: ['CC6.1'], hipaa: ['164.312(a)(1)', '164.312(b)'] } }),
    result('TG-L2-CHAIN', 'waived', { severity: 'medium', references: { soc2: ['CC7.2'], hipaa: ['164.312(b)', '164.312(c)(1)'] } }),
    result('TG-N1-ROLES', 'error', { severity: 'high', references: { soc2: ['CC6.3'], hipaa: ['164.312(d)'] } }),
    result('TG-K1-SHRED', 'skipped', { severity: 'low', references: { soc2: [], hipaa: ['164.312(a)(2)(iv)'] } }),
  ]);

  test('counts results by status and by severity', () => {
    const s = summarize(run);
    expect(s.byStatus).toEqual({ total: 5, pass: 1, fail: 1, error: 1, waived: 1, skipped: 1 });
    expect(s.bySeverity.high).toEqual({ total: 2, pass: 0, fail: 1, error: 1, waived: 0, skipped: 0 });
    expect(s.bySeverity.critical.pass).toBe(1);
    expect(s.durationMs).toBe(12_500);
    expect(s.outcome).toBe('error');
  });

  test('every catalogued SOC 2 and HIPAA reference gets a row, in catalogue order', () => {
    const s = summarize(run);
    expect(s.frameworks.soc2.references.map((r) => r.reference)).toEqual(['CC6.1', 'CC6.3', 'CC6.6', 'CC6.7', 'CC7.2', 'CC8.1']);
    expect(s.frameworks.hipaa.references.map((r) => r.reference)).toEqual(FRAMEWORK_REFERENCES.hipaa.map((r) => r.id));
    expect(s.frameworks.hipaa.total).toBe(7);
  });

  test('a reference lists the controls that map to it and is failing if any of them fails', () => {
    const cc61 = summarize(run).frameworks.soc2.references.find((r) => r.reference === 'CC6.1')!;
    expect(cc61.controls.map((c) => [c.id, c.status])).toEqual([
      ['TG-I2-SCRUB', 'pass'],
      ['TG-I4-OWNER', 'fail'],
    ]);
    expect(cc61.state).toBe('failing');
  });

  test('a reference whose controls pass or are waived is passing; errored and skipped ones are not', () => {
    const { soc2, hipaa } = summarize(run).frameworks;
    expect(soc2.passing).toEqual(['CC6.7', 'CC7.2']);
    expect(soc2.failing).toEqual(['CC6.1']);
    expect(soc2.errored).toEqual(['CC6.3']);
    expect(hipaa.failing).toEqual(['164.312(a)(1)', '164.312(b)']);
    expect(hipaa.passing).toEqual(['164.312(c)(1)']);
    expect(hipaa.untested).toEqual(['164.312(a)(2)(iv)']);
  });

  test('a reference no control maps to is "not covered"', () => {
    const { soc2, hipaa } = summarize(run).frameworks;
    expect(soc2.notCovered).toEqual(['CC6.6', 'CC8.1']);
    expect(soc2.covered).toBe(4);
    expect(soc2.references.find((r) => r.reference === 'CC8.1')).toMatchObject({ state: 'not-covered', controls: [] });
    expect(hipaa.notCovered).toEqual(['164.312(e)(1)', '164.308(a)(1)(ii)(D)']);
  });

  test('an empty run covers nothing', () => {
    const s = summarize(report([]));
    expect(s.frameworks.soc2.covered).toBe(0);
    expect(s.frameworks.soc2.notCovered).toHaveLength(6);
    expect(s.outcome).toBe('pass');
  });

  test('references match the catalogue regardless of case, spaces and "§"; unknown ones are flagged, not dropped', () => {
    const s = summarize(
      report([result('TG-X', 'pass', { references: { soc2: ['cc6.6', 'CC9.9'], hipaa: ['§ 164.308(A)(1)(II)(d)'] } })]),
    );
    expect(s.frameworks.soc2.passing).toEqual(['CC6.6']);
    expect(s.frameworks.soc2.uncatalogued).toEqual(['CC9.9']);
    expect(s.frameworks.soc2.references.at(-1)).toMatchObject({ reference: 'CC9.9', catalogued: false });
    expect(s.frameworks.soc2.total).toBe(6);
    expect(s.frameworks.hipaa.passing).toEqual(['164.308(a)(1)(ii)(D)']);
  });

  test('a run-level harness error makes the outcome "error"', () => {
    expect(summarize(report([result('A', 'pass')], { harnessErrors: ['target unreachable'] })).outcome).toBe('error');
    expect(summarize(report([result('A', 'fail')])).outcome).toBe('fail');
  });
});
