import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Evidence, errorCode, type ControlContext, type ControlOutcome } from '../control.js';
import { findCanary } from '../hunts/canaries.js';

function auditText(dir: string): string {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('');
}

/** L2: the operator's chain verification of the live log passes. */
export async function probeAuditChain(ctx: ControlContext): Promise<ControlOutcome> {
  const e = new Evidence();
  const res = await ctx.target.call('operator', 'GET', '/v1/audit/verify');
  const body = res.body as { ok?: boolean; records?: number; firstBadSeq?: number; problem?: string };
  e.expect(`GET /v1/audit/verify -> ${res.status}, ok=${body.ok}, ${body.records} records${body.firstBadSeq ? `, first bad seq ${body.firstBadSeq} (${body.problem})` : ''}`, res.status === 200 && body.ok === true);
  const denied = await ctx.target.call('worker', 'GET', '/v1/audit/verify');
  e.expect(`a worker asking to verify the audit log -> ${denied.status} (want 403)`, denied.status === 403);
  return e.outcome();
}

/** L1: no record holds content (offloaded KV bytes planted as canaries) in any encoding. */
export async function probeNoContentInAudit(ctx: ControlContext): Promise<ControlOutcome> {
  const e = new Evidence();
  const dir = ctx.target.description.auditDir;
  if (!dir) return { evidence: [], skipped: 'no access to the audit log directory (run with --spawn or --audit-dir)' };
  // Plant content of our own, so the probe does not depend on hunts having run.
  const tenant = ctx.target.tenantIds[0]!;
  const canary = `CANARY-${tenant}-${Date.now().toString(16).padStart(12, '0').slice(-12)}`;
  const put = await ctx.target.call('worker', 'PUT', `/v1/offload/${tenant}/probe-l1`, { raw: Buffer.from(canary.repeat(32)), headers: { 'x-tenantguard-acting-for': tenant }, forTenant: tenant });
  e.expect(`offload put of ${canary.length * 32} canary bytes for ${tenant} -> ${put.status}`, put.status === 201);
  await ctx.target.call('worker', 'GET', `/v1/offload/${tenant}/probe-l1`, { headers: { 'x-tenantguard-acting-for': tenant }, forTenant: tenant });
  ctx.target.plant(tenant, canary);
  const canaries = [...ctx.target.planted.values()].flat();
  const text = auditText(dir);
  const leaked = findCanary(text, canaries);
  e.expect(`${canaries.length} planted contents searched in ${text.split('\n').length - 1} audit records as text, hex and base64: ${leaked ? `found ${leaked}` : 'none found'}`, leaked === undefined);
  return e.outcome();
}

/** CC7.2 / 164.308(a)(1)(ii)(D): a cross-tenant reach is refused and leaves a critical record. */
export async function probeViolationsLogged(ctx: ControlContext): Promise<ControlOutcome> {
  const e = new Evidence();
  const dir = ctx.target.description.auditDir;
  if (!dir) return { evidence: [], skipped: 'no access to the audit log directory (run with --spawn or --audit-dir)' };
  const [a, b] = ctx.target.tenantIds;
  const got = await ctx.target.call('worker', 'POST', '/v1/blocks/allocate', { body: { tenant: a, request_id: 'probe-violation', count: 1 }, forTenant: a });
  const id = (got.body as { blocks?: { id: number }[] }).blocks?.[0]?.id;
  if (id === undefined) return { evidence: [`allocation for ${a} -> ${got.status}`], skipped: 'could not allocate a block to attack' };
  const theft = await ctx.target.call('worker', 'POST', '/v1/blocks/free', { body: { tenant: b, blocks: [id] }, forTenant: b });
  e.expect(`${b} freeing ${a}'s block ${id} -> ${theft.status} ${errorCode(theft.body)} (want 403 TG_ERR_NOT_OWNER)`, theft.status === 403);
  const records = auditText(dir).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; severity: string; tenant?: string; blocks?: number[]; action: string });
  const logged = records.some((r) => r.type === 'violation' && r.severity === 'critical' && r.tenant === b && r.blocks?.includes(id));
  e.expect(`a critical violation record names ${b}, the action and block ${id}`, logged);
  await ctx.target.call('worker', 'POST', '/v1/blocks/free', { body: { tenant: a, blocks: [id] }, forTenant: a });
  return e.outcome();
}

