import { chmodSync, readFileSync, rmSync, unwatchFile, watchFile } from 'node:fs';
import { createServer as createPlainServer, type Server as PlainServer } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { pino, type Logger } from 'pino';
import type { SidecarConfig } from '../config/index.js';
import { createRequestHandler, type SidecarServices } from '../http/index.js';
import { pkiPaths } from '../pki/index.js';
import { BundlePoller } from '../policy/index.js';
import { SIDECAR_ACTOR, type RefusalLimits } from '../enforcement/index.js';
import { Errors, TgError } from '../errors.js';
import { buildServices, type ComponentOverrides } from './build-services.js';
import { lockStateDirectories, type StateLock } from './state-lock.js';

export const SERVER_CERT_ID = 'tenantguard';

export interface StartOptions {
  readonly logger?: Logger;
  /** How often watched files (bundle, revocations, server cert) are polled. */
  readonly watchIntervalMs?: number;
  /** How long close() waits for in-flight requests before cutting connections. */
  readonly drainTimeoutMs?: number;
  /** Component replacements (conformance tests build broken sidecars with them). */
  readonly overrides?: ComponentOverrides;
  /** Longest time a client may take to send a whole request (headers and body); default 30 s. */
  readonly requestTimeoutMs?: number;
  /** Longest time a client may take for the TLS handshake and for the request headers; default 10 s. */
  readonly headersTimeoutMs?: number;
  /** Rate limit of refusal records and log lines (issue 20.7); defaults in RefusalLimits. */
  readonly refusalLimits?: RefusalLimits;
}

/**
 * A client that stalls mid-handshake, mid-headers or mid-body must not hold a connection for
 * Node's defaults (120 s handshake, 5 min request); Node answers 408 and closes the socket.
 */
function clientTimeouts(options: StartOptions) {
  const requestTimeout = options.requestTimeoutMs ?? 30_000;
  const headersTimeout = Math.min(options.headersTimeoutMs ?? 10_000, requestTimeout);
  // Node checks these deadlines on an interval (30 s by default); check often enough to keep them.
  const connectionsCheckingInterval = Math.max(50, Math.min(1000, Math.floor(headersTimeout / 4)));
  return { requestTimeout, headersTimeout, connectionsCheckingInterval };
}

export interface RunningSidecar {
  readonly url: string;
  readonly port: number;
  readonly services: SidecarServices;
  close(): Promise<void>;
}

/**
 * Starts HTTPS with TLS 1.3 only and client-certificate requests (plus the worker's Unix socket
 * if configured). The sidecar starts even without a loadable policy so /readyz can say why; until a
 * bundle loads, every decision is a deny (fail closed).
 */
export async function startSidecar(config: SidecarConfig, options: StartOptions = {}): Promise<RunningSidecar> {
  const logger = options.logger ?? pino({ level: process.env['TENANTGUARD_LOG_LEVEL'] ?? 'info' });
  const lock = lockStateDirectories([config.paths.audit, dirname(config.paths.keystore), config.paths.offload]);
  try {
    return await serve(config, options, logger, lock);
  } catch (error) {
    lock.release();
    throw error;
  }
}

async function serve(config: SidecarConfig, options: StartOptions, logger: Logger, lock: StateLock): Promise<RunningSidecar> {
  const interval = options.watchIntervalMs ?? 1000;
  const pki = pkiPaths(config.paths.pki);
  const bundleServerCa = readBundleServerCa(config); // before anything is opened: a bad path stops the start cleanly
  const assembled = await buildServices(config, logger, options.overrides, options.refusalLimits);
  const { services } = assembled;

  // Issue 17.6a: reloads by the watcher and the poller are logged and audited like API ones.
  services.policy.watch((result) => void services.policyReloads.record('watch', SIDECAR_ACTOR, result), interval);
  const poller = config.bundleService ? startBundlePolling(config.bundleService, config.paths.policyBundle, bundleServerCa, services, logger) : null;
  // Revocations take effect without a restart, checked on every request, not only at handshake.
  watchFile(pki.revocationList, { interval }, () => {
    assembled.reloadRevocations().then(
      () => logger.info('revocation list reloaded'),
      () => logger.error('revocation list unreadable; keeping the previous one'),
    );
  });

  const serverCertFile = pki.certificate('server', SERVER_CERT_ID);
  const stopWatching = (): void => {
    unwatchFile(pki.revocationList);
    unwatchFile(serverCertFile);
    poller?.stop();
  };
  let listening: { server: Server; unixServer: PlainServer | null; port: number };
  try {
    listening = await listen(config, options, services, pki, serverCertFile, interval, logger);
  } catch (error) {
    // Nothing may stay open or watched after a failed start (port in use, unreadable server key).
    stopWatching();
    await assembled.close();
    throw error;
  }
  const { server, unixServer, port } = listening;
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  const url = `https://${host}:${port}`;
  logger.info({ url, trustDomain: config.trustDomain, ...(unixServer ? { unixSocket: config.listen.unixSocket } : {}) }, 'tenantguard listening');

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      stopWatching();
      const servers = unixServer ? [server, unixServer] : [server];
      const drained = Promise.all(servers.map((s) => new Promise<void>((done) => s.close(() => done()))));
      // Keep-alive sockets become idle as their in-flight request finishes; close them as they do
      // instead of waiting out the keep-alive timeout.
      const sweeper = setInterval(() => servers.forEach((s) => s.closeIdleConnections()), 50);
      servers.forEach((s) => s.closeIdleConnections());
      const timer = setTimeout(() => servers.forEach((s) => s.closeAllConnections()), options.drainTimeoutMs ?? 10_000);
      await drained;
      clearInterval(sweeper);
      clearTimeout(timer);
      await assembled.close();
      lock.release();
    })();
    return closing;
  };
  return { url, port, services, close };
}

