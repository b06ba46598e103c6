import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { describe, expect, test } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { REPO_ROOT } from '../support/opa.js';

const CLI = join(REPO_ROOT, 'bin/tenantguard.js');

/** Every command and subcommand registered in src/cli, walked from the program itself (no list to drift). */
function commandPaths(command: Command, prefix: string[] = []): { path: string[]; command: Command }[] {
  return command.commands.flatMap((sub) => {
    const path = [...prefix, sub.name()];
    return [{ path, command: sub }, ...commandPaths(sub, path)];
  });
}

function run(args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: mkdtempSync(join(tmpdir(), 'tg-every-')), env: { ...process.env, TENANTGUARD_CONFIG: '' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('exit', (status) => {
      clearTimeout(timer);
      resolve({ status, stderr });
    });
  });
}

const commands = commandPaths(buildProgram());
/** docs/cli.md: a usage error exits 2, except conformance, whose own table gives 3. */
const usageCode = (path: string[]): number => (path[0] === 'conformance' ? 3 : 2);

describe('docs/cli.md exit codes hold for every command registered in src/cli (issue 17, acceptance)', () => {
  test('the walk finds the documented commands', () => {
    const names = commands.map((c) => c.path.join(' '));
    for (const documented of ['serve', 'init', 'pki issue', 'pki revoke', 'pki list', 'audit verify', 'conformance', 'policy info', 'tenants list', 'tenants erase', 'keys rotate']) {
      expect(names).toContain(documented);
    }
  });

  test.each(commands.map((c) => [c.path.join(' '), c] as const))('%s: an unknown option is a usage error with the documented code, --help exits 0', async (_name, { path }) => {
    const [unknown, help] = await Promise.all([run([...path, '--no-such-option']), run([...path, '--help'])]);
    expect(unknown.status).toBe(usageCode(path));
    expect(unknown.stderr).toMatch(/unknown option '--no-such-option'|unknown command|required option/);
    expect(unknown.stderr).not.toMatch(/\n\s+at /);
    expect(help.status).toBe(0);
  }, 45_000);

  const withRequired = commands.filter((c) => c.command.registeredArguments.some((a) => a.required));
  test.each(withRequired.map((c) => [c.path.join(' '), c] as const))('%s: a missing required argument is a usage error with the documented code', async (_name, { path }) => {
    const { status, stderr } = await run(path);
    expect(status).toBe(usageCode(path));
    expect(stderr).toMatch(/missing required argument|required option/);
  }, 25_000);

  const groups = commands.filter((c) => c.command.commands.length > 0);
  test.each(groups.map((c) => [c.path.join(' '), c] as const))('%s: without a subcommand, or with an unknown one, it is a usage error (exit 2)', async (_name, { path }) => {
    const [bare, unknown] = await Promise.all([run(path), run([...path, 'no-such-subcommand'])]);
    expect(bare.status).toBe(usageCode(path));
    expect(unknown.status).toBe(usageCode(path));
  }, 25_000);
});
