import { chmodSync, readFileSync, rmSync, unwatchFile, watchFile } from 'node:fs';
import { createServer as createPlainServer, type Server as PlainServer } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { AuditLog } from '../audit/index.js';
import { AdmissionController } from '../admission/index.js';
import { AuditTrail, GuardedAdapters, GuardedAdmission, GuardedBlocks } from '../enforcement/index.js';
import { TenantMetrics } from '../metrics/index.js';
import { restoreStateFromAudit } from './restore-state.js';
import type { SidecarConfig } from '../config/index.js';
import { createApp, type SidecarServices } from '../http/index.js';
import { ApiKeyRegistry } from '../identity/index.js';
import { loadRevocationList, pkiPaths, type RevocationList } from '../pki/index.js';
import { PolicyEngine, REQUIRED_ENTRYPOINTS } from '../policy/index.js';
import { registryData } from './registry-data.js';

export const SERVER_CERT_ID = 'tenantguard';

export interface StartOptions {
  readonly logger?: Logger;
  /** How often watched files (bundle, revocations, server cert) are polled. */
  readonly watchIntervalMs?: number;
  /** How long close() waits for in-flight requests before cutting connections. */
  readonly drainTimeoutMs?: number;
}

export interface RunningSidecar {
  readonly url: string;
  readonly port: number;
  readonly services: SidecarServices;
  close(): Promise<void>;
}

/**
 * Builds the services from a config and starts HTTPS with mandatory TLS 1.3 and client-certificate
 * requests. The sidecar starts even without a loadable policy so /readyz can say why; until a
 * bundle loads, every decision is a deny (fail closed).
 */
