import { createHash } from 'node:crypto';
import { Evidence, errorCode, type ControlContext, type ControlOutcome } from '../control.js';

const tierTenant = (ctx: ControlContext, tier: string): string | undefined => Object.entries(ctx.target.description.tenants).find(([, t]) => t.tier === tier)?.[0];

/** I3: one block over the quota is refused with the figures, and nothing is allocated. */
export async function probeQuota(ctx: ControlContext): Promise<ControlOutcome> {
  const e = new Evidence();
  const tenant = tierTenant(ctx, 'free') ?? ctx.target.tenantIds[0]!;
  const usage = await ctx.target.call(`${tenant}#cert`, 'GET', '/v1/usage', { forTenant: tenant });
  const quota = (usage.body as { quota_blocks: number }).quota_blocks;
  let owned = (usage.body as { blocks: { owned: number } }).blocks.owned;
  // A count over the whole quota can never fit and is a 422, not a 429 (issue 17.4): hold one
  // block first so that one over the quota is a request that could fit once blocks are freed.
  let held: number[] = [];
  if (owned === 0) {
    const hold = await ctx.target.call('worker', 'POST', '/v1/blocks/allocate', { body: { tenant, request_id: 'probe-quota-hold', count: 1 }, forTenant: tenant });
    held = (hold.body as { blocks?: { id: number }[] }).blocks?.map((b) => b.id) ?? [];
    owned += held.length;
  }
  const res = await ctx.target.call('worker', 'POST', '/v1/blocks/allocate', { body: { tenant, request_id: 'probe-quota', count: quota - owned + 1 }, forTenant: tenant });
  e.expect(`allocate ${quota - owned + 1} blocks for ${tenant} holding ${owned} of ${quota} -> ${res.status} ${errorCode(res.body)} (want 429 TG_ERR_QUOTA)`, res.status === 429 && errorCode(res.body) === 'TG_ERR_QUOTA');
  const after = await ctx.target.call(`${tenant}#cert`, 'GET', '/v1/usage', { forTenant: tenant });
  e.expect(`usage unchanged after the refusal (${owned} owned)`, (after.body as { blocks: { owned: number } }).blocks.owned === owned);
  if (held.length > 0) await ctx.target.call('worker', 'POST', '/v1/blocks/free', { body: { tenant, blocks: held }, forTenant: tenant });
  return e.outcome();
}

/** I5: a dedicated pool serves only its tenant, even when the shared pool is exhausted. */
export async function probeDedicatedPool(ctx: ControlContext): Promise<ControlOutcome> {
  const e = new Evidence();
  const enterprise = tierTenant(ctx, 'enterprise');
  const other = tierTenant(ctx, 'standard') ?? tierTenant(ctx, 'free');
  if (!enterprise || !other) return { evidence: [], skipped: 'needs an enterprise and a non-enterprise tenant' };
  const mine = await ctx.target.call('worker', 'POST', '/v1/blocks/allocate', { body: { tenant: enterprise, request_id: 'probe-pool-e', count: 4 }, forTenant: enterprise });
  const dedicated = (mine.body as { blocks?: { id: number }[] }).blocks?.map((b) => b.id) ?? [];
  e.expect(`enterprise tenant ${enterprise} allocates from its dedicated pool -> ${mine.status}`, mine.status === 200);
  if (dedicated.length > 0) await ctx.target.call('worker', 'POST', '/v1/blocks/free', { body: { tenant: enterprise, blocks: dedicated }, forTenant: enterprise });
  // Drain the shared pool with the other tenant, then check none of the dedicated blocks leak to it.
  const taken: number[] = [];
  for (let i = 0; i < 64; i++) {
    const res = await ctx.target.call('worker', 'POST', '/v1/blocks/allocate', { body: { tenant: other, request_id: `probe-pool-${i}`, count: 16 }, forTenant: other });
    if (res.status !== 200) break;
    taken.push(...(res.body as { blocks: { id: number }[] }).blocks.map((b) => b.id));
  }
  const leaked = taken.filter((id) => dedicated.includes(id));
  e.expect(`${other} drained ${taken.length} shared blocks and got none of ${enterprise}'s dedicated blocks (${leaked.join(',') || 'none'})`, leaked.length === 0);
  for (let i = 0; i < taken.length; i += 1024) await ctx.target.call('worker', 'POST', '/v1/blocks/free', { body: { tenant: other, blocks: taken.slice(i, i + 1024) }, forTenant: other });
  return e.outcome();
}

