import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { JSON_REPORT_FORMAT, writeReports, type JsonReport } from '../../../conformance/report/index.js';
import { report, result, shrunkFinding } from './fixtures.js';
import { parseXml } from './xml-check.js';

describe('writeReports', () => {
  const run = report([result('TG-A', 'fail', { finding: shrunkFinding }), result('TG-B', 'pass')]);

  test('writes the three files under their fixed names into a new directory', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'tg-reports-')), 'nested', 'out');
    const written = writeReports(run, { dir, formats: ['html', 'json', 'junit'] });
    expect(written).toEqual(['conformance-report.json', 'conformance-junit.xml', 'conformance-report.html'].map((f) => join(dir, f)));
    expect(() => parseXml(readFileSync(join(dir, 'conformance-junit.xml'), 'utf8'))).not.toThrow();
    expect(readFileSync(join(dir, 'conformance-report.html'), 'utf8')).toMatch(/^<!DOCTYPE html>/);
  });

  test('the JSON report is the RunReport plus its summary', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-reports-'));
    writeReports(run, { dir, formats: ['json'] });
    const json = JSON.parse(readFileSync(join(dir, 'conformance-report.json'), 'utf8')) as JsonReport;
    expect(json.format).toBe(JSON_REPORT_FORMAT);
    expect(json.results).toEqual(run.results);
    expect(json.seed).toBe(42);
    expect(json.summary.byStatus).toMatchObject({ total: 2, pass: 1, fail: 1 });
    expect(json.summary.frameworks.soc2.failing).toEqual(['CC6.1']);
  });

  test('only the requested formats are written', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-reports-'));
    writeReports(run, { dir, formats: ['junit'] });
    expect(existsSync(join(dir, 'conformance-junit.xml'))).toBe(true);
    expect(existsSync(join(dir, 'conformance-report.json'))).toBe(false);
    expect(existsSync(join(dir, 'conformance-report.html'))).toBe(false);
  });
});
