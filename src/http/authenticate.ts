import type { NextFunction, Request, Response } from 'express';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { Errors, TgError, isTgError } from '../errors.js';
import { CredentialRefused, principalFromTlsSocket, type Principal } from '../identity/index.js';
import type { Refusal } from '../enforcement/index.js';
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
  const resolve = resolveCredential(services, transport);
  return (req) => {
    try {
      // Node keeps the first of two Authorization headers and drops the other, so which key was
      // meant is ambiguous (a proxy may have read the other one): refuse (issue 20.10b).
      if (authorizationHeaders(req.rawHeaders) > 1) throw new TgError(Errors.DUPLICATE_AUTHORIZATION);
      return resolve(req);
    } catch (error) {
      // Every refusal leaves a trace (issue 20.7); the recorder never throws and never waits.
      if (isTgError(error)) services.refusals.record(refusalOf(error));
      throw error;
    }
  };
}

function resolveCredential(services: SidecarServices, transport: Transport): (req: IncomingMessage) => Principal {
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
      throw new CredentialRefused(Errors.CERT_REVOKED, fromCert.principal);
    }
    if (fromCert !== NO_CERTIFICATE && Date.now() > fromCert.notAfterMs) throw new CredentialRefused(Errors.CERT_EXPIRED, fromCert.principal);
    const principal = fromCert !== NO_CERTIFICATE ? fromCert.principal : services.apiKeys.authenticate(req.headers.authorization);
    if (!principal) throw new TgError(Errors.NO_CREDENTIALS);
    return principal;
  };
}

/** How many Authorization headers the request carried (rawHeaders keeps every one, names as sent). */
function authorizationHeaders(rawHeaders: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 13 && name.toLowerCase() === 'authorization') count++;
  }
  return count;
}

/** The content-free record of a refused credential: which kind of credential, never the key or the certificate. */
function refusalOf(error: TgError): Refusal {
  const action =
    error instanceof CredentialRefused ? 'authn.certificate'
    : error.code === Errors.UNKNOWN_API_KEY.code ? 'authn.api_key'
    : error.code === Errors.DUPLICATE_AUTHORIZATION.code ? 'authn.header'
    : 'authn.none';
  const principal = error instanceof CredentialRefused ? error.principal : null;
  return { principal, action, code: error.code, reasons: error.reasons };
}

const NO_CERTIFICATE = Symbol('no client certificate');
