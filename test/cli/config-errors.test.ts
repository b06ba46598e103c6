import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { REPO_ROOT } from '../support/opa.js';

const CLI = join(REPO_ROOT, 'bin/tenantguard.js');

function serveWith(configText: string): { status: number | null; stderr: string } {
  const file = join(mkdtempSync(join(tmpdir(), 'tg-badcfg-')), 'config.yaml');
  writeFileSync(file, configText);
  const run = spawnSync(process.execPath, [CLI, 'serve', '--config', file], { encoding: 'utf8', timeout: 20_000 });
  return { status: run.status, stderr: run.stderr };
}

describe('tenantguard serve with a malformed config', () => {
  test.each([
    ['not YAML', 'trust_domain: [oops\n', /YAML syntax at line/],
    ['missing sections', 'trust_domain: example.org\n', /listen: .*\n.*paths/s],
    ['wrong type', 'trust_domain: 42\nlisten: {}\npaths: {pki: p, master_key: m, keystore: k, audit: a}\nmodel: {layers: 1, kv_heads: 1, head_dim: 1, dtype: fp16, block_tokens: 1}\npools: [{name: s, first: 0, last: 1}]\n', /trust_domain: /],
    ['empty file', '', /\(top level\)/],
  ])('%s: a precise error, a non-zero exit and no stack trace', (_name, text, expected) => {
    const { status, stderr } = serveWith(text);
    expect(status).not.toBe(0);
    expect(stderr).toMatch(expected);
    expect(stderr).toContain('TG_ERR_CONFIG_INVALID');
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});
