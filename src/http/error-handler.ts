import type { NextFunction, Request, Response } from 'express';
import { Errors, TgError, isTgError } from '../errors.js';
import type { Principal } from '../identity/index.js';
import type { SidecarServices } from './services.js';

/** Body-parser failures carry a `type`; map them to catalogue errors instead of a 500. */
function fromBodyParser(error: unknown): TgError | null {
  if (typeof error !== 'object' || error === null) return null;
  if (!('type' in error)) return fromClientError(error);
  switch (error.type) {
    case 'entity.too.large':
      return new TgError(Errors.TOO_LARGE);
    case 'entity.parse.failed':
      return new TgError(Errors.BAD_JSON);
    case 'encoding.unsupported':
    case 'charset.unsupported':
    case 'request.size.invalid':
    case 'request.aborted':
      return new TgError(Errors.BAD_REQUEST, { message: 'request body could not be read' });
    default:
      return fromClientError(error);
  }
}

/**
 * Other framework errors that blame the request carry a 4xx `status` (http-errors): a body whose
 * Content-Encoding does not decode (corrupt gzip), a path parameter that is not valid
 * percent-encoding. They are the caller's fault and a 400, never a 500.
 */
function fromClientError(error: object): TgError | null {
  const status = 'status' in error ? error.status : undefined;
  if (typeof status !== 'number' || status < 400 || status > 499) return null;
  return new TgError(Errors.BAD_REQUEST, { message: 'request body or path could not be decoded' });
}

/**
 * What a failure answers, whichever dispatcher served the request (Express or the block fast
 * path): one error sender (issue 13). Every failure leaves as `{"error": {code, message, reasons}}`
 * with `Retry-After` when the error says when to retry. Unknown errors become TG_ERR_INTERNAL
 * without detail: a stack or a message could carry request content or another tenant's name (L1),
 * so the log gets the error class only.
 */
export function errorReply(
  error: unknown,
  services: Pick<SidecarServices, 'logger' | 'refusals'>,
  route: string,
  principal: Principal | undefined,
): { status: number; headers: Record<string, string>; body: unknown } {
  const tgError = isTgError(error) ? error : fromBodyParser(error);
  const final = tgError ?? new TgError(Errors.INTERNAL);
  if (!tgError) services.logger.error({ route, errorClass: error instanceof Error ? error.name : typeof error }, 'unhandled error');
  // A call naming a tenant the sidecar does not serve (any more) leaves a trace like other
  // refusals (issue 17.6); the id itself is caller content and is not recorded (L1).
  if (final.code === Errors.UNKNOWN_TENANT.code || final.code === Errors.TENANT_ERASED.code) {
    services.refusals.record({ principal: principal ? { role: principal.role, id: principal.id } : null, action: 'tenants.resolve', code: final.code });
  }
  const retryAfter = final.details['retry_after_seconds'];
  return { status: final.status, headers: typeof retryAfter === 'number' ? { 'Retry-After': String(Math.ceil(retryAfter)) } : {}, body: final.toBody() };
}

/** The last Express middleware. */
export function errorHandler(services: Pick<SidecarServices, 'logger' | 'refusals'>) {
  return (error: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const reply = errorReply(error, services, req.route?.path ?? 'unmatched', res.locals['principal'] as Principal | undefined);
    if (res.headersSent) return void res.end();
    res.set(reply.headers).status(reply.status).json(reply.body);
  };
}

export function notFound(_req: Request, _res: Response, next: NextFunction): void {
  next(new TgError(Errors.NOT_FOUND, { message: 'no such route; see docs/api.md' }));
}
