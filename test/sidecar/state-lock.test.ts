import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, test } from 'vitest';
import { verifySetupAudit } from '../support/sidecar.js';
import { loadConfig } from '../../src/config/index.js';
import { initDirectory } from '../../src/setup/index.js';
import { startSidecar } from '../../src/sidecar/index.js';
import { LOCK_FILE } from '../../src/sidecar/state-lock.js';
import { REPO_ROOT } from '../support/opa.js';
import { mtlsClient, spawnSidecar } from '../support/process-sidecar.js';

const quiet = { logger: pino({ level: 'silent' }), watchIntervalMs: 100, drainTimeoutMs: 1000 };

/** `tenantguard serve` run to completion (it should refuse to start; one that serves is killed after 10 s). */
function serveOnce(configFile: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/tenantguard.js'), 'serve', '--config', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('one sidecar per state directory', () => {
  test('a second sidecar in the same process is refused with TG_ERR_STATE_LOCKED; the first keeps serving and the lock is free after close', async () => {
    const setup = await initDirectory(mkdtempSync(join(tmpdir(), 'tg-lock-')), { port: 0 });
    const config = loadConfig(setup.configFile);
    const first = await startSidecar(config, quiet);
    await expect(startSidecar(config, quiet)).rejects.toMatchObject({ code: 'TG_ERR_STATE_LOCKED' });
    const client = mtlsClient(setup, setup.files.worker);
    const res = await client.call(first.url, 'POST', '/v1/blocks/allocate', { tenant: 'free-demo', request_id: 'r1', count: 1 });
    expect(res.status).toBe(200);
    client.close();
    await first.close();
    expect(existsSync(join(config.paths.audit, LOCK_FILE))).toBe(false);
    const again = await startSidecar(config, quiet);
    await again.close();
  });

  test('a second `tenantguard serve` on a running sidecar\'s config exits 2 naming the holder, and touches neither its audit log nor its Unix socket', async () => {
    const setup = await initDirectory(mkdtempSync(join(tmpdir(), 'tg-lock-')), { port: 0 });
    const socketPath = join(setup.dir, 'worker.sock');
    writeFileSync(setup.configFile, readFileSync(setup.configFile, 'utf8').replace('listen:\n', `listen:\n  unix_socket: ${socketPath}\n`));
    const running = await spawnSidecar(setup.configFile);
    const socketBefore = statSync(socketPath).ino;
    const second = await serveOnce(setup.configFile);
    expect(second.code).toBe(2);
    expect(second.stderr).toContain('[TG_ERR_STATE_LOCKED]');
    expect(second.stderr).toContain(`pid ${running.child.pid}`);
    expect(statSync(socketPath).ino).toBe(socketBefore);
    const client = mtlsClient(setup, setup.files.worker);
    expect((await client.call(running.url, 'POST', '/v1/blocks/allocate', { tenant: 'free-demo', request_id: 'r1', count: 1 })).status).toBe(200);
    client.close();
    await running.kill('SIGTERM');
    expect((await verifySetupAudit(setup)).ok).toBe(true);
  });

  test('a lock left by a process that no longer exists is taken over (restart after SIGKILL needs no person)', async () => {
    const setup = await initDirectory(mkdtempSync(join(tmpdir(), 'tg-lock-')), { port: 0 });
    const config = loadConfig(setup.configFile);
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(gone.stdout);
    const killed = await spawnSidecar(setup.configFile);
    await killed.kill('SIGKILL');
    // The killed sidecar's lock files are still there; make one name a pid that has already exited too.
    expect(existsSync(join(config.paths.audit, LOCK_FILE))).toBe(true);
    writeFileSync(join(config.paths.offload, LOCK_FILE), `${deadPid}\n`);
    const restarted = await startSidecar(config, quiet);
    expect(readFileSync(join(config.paths.audit, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`);
    await restarted.close();
  });

  test('a start that fails after opening the state (port in use) releases the lock: the next start on the same directories works', async () => {
    const setup = await initDirectory(mkdtempSync(join(tmpdir(), 'tg-lock-')), { port: 0 });
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as AddressInfo).port;
    const config = { ...loadConfig(setup.configFile), listen: { host: '127.0.0.1', port } };
    await expect(startSidecar(config, quiet)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect(existsSync(join(config.paths.audit, LOCK_FILE))).toBe(false);
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    const started = await startSidecar(config, quiet);
    expect(started.port).toBe(port);
    await started.close();
  });
});