/** HTTPS (and the worker's Unix socket), listening; renewed server certificates are picked up without a restart. */
async function listen(
  config: SidecarConfig,
  options: StartOptions,
  services: SidecarServices,
  pki: ReturnType<typeof pkiPaths>,
  serverCertFile: string,
  interval: number,
  logger: Logger,
): Promise<{ server: Server; unixServer: PlainServer | null; port: number }> {
  const tlsMaterial = () => ({
    key: readFileSync(pki.privateKey('server', SERVER_CERT_ID)),
    cert: readFileSync(serverCertFile),
    ca: readFileSync(pki.caCert),
  });
  const timeouts = clientTimeouts(options);
  const server: Server = createServer({ ...tlsMaterial(), requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3', ...timeouts, handshakeTimeout: timeouts.headersTimeout }, createRequestHandler(services));
  const maxConnections = config.listen.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  capConnections(server, maxConnections, logger, 'tls');
  watchFile(serverCertFile, { interval }, () => {
    try {
      server.setSecureContext({ ...tlsMaterial(), minVersion: 'TLSv1.3' });
      logger.info('server certificate reloaded');
    } catch {
      logger.error('server certificate unreadable; keeping the previous one');
    }
  });
  try {
    await new Promise<void>((resolveListen, rejectListen) => {
      server.once('error', rejectListen);
      server.listen(config.listen.port, config.listen.host, () => {
        server.off('error', rejectListen);
        resolveListen();
      });
    });
    const port = (server.address() as AddressInfo).port;
    const unixServer = config.listen.unixSocket ? await listenOnUnixSocket(config.listen.unixSocket, createRequestHandler(services, 'unix'), timeouts) : null;
    if (unixServer) capConnections(unixServer, maxConnections, logger, 'unix_socket');
    return { server, unixServer, port };
  } catch (error) {
    server.close();
    throw error;
  }
}

const DEFAULT_MAX_CONNECTIONS = 1024;
const DROP_LOG_INTERVAL_MS = 10_000;

/**
 * Issue 20.10c: without a cap, one client could open connections until the process ran out of
 * file descriptors or memory, and every other tenant's worker with it. Past `max`, Node closes a
 * new connection at accept, before any TLS work is spent on it. The log line is rate-limited
 * (one per 10 s with the count since the last), so a flood of connections cannot flood the log.
 */
function capConnections(server: Server | PlainServer, max: number, logger: Logger, listener: 'tls' | 'unix_socket'): void {
  server.maxConnections = max;
  let dropped = 0;
  let lastLog = 0;
  server.on('drop', () => {
    dropped += 1;
    const now = Date.now();
    if (now - lastLog < DROP_LOG_INTERVAL_MS) return;
    logger.warn({ listener, maxConnections: max, dropped }, 'connections refused: listen.max_connections reached');
    lastLog = now;
    dropped = 0;
  });
}

/**
 * The co-located worker's fast path: plain HTTP on a Unix socket, no TLS handshake. The socket is
 * created 0600, so only the sidecar's own user (the worker runs as it) can connect.
 */
async function listenOnUnixSocket(path: string, app: ReturnType<typeof createRequestHandler>, timeouts: ReturnType<typeof clientTimeouts>): Promise<PlainServer> {
  rmSync(path, { force: true }); // a stale socket from a killed process would block listen()
  const server = createPlainServer(timeouts, app);
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

function readBundleServerCa(config: SidecarConfig): Buffer | undefined {
  const caFile = config.bundleService?.caFile;
  if (!caFile) return undefined;
  try {
    return readFileSync(caFile);
  } catch {
    throw new TgError(Errors.CONFIG_INVALID, { message: `${config.file}: policy.bundle_service.ca: cannot read ${caFile}` });
  }
}

/** Pulls bundles from `policy.bundle_service` into the bundle file, logging what each poll did. */
function startBundlePolling(service: NonNullable<SidecarConfig['bundleService']>, bundlePath: string, ca: Buffer | undefined, services: SidecarServices, logger: Logger): BundlePoller {
  const policy = services.policy;
  const poller = new BundlePoller(policy, { url: service.url, pollIntervalMs: service.pollIntervalMs, bundlePath, ...(ca ? { ca } : {}) });
  poller.start((outcome) => {
    if (outcome.kind === 'updated') {
      // Logged ("policy bundle reloaded", trigger bundle_service) and audited (issue 17.6a). A failed
      // poll changes nothing and is only logged below: a server that is down would fill the audit log.
      void services.policyReloads.record('bundle_service', SIDECAR_ACTOR, { ok: true, info: outcome.info });
    } else if (outcome.kind === 'failed') logger.error({ problem: outcome.problem, serving: policy.info?.revision ?? null }, 'policy bundle poll failed');
  });
  return poller;
}
