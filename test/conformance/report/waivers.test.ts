import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { Waiver } from '../../../conformance/model.js';
import { EXIT_USAGE, ReportInputError, applyWaivers, loadWaivers, unmatchedWaivers } from '../../../conformance/report/index.js';
import { result } from './fixtures.js';

function write(name: string, text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'tg-waivers-')), name);
  writeFileSync(file, text);
  return file;
}

function problemsOf(name: string, text: string): string {
  try {
    loadWaivers(write(name, text));
  } catch (error) {
    expect(error).toBeInstanceOf(ReportInputError);
    expect((error as ReportInputError).exitCode).toBe(EXIT_USAGE);
    return (error as Error).message;
  }
  throw new Error('waiver file was accepted');
}

const today = new Date('2025-06-30T12:00:00Z');
const waiver = (control: string, expires: string): Waiver => ({ control, justification: 'compensating control: operator-only scrape', approver: 'jane@example.com', expires });

describe('loadWaivers', () => {
  test('reads a YAML file with unquoted dates', () => {
    const file = write(
      'waivers.yaml',
      `waivers:
  - control: TG-M1-METRICS
    justification: tracked in SEC-1234
    approver: jane@example.com
    expires: 2025-09-30
`,
    );
    expect(loadWaivers(file)).toEqual([{ control: 'TG-M1-METRICS', justification: 'tracked in SEC-1234', approver: 'jane@example.com', expires: '2025-09-30' }]);
  });

  test('reads the same shape from JSON', () => {
    const file = write('waivers.json', JSON.stringify({ waivers: [waiver('TG-A', '2025-07-01')] }));
    expect(loadWaivers(file)).toEqual([waiver('TG-A', '2025-07-01')]);
  });

  test('a malformed entry is named by index and control, with the field at fault', () => {
    const message = problemsOf(
      'waivers.yaml',
      `waivers:
  - { control: TG-OK, justification: fine, approver: a, expires: 2025-12-31 }
  - { control: TG-BAD-DATE, justification: fine, approver: a, expires: 2025-02-30 }
  - { control: TG-NO-APPROVER, justification: fine, expires: 2025-12-31 }
  - { justification: "", approver: a, expires: "next week" }
`,
    );
    expect(message).toContain('waivers[1] (TG-BAD-DATE): expires: must be a date YYYY-MM-DD');
    expect(message).toMatch(/waivers\[2\] \(TG-NO-APPROVER\): approver: /);
    expect(message).toMatch(/waivers\[3\]: control: /);
    expect(message).toContain('waivers[3]: justification: must say why the failure is accepted');
    expect(message).toContain('waivers[3]: expires: must be a date YYYY-MM-DD');
    expect(message).not.toContain('waivers[0]');
  });

  test('a misspelt field is refused rather than ignored', () => {
    expect(problemsOf('w.yaml', 'waivers:\n  - { control: TG-A, justification: j, approver: a, expiry: 2025-12-31 }\n')).toMatch(/waivers\[0\] \(TG-A\): .*expiry/);
  });

  test('two waivers for the same control are refused', () => {
    const text = JSON.stringify({ waivers: [waiver('TG-A', '2025-07-01'), waiver('TG-A', '2026-01-01')] });
    expect(problemsOf('w.json', text)).toContain('waivers[1] (TG-A): a second waiver for this control (first is waivers[0])');
  });

  test('a YAML syntax error, a missing file and a file without a waivers list are usage errors', () => {
    expect(problemsOf('w.yaml', 'waivers: [ { control: TG-A\n')).toMatch(/syntax error at line \d+/);
    expect(() => loadWaivers('/nonexistent/waivers.yaml')).toThrow(/cannot read the file/);
    expect(problemsOf('w.yaml', 'just a string\n')).toContain('expected a mapping with a `waivers:` list');
    expect(problemsOf('w.yaml', 'waiver: []\n')).toMatch(/waivers: /);
  });
});

describe('applyWaivers', () => {
  test('a valid waiver turns a failure into "waived" and attaches the waiver', () => {
    const [waived] = applyWaivers([result('TG-A', 'fail')], [waiver('TG-A', '2025-07-31')], today);
    expect(waived!.status).toBe('waived');
    expect(waived!.waiver).toEqual(waiver('TG-A', '2025-07-31'));
    expect(waived!.evidence.at(-1)).toContain('failure waived until 2025-07-31 (approved by jane@example.com)');
  });

  test('a waiver expiring today is still valid', () => {
    expect(applyWaivers([result('TG-A', 'fail')], [waiver('TG-A', '2025-06-30')], today)[0]!.status).toBe('waived');
  });

  test('an expired waiver does not waive: the control stays failing and the evidence says so', () => {
    const [failing] = applyWaivers([result('TG-A', 'fail')], [waiver('TG-A', '2025-06-29')], today);
    expect(failing!.status).toBe('fail');
    expect(failing!.waiver).toBeUndefined();
    expect(failing!.expiredWaiver).toEqual(waiver('TG-A', '2025-06-29'));
    expect(failing!.evidence.at(-1)).toBe('waiver expired on 2025-06-29 (approved by jane@example.com); the failure counts');
  });

  test('errors and skips are never waived; a passing control notes its waiver is no longer needed', () => {
    const out = applyWaivers(
      [result('TG-E', 'error'), result('TG-S', 'skipped'), result('TG-P', 'pass')],
      [waiver('TG-E', '2099-01-01'), waiver('TG-S', '2099-01-01'), waiver('TG-P', '2099-01-01')],
      today,
    );
    expect(out.map((r) => r.status)).toEqual(['error', 'skipped', 'pass']);
    expect(out[2]!.evidence.at(-1)).toContain('no longer needed');
  });

  test('the input results are not modified, and waivers for other controls change nothing', () => {
    const input = [result('TG-A', 'fail'), result('TG-B', 'fail')];
    const out = applyWaivers(input, [waiver('TG-A', '2099-01-01')], today);
    expect(input[0]!.status).toBe('fail');
    expect(input[0]!.evidence).toHaveLength(1);
    expect(out[1]).toBe(input[1]);
  });

  test('unmatchedWaivers lists waivers for controls that did not run', () => {
    expect(unmatchedWaivers([result('TG-A', 'fail')], [waiver('TG-A', '2099-01-01'), waiver('TG-TYPO', '2099-01-01')]).map((w) => w.control)).toEqual(['TG-TYPO']);
  });
});