/** I6: cache salts come from the sidecar, differ per tenant, and only the worker gets them. */
export async function probeCacheSalts(ctx: ControlContext): Promise<ControlOutcome> {
  const e = new Evidence();
  const salts = new Map<string, string>();
  for (const tenant of ctx.target.tenantIds) {
    const res = await ctx.target.call('worker', 'GET', `/v1/tenants/${tenant}/cache-salt`, { forTenant: tenant });
    const salt = (res.body as { cache_salt?: string }).cache_salt ?? '';
    e.expect(`worker gets ${tenant}'s cache salt -> ${res.status}, ${salt.length * 6} bits`, res.status === 200 && salt.length >= 22);
    salts.set(tenant, salt);
  }
  e.expect(`${salts.size} tenants have ${new Set(salts.values()).size} distinct salts`, new Set(salts.values()).size === salts.size);
  const tenant = ctx.target.tenantIds[0]!;
  const res = await ctx.target.call(`${tenant}#cert`, 'GET', `/v1/tenants/${tenant}/cache-salt`, { forTenant: tenant });
  e.expect(`a tenant asking for its own salt -> ${res.status} (want 403: the salt must come from the trusted component)`, res.status === 403);
  return e.outcome();
}

/** K1: a data key wrapped for one tenant does not unwrap as another. */
export async function probeDataKeyBinding(ctx: ControlContext): Promise<ControlOutcome> {
  const e = new Evidence();
  const [a, b] = ctx.target.tenantIds;
  const made = await ctx.target.call('worker', 'POST', `/v1/keys/${a}/datakey`, { forTenant: a });
  const { wrapped, plaintext } = made.body as { wrapped: string; plaintext: string };
  e.expect(`data key for ${a} -> ${made.status}`, made.status === 200);
  const mine = await ctx.target.call('worker', 'POST', `/v1/keys/${a}/datakey/unwrap`, { body: { wrapped }, forTenant: a });
  e.expect(`unwrap as ${a} returns the same key`, (mine.body as { plaintext?: string }).plaintext === plaintext);
  const theirs = await ctx.target.call('worker', 'POST', `/v1/keys/${b}/datakey/unwrap`, { body: { wrapped }, forTenant: b });
  e.expect(`unwrap of ${a}'s key as ${b} -> ${theirs.status} ${errorCode(theirs.body)} (want a 4xx without the key)`, theirs.status >= 400 && theirs.status < 500 && !theirs.text.includes(plaintext));
  return e.outcome();
}

/** A1 (integrity): an adapter is applied only with the digest its owner registered. */
export async function probeAdapterDigest(ctx: ControlContext): Promise<ControlOutcome> {
  const e = new Evidence();
  const tenant = ctx.target.tenantIds[0]!;
  // A fixed id: re-registering it replaces it, so repeated runs take no new slot of the tenant's
  // adapter cap (issue 20.5).
  const id = 'probe-digest';
  const sha256 = createHash('sha256').update(id).digest('hex');
  const registered = await ctx.target.call(`${tenant}#cert`, 'POST', '/v1/adapters', { body: { adapter_id: id, sha256, rank: 4 }, forTenant: tenant });
  e.expect(`${tenant} registers adapter ${id} -> ${registered.status} ${errorCode(registered.body)} (want 201)`, registered.status === 201);
  const res = await ctx.target.call('worker', 'POST', '/v1/adapters/apply', { body: { batch: [{ request_id: 'r', tenant, adapter_id: id, sha256: createHash('sha256').update('tampered').digest('hex') }] }, forTenant: tenant });
  const result = (res.body as { results?: { allow: boolean; reasons: string[] }[] }).results?.[0];
  e.expect(`apply with a different digest -> allow=${result?.allow} reasons=${result?.reasons?.join(',')} (want refused: digest_mismatch)`, result?.allow === false && result.reasons.includes('digest_mismatch'));
  return e.outcome();
}

/** M1: aggregate, per-tenant and Prometheus views are for operators only. */
export async function probeOperatorOnlyMetrics(ctx: ControlContext): Promise<ControlOutcome> {
  const e = new Evidence();
  const tenant = ctx.target.tenantIds[0]!;
  const other = ctx.target.tenantIds[1]!;
  for (const [actor, path] of [[`${tenant}#cert`, '/metrics'], [`${tenant}#cert`, `/v1/metrics/tenants/${other}`], ['worker', '/metrics'], ['worker', '/v1/metrics']] as const) {
    const res = await ctx.target.call(actor, 'GET', path, { forTenant: tenant });
    e.expect(`${actor.replace('#cert', '')} GET ${path} -> ${res.status} (want 403)`, res.status === 403);
  }
  const prom = await ctx.target.call('operator', 'GET', '/metrics');
  e.expect(`operator GET /metrics -> ${prom.status}, Prometheus text`, prom.status === 200 && prom.text.includes('# TYPE'));
  return e.outcome();
}
