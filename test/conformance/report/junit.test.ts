import { describe, expect, test } from 'vitest';
import { toJUnitXml } from '../../../conformance/report/index.js';
import { report, result, shrunkFinding } from './fixtures.js';
import { findAll, parseXml } from './xml-check.js';

const hostile = `<tag attr="x"> & 'quoted' ]]> \u0001`;

const run = report([
  result('TG-PASS', 'pass'),
  result('TG-I2-SCRUB-BEFORE-READ', 'fail', { finding: shrunkFinding, evidence: [`response body contained ${hostile}`] }),
  result('TG-ERR', 'error', { error: `connect ECONNREFUSED <127.0.0.1> & "boom"` }),
  result('TG-WAIVED', 'waived', {
    finding: { message: 'metrics leak' },
    waiver: { control: 'TG-WAIVED', justification: `accepted "risk" <until> Q3 & it's tracked`, approver: 'ciso', expires: '2099-01-01' },
  }),
  result('TG-SKIP', 'skipped', { evidence: ['skipped: needs a Unix socket'] }),
]);

describe('toJUnitXml', () => {
  test('is well-formed XML: one root, balanced tags, quoted attributes, valid entities', () => {
    const root = parseXml(toJUnitXml(run));
    expect(root.name).toBe('testsuites');
    expect(findAll(root, 'testsuite')).toHaveLength(1);
    expect(findAll(root, 'testcase')).toHaveLength(5);
  });

  test('suite counts match the results (waived counts as skipped)', () => {
    const suite = findAll(parseXml(toJUnitXml(run)), 'testsuite')[0]!;
    expect(suite.attributes).toMatchObject({ tests: '5', failures: '1', errors: '1', skipped: '2', time: '12.500' });
  });

  test('escapes < & " \' in text and attributes and survives characters XML forbids', () => {
    const xml = toJUnitXml(run);
    expect(xml).not.toContain('<tag attr');
    expect(xml).toContain('&lt;tag attr=&quot;x&quot;&gt; &amp; &#39;quoted&#39;');
    expect(xml).not.toContain('\u0001');
    const root = parseXml(xml);
    const failing = findAll(root, 'testcase').find((t) => t.attributes['name']!.startsWith('TG-I2'))!;
    expect(failing.children.find((c) => c.name === 'system-out')!.text).toContain(`response body contained <tag attr="x"> & 'quoted' ]]> \\u0001`);
    const error = findAll(root, 'error')[0]!;
    expect(error.attributes['message']).toBe(`connect ECONNREFUSED <127.0.0.1> & "boom"`);
  });

  test('a failure carries its message, seed, replay command and every witness step', () => {
    const failure = findAll(parseXml(toJUnitXml(run)), 'failure')[0]!;
    expect(failure.attributes['message']).toBe(shrunkFinding.message);
    expect(failure.attributes['type']).toBe('high');
    expect(failure.text).toContain('seed: 1234');
    expect(failure.text).toContain('path: 0:1:1');
    expect(failure.text).toContain(`replay: ${shrunkFinding.replay}`);
    expect(failure.text).toContain('witness (3 steps):');
    expect(failure.text).toContain('#1 worker(tenant-a) POST /v1/blocks/allocate -> 200');
    expect(failure.text).toContain('#3 worker(tenant-b) POST /v1/blocks/access -> 200 (no TG_ERR_SCRUB_PENDING)');
  });

  test('waived and skipped controls are <skipped>; a waived one says why, with approver and expiry', () => {
    const cases = findAll(parseXml(toJUnitXml(run)), 'testcase');
    const waived = cases.find((t) => t.attributes['name']!.startsWith('TG-WAIVED'))!;
    expect(waived.children[0]).toMatchObject({ name: 'skipped' });
    expect(waived.children[0]!.attributes['message']).toBe(`waived until 2099-01-01 by ciso: accepted "risk" <until> Q3 & it's tracked`);
    const skipped = cases.find((t) => t.attributes['name']!.startsWith('TG-SKIP'))!;
    expect(skipped.children[0]!.attributes['message']).toBe('skipped: needs a Unix socket');
  });

  test('run-level harness errors become error testcases', () => {
    const root = parseXml(toJUnitXml(report([], { harnessErrors: ['target unreachable: ECONNREFUSED'] })));
    expect(findAll(root, 'error').map((e) => e.attributes['message'])).toEqual(['target unreachable: ECONNREFUSED']);
    expect(findAll(root, 'testsuite')[0]!.attributes['errors']).toBe('1');
  });

  test('multi-line messages stay in the attribute as character references', () => {
    const xml = toJUnitXml(report([result('TG-ML', 'fail', { finding: { message: 'line one\nline two' } })]));
    expect(xml).toContain('message="line one&#10;line two"');
    expect(findAll(parseXml(xml), 'failure')[0]!.attributes['message']).toBe('line one\nline two');
  });
});
