import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { REPO_ROOT } from '../support/opa.js';

const CLI = join(REPO_ROOT, 'bin/tenantguard.js');

describe('tenantguard conformance --spawn', () => {
  test('a first run needs no setup, passes every control and writes every report format', () => {
    const out = mkdtempSync(join(tmpdir(), 'tg-conformance-cli-'));
    const run = spawnSync(process.execPath, [CLI, 'conformance', '--spawn', '--out', out, '--seed', '5'], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/SOC 2: 6\/6 references covered/);
    expect(run.stdout).toMatch(/HIPAA: 7\/7 references covered/);
    for (const file of ['conformance-report.json', 'conformance-junit.xml', 'conformance-report.html']) expect(existsSync(join(out, file))).toBe(true);
    const report = JSON.parse(readFileSync(join(out, 'conformance-report.json'), 'utf8')) as { results: { status: string }[] };
    expect(report.results.length).toBeGreaterThanOrEqual(20);
    expect(report.results.every((r) => r.status === 'pass')).toBe(true);
  }, 150_000);

  test('without --spawn or --target it is a usage error (exit 3)', () => {
    const run = spawnSync(process.execPath, [CLI, 'conformance'], { encoding: 'utf8', timeout: 20_000 });
    expect(run.status).toBe(3);
    expect(run.stderr).toMatch(/--spawn/);
  });
});
