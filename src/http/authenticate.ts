import type { NextFunction, Request, Response } from 'express';
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
  const check = { trustDomain: services.config.trustDomain, isRevoked: (s: string) => services.revocations.has(s) };
  return (req: Request, res: Response, next: NextFunction): void => {
    if (transport === 'unix') {
      // Only the worker's own Unix user can open the 0600 socket; it speaks only as a worker.
      res.locals['principal'] = LOCAL_WORKER;
      return next();
    }
    const fromCert = principalFromTlsSocket(req.socket as TLSSocket, check);
    const principal = fromCert ?? services.apiKeys.authenticate(req.headers.authorization);
    if (!principal) throw new TgError(Errors.NO_CREDENTIALS);
    res.locals['principal'] = principal;
    next();
  };
}
