import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { REPO_ROOT } from '../support/opa.js';

const CLI = join(REPO_ROOT, 'bin/tenantguard.js');

function run(args: string[]): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000, cwd: mkdtempSync(join(tmpdir(), 'tg-usage-')) });
  return { status: result.status, stderr: result.stderr };
}

describe('usage errors exit with the documented code and name what is wrong (issue 17.1, 17.2, 17.3)', () => {
  test.each([
    // [args, exit code per docs/cli.md, what stderr must name]
    [['init', 'setup', '--port', '99999'], 2, /--port .*0 to 65535/],
    [['init', 'setup', '--port', '84x'], 2, /--port .*0 to 65535/],
    [["init", "setup", "--trust-domain", "Bad Domain!"], 2, /--trust-domain .*lowercase letters/],
    [['tenants', 'erase', 'free-demo'], 2, /--yes/],
    [['audit', 'verify', '--bogus'], 2, /unknown option '--bogus'/],
    [['conformance', '--bogus'], 3, /unknown option '--bogus'/],
    [['conformance', '--spawn', '--runs', 'abc'], 3, /--runs .*at least 1/],
    [['conformance', '--spawn', '--runs', '0'], 3, /--runs .*at least 1/],
    [['conformance', '--spawn', '--format', 'pdf'], 3, /unknown report format pdf/],
    // Issue 17.3: a selector that matches nothing ran 0 controls and passed.
    [['conformance', '--spawn', '--only', 'NOPE'], 3, /--only NOPE matches no control/],
    [['conformance', '--spawn', '--skip', 'TG-NOPE-*'], 3, /--skip TG-NOPE-\* matches no control/],
    [['conformance', '--spawn', '--only', 'soc2', '--skip', 'soc2'], 3, /no control left to run/],
  ] as const)('%j → exit %i', (args, code, named) => {
    const { status, stderr } = run([...args]);
    expect(status).toBe(code);
    expect(stderr).toMatch(named);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  test('a waiver naming a control that does not exist is a usage error (exit 3) naming it (issue 17.3)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-usage-waiver-'));
    const file = join(dir, 'waivers.yaml');
    writeFileSync(file, 'waivers:\n  - control: TG-I2-NOPE\n    justification: typo in the id\n    approver: ciso\n    expires: 2999-01-01\n');
    const { status, stderr } = run(['conformance', '--spawn', '--waivers', file]);
    expect(status).toBe(3);
    expect(stderr).toMatch(/waivers\[0\] \(TG-I2-NOPE\): no such control/);
  });

  test('--help and --version still exit 0', () => {
    expect(run(['--help']).status).toBe(0);
    expect(run(['--version']).status).toBe(0);
    expect(run(['conformance', '--help']).status).toBe(0);
  });
});
