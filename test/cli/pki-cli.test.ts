import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { initDirectory, type InitResult } from '../../src/setup/index.js';
import { REPO_ROOT } from '../support/opa.js';

const CLI = join(REPO_ROOT, 'bin/tenantguard.js');

let setup: InitResult;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tg-pki-cli-'));
  setup = await initDirectory(dir, { port: 0 });
}, 60_000);

function pki(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'pki', ...args, '--config', setup.configFile], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const serialOf = (file: string): string => new X509Certificate(readFileSync(file)).serialNumber.toLowerCase().replace(/^0+/, '');
const revokedList = (): string => (existsSync(join(dir, 'pki', 'revoked.json')) ? readFileSync(join(dir, 'pki', 'revoked.json'), 'utf8') : '');

describe('tenantguard pki refuses what it cannot stand behind (issue 17.8)', () => {
  test('revoking a serial this PKI never issued exits 2 naming it, and revokes nothing', () => {
    const before = revokedList();
    const result = pki('revoke', 'deadbeef');
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/deadbeef/);
    expect(result.stderr).toMatch(/TG_ERR_PKI_UNKNOWN_SERIAL/);
    expect(revokedList()).toBe(before);
  });

  test('revoking an issued certificate works, also after it was renewed (its old serial is remembered)', () => {
    const file = join(dir, 'pki', 'tenant', 'standard-demo.crt');
    const old = serialOf(file);
    expect(pki('issue', 'tenant', 'standard-demo').status).toBe(0);
    expect(serialOf(file)).not.toBe(old);
    const revokeOld = pki('revoke', old);
    expect(revokeOld.stderr).toBe('');
    expect(revokeOld.status).toBe(0);
    expect(pki('revoke', serialOf(file)).status).toBe(0);
    expect(revokedList()).toContain(old);
  });

  test('--force revokes a serial the directory has no record of (e.g. issued from a copy of the CA)', () => {
    const result = pki('revoke', 'abcdef0123', '--force');
    expect(result.status).toBe(0);
    expect(revokedList()).toContain('abcdef0123');
  });

  test('issuing a tenant certificate for a tenant not in the config exits 2 and writes nothing, unless --force', () => {
    const refused = pki('issue', 'tenant', 'acme');
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/acme.*not .*config/);
    expect(refused.stderr).toMatch(/--force/);
    expect(existsSync(join(dir, 'pki', 'tenant', 'acme.crt'))).toBe(false);
    const forced = pki('issue', 'tenant', 'acme', '--force');
    expect(forced.status).toBe(0);
    expect(existsSync(join(dir, 'pki', 'tenant', 'acme.crt'))).toBe(true);
  });

  test('issuing for a configured tenant, a worker or an operator needs no --force', () => {
    expect(pki('issue', 'tenant', 'free-demo').status).toBe(0);
    expect(pki('issue', 'worker', 'worker-2').status).toBe(0);
    expect(pki('issue', 'operator', 'ops-2').status).toBe(0);
  });
});
