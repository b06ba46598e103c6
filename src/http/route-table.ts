import { Router, type Request, type Response } from 'express';
import type { z } from 'zod';
import type { Principal } from '../identity/index.js';
import { principalOf } from './authenticate.js';
import { authorize } from './authorize.js';
import type { SidecarServices } from './services.js';
import { parseBody } from './validate.js';

/** What a route answers: JSON (200 unless said), other bytes with their type, or nothing (204). */
export type RouteAnswer =
  | { readonly status?: number; readonly json: unknown }
  | { readonly status?: number; readonly contentType: string; readonly bytes: string | Buffer }
  | { readonly status: 204 };

export interface RouteContext<B> {
  readonly services: SidecarServices;
  readonly principal: Principal;
  /** The JSON body after the route's schema (undefined for routes without one). */
  readonly body: B;
  /** A path parameter as a string (`''` when absent). */
  param(name: string): string;
  /** The request itself, for the few routes that stream it (offload) or read a header. */
  readonly req: Request;
}

/**
 * One row of the route table: method, path, the `tenantguard.authz` action, the body schema and
 * the call into a guarded component. Every authenticated route is declared this way and served by
 * `tableRouter` (issue 13); the KV block batches are rows too, and the block fast path serves
 * them from their own table (routes/blocks.ts).
 */
export interface RouteSpec {
  readonly method: 'get' | 'post' | 'put' | 'delete';
  readonly path: string;
  /** The authz action; a function when it depends on the caller (operator vs tenant views). */
  readonly action: string | ((principal: Principal) => string);
  /** The tenant the authz question names, when the route is about one (e.g. the caller's own). */
  readonly authzTenant?: (req: Request, principal: Principal) => unknown;
  /** The JSON body schema the call validates with; also what the OpenAPI document describes. */
  readonly body?: z.ZodType;
  /** A raw (non-JSON) body, streamed by the call: its media type, for the OpenAPI document. */
  readonly rawBody?: string;
  readonly call: (ctx: RouteContext<unknown>) => Promise<RouteAnswer> | RouteAnswer;
}

/** A row whose schema's output type is what its call receives. */
export function route<B = undefined>(spec: Omit<RouteSpec, 'call'> & { readonly body?: z.ZodType<B>; readonly call: (ctx: RouteContext<B>) => Promise<RouteAnswer> | RouteAnswer }): RouteSpec {
  const { body: schema, call, ...rest } = spec;
  return {
    ...rest,
    ...(schema === undefined ? {} : { body: schema }),
    call: (ctx) => call({ ...ctx, body: (schema === undefined ? undefined : parseBody(schema, ctx.req.body)) as B }),
  };
}

/** An Express router serving table rows: authorize (authz), validate, call, answer. */
export function tableRouter(services: SidecarServices, routes: readonly RouteSpec[]): Router {
  const router = Router();
  for (const spec of routes) {
    router[spec.method](spec.path, authorize(services, spec.action, spec.authzTenant), async (req: Request, res: Response) => {
      const answer = await spec.call({ services, principal: principalOf(res), body: undefined, param: (name) => String(req.params[name] ?? ''), req });
      send(res, answer);
    });
  }
  return router;
}

function send(res: Response, answer: RouteAnswer): void {
  if ('json' in answer) res.status(answer.status ?? 200).json(answer.json);
  else if ('bytes' in answer) res.status(answer.status ?? 200).type(answer.contentType).send(answer.bytes);
  else res.status(204).end();
}