export async function startSidecar(config: SidecarConfig, options: StartOptions = {}): Promise<RunningSidecar> {
  const logger = options.logger ?? pino({ level: process.env['TENANTGUARD_LOG_LEVEL'] ?? 'info' });
  const interval = options.watchIntervalMs ?? 1000;
  const pki = pkiPaths(config.paths.pki);

  const policy = new PolicyEngine({ bundlePath: config.paths.policyBundle, requiredEntrypoints: REQUIRED_ENTRYPOINTS, externalData: registryData(config) });
  const loaded = await policy.reload();
  if (loaded.ok) logger.info({ revision: loaded.info.revision }, 'policy bundle loaded');
  else logger.error({ problem: loaded.error }, 'no policy bundle loaded: denying everything until one loads');
  policy.watch((result) => {
    if (result.ok) logger.info({ revision: result.info.revision }, 'policy bundle reloaded');
    else logger.error({ problem: result.error, kept: result.kept?.revision ?? null }, 'policy bundle refused');
  }, interval);

  // Revocations take effect without a restart: the list is re-read when revoked.json changes and
  // checked on every request, not only at handshake time.
  let revoked: RevocationList = await loadRevocationList(config.paths.pki);
  watchFile(pki.revocationList, { interval }, () => {
    loadRevocationList(config.paths.pki).then(
      (list) => {
        revoked = list;
        logger.info({ revoked: list.serials.length }, 'revocation list reloaded');
      },
      // A corrupt list keeps the previous one: dropping it would un-revoke every certificate.
      () => logger.error('revocation list unreadable; keeping the previous one'),
    );
  });

  const audit = await AuditLog.open({ dir: config.paths.audit });
  const { ledger, adapters } = await restoreStateFromAudit(config, audit, logger).catch(async (error: unknown) => {
    await audit.close();
    throw error;
  });

  const trail = new AuditTrail(audit, () => policy.info?.revision);
  const tenantIds = config.tenants.map((t) => t.id);
  const metrics = new TenantMetrics({ tenants: () => tenantIds, usage: (tenant) => ledger.usage(tenant) });

  const admission = new AdmissionController({
    capacitySlots: config.admission.capacitySlots,
    maxQueueWaitMs: config.admission.maxQueueWaitMs,
    requestTimeoutMs: config.admission.requestTimeoutMs,
    // A worker that never reported completion: the slot is reclaimed and the fact recorded.
    onReclaim: (reclaimed) => {
      void audit
        .append({ type: 'lifecycle', severity: 'warning', principal: { role: 'system', id: 'admission' }, action: 'admission.reclaim', tenant: reclaimed.tenant, decision: 'allow', reasons: ['request_timeout'], effects: { request_id: reclaimed.requestId } })
        .catch(() => logger.error('could not record an admission reclaim: audit log unwritable'));
    },
  });
  for (const t of config.tenants) admission.registerTenant({ id: t.id, priority: t.limits.priority, concurrent: t.limits.concurrent, tokensPerMinute: t.limits.tokensPerMinute });

  const services: SidecarServices = {
    config,
    policy,
    apiKeys: new ApiKeyRegistry(config.tenants.flatMap((t) => t.apiKeySha256.map((sha256) => ({ tenant: t.id, sha256 })))),
    revocations: { has: (serial) => revoked.has(serial) },
    logger,
    audit,
    blocks: new GuardedBlocks(ledger, policy, trail, config, metrics),
    adapters: new GuardedAdapters(adapters, policy, trail, (id) => tenantIds.includes(id)),
    metrics,
    admission: new GuardedAdmission(admission, policy, trail, audit, new Map(config.tenants.map((t) => [t.id, t])), metrics),
  };

  const tlsMaterial = () => ({
    key: readFileSync(pki.privateKey('server', SERVER_CERT_ID)),
    cert: readFileSync(pki.certificate('server', SERVER_CERT_ID)),
    ca: readFileSync(pki.caCert),
  });
  const server: Server = createServer(
    { ...tlsMaterial(), requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3' },
    createApp(services),
  );
  // Renewed server certificates are picked up for new handshakes without a restart.
  const serverCertFile = pki.certificate('server', SERVER_CERT_ID);
  watchFile(serverCertFile, { interval }, () => {
    try {
      server.setSecureContext({ ...tlsMaterial(), minVersion: 'TLSv1.3' });
      logger.info('server certificate reloaded');
    } catch {
      logger.error('server certificate unreadable; keeping the previous one');
    }
  });

  await new Promise<void>((resolveListen, rejectListen) => {
    server.once('error', rejectListen);
    server.listen(config.listen.port, config.listen.host, () => {
      server.off('error', rejectListen);
      resolveListen();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const unixServer = config.listen.unixSocket ? await listenOnUnixSocket(config.listen.unixSocket, createApp(services, 'unix')) : null;
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  const url = `https://${host}:${port}`;
  logger.info({ url, trustDomain: config.trustDomain, ...(unixServer ? { unixSocket: config.listen.unixSocket } : {}) }, 'tenantguard listening');

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      policy.close();
      admission.close();
      unwatchFile(pki.revocationList);
      unwatchFile(serverCertFile);
      const drained = Promise.all([
        new Promise<void>((done) => server.close(() => done())),
        new Promise<void>((done) => (unixServer ? unixServer.close(() => done()) : done())),
      ]);
      // Keep-alive sockets become idle as their in-flight request finishes; close them as they do
      // instead of waiting out the keep-alive timeout.
      const sweeper = setInterval(() => {
        server.closeIdleConnections();
        unixServer?.closeIdleConnections();
      }, 50);
      server.closeIdleConnections();
      const timer = setTimeout(() => {
        server.closeAllConnections();
        unixServer?.closeAllConnections();
      }, options.drainTimeoutMs ?? 10_000);
      await drained;
      clearInterval(sweeper);
      clearTimeout(timer);
      await audit.close();
    })();
    return closing;
  };
  return { url, port, services, close };
}

/**
 * The co-located worker's fast path: plain HTTP on a Unix socket, no TLS handshake. The socket is
 * created 0600, so only the sidecar's own user (the worker runs as it) can connect.
 */
async function listenOnUnixSocket(path: string, app: ReturnType<typeof createApp>): Promise<PlainServer> {
  rmSync(path, { force: true }); // a stale socket from a killed process would block listen()
  const server = createPlainServer(app);
  const previous = process.umask(0o177);
  try {
    await new Promise<void>((resolveListen, rejectListen) => {
      server.once('error', rejectListen);
      server.listen(path, () => resolveListen());
    });
  } finally {
    process.umask(previous);
  }
  chmodSync(path, 0o600);
  return server;
}
