import type { NextFunction, Request, Response } from 'express';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { Errors, TgError } from '../errors.js';
import { principalFromTlsSocket, type Principal } from '../identity/index.js';
import type { SidecarServices } from './services.js';

export type Transport = 'tls' | 'unix';

const LOCAL_WORKER: Principal = { role: 'worker', id: 'local-socket', authn: 'unix_socket' };

/** The authenticated principal of this request; only set by `authenticate`. */
export function principalOf(res: Response): Principal {
  const principal = res.locals['principal'] as Principal | undefined;
  if (!principal) throw new TgError(Errors.NO_CREDENTIALS);
  return principal;
}

/**
 * Proves who is calling: a verified client certificate first, else a bearer API key. A presented
 * but bad certificate is never rescued by a key, so a stolen key cannot mask a revoked cert.
 */
export function authenticate(services: SidecarServices, transport: Transport) {
  const resolve = principalResolver(services, transport);
  return (req: Request, res: Response, next: NextFunction): void => {
    res.locals['principal'] = resolve(req);
    next();
  };
}

/**
 * The principal of a request, or a TgError. A TLS 1.3 connection's peer certificate cannot change
 * (no renegotiation), so a certificate that passed every check is parsed once per connection and
 * remembered with it; revocation and expiry are still checked on every request, so a kept-alive
 * connection does not outlive its certificate (issue 20.8).
 */
export function principalResolver(services: SidecarServices, transport: Transport): (req: IncomingMessage) => Principal {
  const check = { trustDomain: services.config.trustDomain, isRevoked: (s: string) => services.revocations.has(s) };
  const verified = new WeakMap<object, { principal: Principal; notAfterMs: number } | typeof NO_CERTIFICATE>();
  return (req) => {
    if (transport === 'unix') {
      // Only the worker's own Unix user can open the 0600 socket; it speaks only as a worker.
      return LOCAL_WORKER;
    }
    const socket = req.socket as TLSSocket;
    let fromCert = verified.get(socket);
    if (fromCert === undefined) {
      const principal = principalFromTlsSocket(socket, check);
      // An unparseable notAfter is treated as already expired (fail closed).
      fromCert = principal === null ? NO_CERTIFICATE : { principal, notAfterMs: Date.parse(socket.getPeerCertificate().valid_to) || 0 };
      verified.set(socket, fromCert);
    } else if (fromCert !== NO_CERTIFICATE && fromCert.principal.certSerial !== undefined && check.isRevoked(fromCert.principal.certSerial)) {
      throw new TgError(Errors.CERT_REVOKED);
    }
    if (fromCert !== NO_CERTIFICATE && Date.now() > fromCert.notAfterMs) throw new TgError(Errors.CERT_EXPIRED);
    const principal = fromCert !== NO_CERTIFICATE ? fromCert.principal : services.apiKeys.authenticate(req.headers.authorization);
    if (!principal) throw new TgError(Errors.NO_CREDENTIALS);
    return principal;
  };
}

const NO_CERTIFICATE = Symbol('no client certificate');
