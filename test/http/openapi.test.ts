import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { validate } from '@readme/openapi-parser';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { jsonRoutes } from '../../src/http/app.js';
import { OFFLOAD_ROUTES } from '../../src/http/routes/keys.js';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { startTestSidecar, type TestSidecar } from '../support/sidecar.js';

const CHECKED_IN = join(PROJECT_ROOT, 'docs', 'openapi.json');

let tg: TestSidecar;
let served: { status: number; body: unknown };
beforeAll(async () => {
  tg = await startTestSidecar();
  served = await tg.call(tg.operator, 'GET', '/openapi.json');
});
afterAll(async () => tg.close());

describe('the OpenAPI document is generated from the route table (issue 16)', () => {
  test('GET /openapi.json serves operators a document that validates as OpenAPI 3.1', async () => {
    expect(served.status).toBe(200);
    expect(served.body).toMatchObject({ openapi: '3.1.0' });
    const result = await validate(structuredClone(served.body) as Parameters<typeof validate>[0]);
    expect(result).toMatchObject({ valid: true, specification: 'OpenAPI' });
  });

  test('workers and tenants are refused it (role separation, N1)', async () => {
    expect((await tg.call(tg.worker, 'GET', '/openapi.json')).status).toBe(403);
    expect((await tg.call(tg.tenantKey('free-demo'), 'GET', '/openapi.json')).status).toBe(403);
  });

  test('every route of the table is in it, with the body schema the server validates with', () => {
    const paths = (served.body as { paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: unknown }> } }>> }).paths;
    const routes = [...OFFLOAD_ROUTES, ...jsonRoutes(tg.sidecar.services)];
    for (const route of routes) {
      const operation = paths[route.path.replace(/:([A-Za-z_]+)/g, '{$1}')]?.[route.method];
      expect(operation, `${route.method} ${route.path}`).toBeDefined();
      expect(operation!.requestBody !== undefined, `${route.method} ${route.path} body`).toBe(route.body !== undefined || route.rawBody !== undefined);
    }
    // A schema detail that can only come from zod: the allocate count bound is the configured limit.
    const allocate = paths['/v1/blocks/allocate']!['post']!.requestBody!.content['application/json']!.schema as { properties: { count: { maximum: number } } };
    expect(allocate.properties.count.maximum).toBe(tg.sidecar.services.config.limits.maxBlocksPerCall);
  });

  test('docs/openapi.json is the document of the default config (regenerate: UPDATE_OPENAPI=1 npx vitest run test/http/openapi.test.ts)', () => {
    const text = `${JSON.stringify(served.body, null, 2)}\n`;
    if (process.env['UPDATE_OPENAPI'] === '1') writeFileSync(CHECKED_IN, text);
    expect(readFileSync(CHECKED_IN, 'utf8')).toBe(text);
  });
});
