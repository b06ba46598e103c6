import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestSidecar, type ClientCredential, type TestSidecar } from '../support/sidecar.js';

/**
 * The KV block routes are served twice: by a hand-written fast path (src/http/fast-blocks.ts) and
 * by Express (src/http/routes/blocks.ts). Both must answer exactly alike. Two fresh sidecars get
 * the same sequence of requests — valid, malformed, unauthorized, over quota, not owned — one on
 * the plain paths (fast path), one with a query string appended, which the fast path leaves to
 * Express (whose routes ignore it). Status, Content-Type, Retry-After and body must be identical
 * (issue 13: this check used to live only in bench/).
 */
type Who = 'worker' | 'tenant-cert' | 'tenant-key';

function post(t: TestSidecar, who: Who, path: string, body: unknown, headers: Record<string, string> = {}): Promise<string> {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  const cred: ClientCredential = who === 'worker' ? t.worker : who === 'tenant-cert' ? t.tenantCert('free-demo') : t.tenantKey('free-demo');
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, t.sidecar.url),
      {
        method: 'POST',
        ca: t.ca,
        agent: false,
        servername: 'localhost',
        ...(cred.cert ? { cert: cred.cert, key: cred.key } : {}),
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...(cred.bearer ? { authorization: `Bearer ${cred.bearer}` } : {}), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(JSON.stringify({ status: res.statusCode, type: res.headers['content-type'], retryAfter: res.headers['retry-after'], body: Buffer.concat(chunks).toString('utf8') })));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const T = 'free-demo';
const CASES: Array<[Who, string, unknown, Record<string, string>?]> = [
  ['worker', '/v1/blocks/allocate', { tenant: T, request_id: 'r1', count: 4 }],
  ['worker', '/v1/blocks/allocate', { tenant: T, request_id: 'r2', count: 4, extra: 1 }],
  ['worker', '/v1/blocks/allocate', { tenant: T, request_id: 'r 2', count: 4 }],
  ['worker', '/v1/blocks/allocate', { tenant: T, request_id: 'r3', count: 0 }],
  ['worker', '/v1/blocks/allocate', { tenant: T, request_id: 'r3', count: 1.5 }],
  ['worker', '/v1/blocks/allocate', { tenant: T, request_id: 'r3', count: 5000 }],
  ['worker', '/v1/blocks/allocate', { tenant: T, request_id: 'r3', count: 4000 }],
  ['worker', '/v1/blocks/allocate', { tenant: 'nobody', request_id: 'r3', count: 4 }],
  ['worker', '/v1/blocks/allocate', { tenant: 'Bad_Id', request_id: 'r3', count: 4 }],
  ['worker', '/v1/blocks/allocate', { tenant: 'enterprise-demo', request_id: 'r4', count: 4 }],
  ['worker', '/v1/blocks/allocate', { tenant: 'standard-demo', request_id: 'r5', count: 4 }],
  ['worker', '/v1/blocks/allocate', '{"tenant":'],
  ['worker', '/v1/blocks/allocate', '"str"'],
  ['worker', '/v1/blocks/allocate', '[1,2]'],
  ['worker', '/v1/blocks/allocate', '  \n{"tenant":"free-demo","request_id":"ws","count":1}'],
  ['worker', '/v1/blocks/allocate', '\ufeff{"tenant":"free-demo","request_id":"bom","count":1}'],
  ['worker', '/v1/blocks/allocate', '{"__proto__":{"x":1},"tenant":"free-demo","request_id":"p","count":1}'],
  ['worker', '/v1/blocks/allocate', { tenant: T, request_id: 'ct', count: 1 }, { 'content-type': 'application/json; charset=UTF-8' }],
  ['worker', '/v1/blocks/allocate', { tenant: T, request_id: 'ct', count: 1 }, { 'content-type': 'text/plain' }],
  ['tenant-cert', '/v1/blocks/allocate', { tenant: T, request_id: 'r6', count: 4 }],
  ['tenant-key', '/v1/blocks/allocate', { tenant: T, request_id: 'r6', count: 4 }],
  ['worker', '/v1/blocks/access', { tenant: T, blocks: [0, 1], mode: 'read' }],
  ['worker', '/v1/blocks/access', { tenant: T, blocks: [0, 1], mode: 'write' }],
  ['worker', '/v1/blocks/access', { tenant: 'standard-demo', blocks: [0, 1], mode: 'read' }],
  ['worker', '/v1/blocks/access', { tenant: T, blocks: [0, 0], mode: 'prefix_hit' }],
  ['worker', '/v1/blocks/access', { tenant: T, blocks: [99999999], mode: 'read' }],
  ['worker', '/v1/blocks/access', { tenant: T, blocks: [], mode: 'read' }],
  ['worker', '/v1/blocks/access', { tenant: T, blocks: [-1], mode: 'read' }],
  ['worker', '/v1/blocks/access', { tenant: T, blocks: [1.5], mode: 'read' }],
  ['worker', '/v1/blocks/free', { tenant: 'standard-demo', blocks: [0] }],
  ['worker', '/v1/blocks/free', { tenant: T, blocks: [0, 1], cache: true }],
  ['worker', '/v1/blocks/free', { tenant: T, blocks: [2], cache: 'yes' }],
  ['worker', '/v1/blocks/free', { tenant: T, blocks: [2, 3] }],
  ['worker', '/v1/blocks/free', { tenant: T, blocks: [2, 3] }],
  ['worker', '/v1/blocks/allocate', { tenant: 'standard-demo', request_id: 'r7', count: 8 }],
  ['worker', '/v1/blocks/access', { tenant: 'standard-demo', blocks: [0, 1], mode: 'read' }],
  ['worker', '/v1/blocks/scrubbed', { blocks: [0, 1, 2], epochs: [0, 0, 0] }],
  ['worker', '/v1/blocks/scrubbed', { blocks: [0], epochs: [0], x: 1 }],
  ['worker', '/v1/blocks/scrubbed', { blocks: [0, 1], epochs: [0] }],
  ['worker', '/v1/blocks/allocate', { tenant: T, request_id: 'q', count: 600 }],
];

let fastPath: TestSidecar;
let express: TestSidecar;
beforeAll(async () => {
  [fastPath, express] = await Promise.all([startTestSidecar(), startTestSidecar()]);
});
afterAll(async () => Promise.all([fastPath.close(), express.close()]));

describe('the block fast path answers exactly as the Express routes do (issue 13)', () => {
  test(`${CASES.length} valid and hostile requests in sequence get identical status, headers and bodies on both dispatchers`, async () => {
    const differences: string[] = [];
    const statuses = new Set<number>();
    for (const [who, path, body, headers] of CASES) {
      const fast = await post(fastPath, who, path, body, headers);
      const slow = await post(express, who, `${path}?via=express`, body, headers);
      statuses.add((JSON.parse(fast) as { status: number }).status);
      if (fast !== slow) differences.push(`${who} ${path} ${JSON.stringify(body).slice(0, 80)}\n  fast path: ${fast}\n  express:   ${slow}`);
    }
    expect(differences).toEqual([]);
    // The sequence reaches success and several kinds of refusal, or it compares little.
    expect([...statuses].sort()).toEqual(expect.arrayContaining([200, 400, 403, 404, 409, 422]));
  });
});