/** L1 across the whole session: no response made for tenant X carries tenant Y's id or content. */
export async function probeNoCrossTenantResponses(ctx: ControlContext): Promise<ControlOutcome> {
  const e = new Evidence();
  const canariesByTenant = ctx.target.planted;
  let checked = 0;
  for (const x of ctx.target.transcript) {
    if (!x.forTenant) continue;
    checked++;
    for (const other of ctx.target.tenantIds.filter((t) => t !== x.forTenant)) {
      // Worker routes name tenants legitimately only in the request; a tenant-facing response must not.
      const tenantFacing = x.actor.startsWith(`${x.forTenant}#`);
      if (tenantFacing && x.text.includes(other)) e.expect(`${x.method} ${x.path} for ${x.forTenant} named ${other}`, false);
      const leaked = findCanary(x.text, canariesByTenant.get(other) ?? []);
      if (leaked) e.expect(`${x.method} ${x.path} for ${x.forTenant} returned ${other}'s content`, false);
    }
  }
  e.note(`${checked} responses made for a tenant searched for the other tenants' ids and planted content`);
  return e.outcome();
}

/** Bad input gets a 4xx with a stable code, never a 5xx. */
export async function probeMalformedInput(ctx: ControlContext): Promise<ControlOutcome> {
  const e = new Evidence();
  const tenant = ctx.target.tenantIds[0]!;
  const cases: Array<[string, string, string, string | Buffer]> = [
    ['not JSON', 'POST', '/v1/blocks/allocate', '{"tenant":'],
    ['wrong types', 'POST', '/v1/blocks/allocate', JSON.stringify({ tenant: 42, request_id: [], count: 'many' })],
    ['negative count', 'POST', '/v1/blocks/allocate', JSON.stringify({ tenant, request_id: 'x', count: -5 })],
    ['__proto__ key', 'POST', '/v1/blocks/free', `{"tenant":"${tenant}","blocks":[1],"__proto__":{"admin":true}}`],
    ['huge array', 'POST', '/v1/blocks/scrubbed', JSON.stringify({ blocks: Array.from({ length: 100_000 }, (_, i) => i) })],
    ['deep nesting', 'POST', '/v1/adapters/apply', '{"batch":' + '['.repeat(5000) + ']'.repeat(5000) + '}'],
    ['oversized body', 'POST', '/v1/admission', Buffer.alloc(2 * 1024 * 1024, 0x20)],
    ['invalid UTF-8', 'POST', '/v1/admission', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])],
  ];
  for (const [name, method, path, raw] of cases) {
    const res = await ctx.target.call('worker', method, path, { raw: Buffer.isBuffer(raw) ? raw : Buffer.from(raw), headers: { 'content-type': 'application/json' } });
    const code = errorCode(res.body);
    e.expect(`${name}: ${method} ${path} -> ${res.status} ${code} (want 4xx with a TG_ERR_ code)`, res.status >= 400 && res.status < 500 && code.startsWith('TG_ERR_'));
  }
  const health = await ctx.target.call('anonymous', 'GET', '/healthz');
  e.expect(`the sidecar still answers /healthz afterwards -> ${health.status}`, health.status === 200);
  return e.outcome();
}

/** Readiness reflects a loaded policy, and the operator sees which revision decides (change control). */
export async function probeReadiness(ctx: ControlContext): Promise<ControlOutcome> {
  const e = new Evidence();
  const ready = await ctx.target.call('anonymous', 'GET', '/readyz');
  const revision = (ready.body as { policy_revision?: string }).policy_revision;
  e.expect(`/readyz -> ${ready.status} with policy revision ${revision}`, ready.status === 200 && typeof revision === 'string' && revision.length > 0);
  const policy = await ctx.target.call('operator', 'GET', '/v1/policy');
  const info = policy.body as { revision?: string; sha256?: string; entrypoints?: string[] };
  e.expect(`GET /v1/policy -> revision ${info.revision}, bundle sha256 ${info.sha256?.slice(0, 12)}…, ${info.entrypoints?.length} entrypoints`, info.revision === revision && typeof info.sha256 === 'string');
  return e.outcome();
}
