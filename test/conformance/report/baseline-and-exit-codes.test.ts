import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  EXIT_FAILURES,
  EXIT_HARNESS_ERROR,
  EXIT_PASS,
  EXIT_USAGE,
  ReportInputError,
  compareWithBaseline,
  diffWithBaseline,
  exitCodeFor,
  writeJson,
} from '../../../conformance/report/index.js';
import { report, result } from './fixtures.js';

function baselineFile(...results: Parameters<typeof report>[0]): string {
  const file = join(mkdtempSync(join(tmpdir(), 'tg-baseline-')), 'conformance-report.json');
  writeJson(report(results), file);
  return file;
}

describe('compareWithBaseline', () => {
  const baseline = baselineFile(result('TG-KNOWN', 'fail'), result('TG-WAS-WAIVED', 'waived'), result('TG-WAS-OK', 'pass'), result('TG-WAS-ERR', 'error'), result('TG-FIXED', 'fail'));

  test('returns only failures that were not failing in the baseline', () => {
    const now = report([
      result('TG-KNOWN', 'fail'),
      result('TG-WAS-WAIVED', 'fail'),
      result('TG-WAS-OK', 'fail'),
      result('TG-WAS-ERR', 'fail'),
      result('TG-BRAND-NEW', 'fail'),
      result('TG-FIXED', 'pass'),
    ]);
    expect(compareWithBaseline(now, baseline).map((r) => r.control.id)).toEqual(['TG-WAS-OK', 'TG-WAS-ERR', 'TG-BRAND-NEW']);
  });

  test('the diff also tells known failures and fixed controls apart', () => {
    const now = report([result('TG-KNOWN', 'fail'), result('TG-FIXED', 'pass')]);
    const diff = diffWithBaseline(now, { results: [{ control: { id: 'TG-KNOWN' }, status: 'fail' }, { control: { id: 'TG-FIXED' }, status: 'fail' }] });
    expect(diff.knownFailures.map((r) => r.control.id)).toEqual(['TG-KNOWN']);
    expect(diff.newFailures).toEqual([]);
    expect(diff.fixed).toEqual(['TG-FIXED']);
  });

  test('with failOnNew only new failures fail the run', () => {
    const onlyKnown = report([result('TG-KNOWN', 'fail'), result('TG-WAS-OK', 'pass')]);
    expect(exitCodeFor(onlyKnown)).toBe(EXIT_FAILURES);
    expect(exitCodeFor(onlyKnown, { failOnNew: compareWithBaseline(onlyKnown, baseline) })).toBe(EXIT_PASS);
    const withNew = report([result('TG-KNOWN', 'fail'), result('TG-WAS-OK', 'fail')]);
    expect(exitCodeFor(withNew, { failOnNew: compareWithBaseline(withNew, baseline) })).toBe(EXIT_FAILURES);
  });

  test('a missing or malformed baseline is a usage error naming the problem', () => {
    expect(() => compareWithBaseline(report([]), '/nonexistent/baseline.json')).toThrow(ReportInputError);
    const dir = mkdtempSync(join(tmpdir(), 'tg-baseline-'));
    const notJson = join(dir, 'a.json');
    writeFileSync(notJson, '{ nope');
    expect(() => compareWithBaseline(report([]), notJson)).toThrow(/not valid JSON/);
    const wrongShape = join(dir, 'b.json');
    writeFileSync(wrongShape, JSON.stringify({ results: [{ control: { id: 'A' }, status: 'passed' }] }));
    try {
      compareWithBaseline(report([]), wrongShape);
      throw new Error('accepted');
    } catch (error) {
      expect(error).toBeInstanceOf(ReportInputError);
      expect((error as ReportInputError).exitCode).toBe(EXIT_USAGE);
      expect((error as Error).message).toContain('results[0].status');
    }
  });
});

describe('exitCodeFor', () => {
  test('all pass is 0; waived and skipped count as passing', () => {
    expect(exitCodeFor(report([result('A', 'pass'), result('B', 'waived'), result('C', 'skipped')]))).toBe(EXIT_PASS);
  });

  test('a failure is 1', () => {
    expect(exitCodeFor(report([result('A', 'pass'), result('B', 'fail')]))).toBe(EXIT_FAILURES);
  });

  test('a harness error takes precedence over failures, with or without failOnNew', () => {
    const run = report([result('A', 'fail'), result('B', 'error')]);
    expect(exitCodeFor(run)).toBe(EXIT_HARNESS_ERROR);
    expect(exitCodeFor(run, { failOnNew: [] })).toBe(EXIT_HARNESS_ERROR);
  });

  test('a run-level harness error (target unreachable) is 2', () => {
    expect(exitCodeFor(report([], { harnessErrors: ['target unreachable: ECONNREFUSED'] }))).toBe(EXIT_HARNESS_ERROR);
  });

  test('the codes are the documented 0/1/2/3', () => {
    expect([EXIT_PASS, EXIT_FAILURES, EXIT_HARNESS_ERROR, EXIT_USAGE]).toEqual([0, 1, 2, 3]);
  });
});
