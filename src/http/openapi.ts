import { z } from 'zod';
import type { RouteSpec } from './route-table.js';

/**
 * The OpenAPI 3.1 document of the wire API, generated from the route table and the very zod
 * schemas the server validates bodies with, so the document cannot drift from what is enforced
 * (issue 16). docs/openapi.json is this document for the default config; a test keeps it equal.
 */
export function openApiDocument(routes: readonly RouteSpec[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {
    '/healthz': { get: probe('liveness: the process answers') },
    '/readyz': { get: probe('readiness: a policy bundle is loaded and the audit log accepts writes (503 otherwise)') },
  };
  for (const route of routes) {
    const path = route.path.replace(/:([A-Za-z_]+)/g, '{$1}');
    const parameters = [...route.path.matchAll(/:([A-Za-z_]+)/g)].map(([, name]) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
    (paths[path] ??= {})[route.method] = {
      operationId: operationId(route),
      ...(typeof route.action === 'string' ? { 'x-tenantguard-action': route.action } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...requestBody(route),
      security: [{ mtls: [] }, { apiKey: [] }],
      responses: {
        '2XX': { description: 'done; see docs/api.md for the answer of this route' },
        default: { description: 'refused: a stable TG_ERR_* code (docs/api.md)', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'tenantguard sidecar', version, description: 'Tenant-isolation sidecar for shared GPU inference clusters; prose reference in docs/api.md.' },
    paths,
    components: {
      securitySchemes: {
        mtls: { type: 'mutualTLS', description: 'client certificate with one URI SAN spiffe://<trust-domain>/<role>/<id>' },
        apiKey: { type: 'http', scheme: 'bearer', description: 'tenant API key' },
      },
      schemas: { Error: jsonSchema(ERROR_BODY) },
    },
  };
}

/** What every refusal looks like (src/errors.ts `toBody`). */
const ERROR_BODY = z.strictObject({
  error: z.object({ code: z.string().regex(/^TG_ERR_[A-Z_]+$/), message: z.string(), reasons: z.array(z.string()).optional() }),
});

function probe(summary: string): Record<string, unknown> {
  return { operationId: summary.startsWith('liveness') ? 'healthz' : 'readyz', summary, security: [], responses: { '200': { description: 'ok' }, '503': { description: 'not ready' } } };
}

/** A stable, unique id per route: method and path, as a spec generator or a client names it. */
function operationId(route: RouteSpec): string {
  return `${route.method}${route.path.replace(/[:/.{}-]+(\w)?/g, (_, c: string | undefined) => (c ? c.toUpperCase() : ''))}`;
}

function requestBody(route: RouteSpec): Record<string, unknown> {
  if (route.rawBody !== undefined) return { requestBody: { required: true, content: { [route.rawBody]: { schema: { type: 'string', contentMediaType: route.rawBody } } } } };
  if (route.body === undefined) return {};
  return { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(route.body) } } } };
}

/** JSON Schema 2020-12 (the dialect of OpenAPI 3.1) of what a client sends (`io: 'input'`: defaults are optional). */
function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}
