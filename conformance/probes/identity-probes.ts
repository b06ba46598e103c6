import { connect } from 'node:tls';
import { Evidence, errorCode, type ControlContext, type ControlOutcome } from '../control.js';
import { createCertificateAuthority, issueCertificate } from '../../src/pki/index.js';
import { ConformanceTarget } from '../target.js';

/** N1: callers without a proven identity get 401, whatever route they try. */
export async function probeAuthenticationRequired(ctx: ControlContext): Promise<ControlOutcome> {
  const e = new Evidence();
  for (const [method, path] of [['GET', '/v1/tenants'], ['POST', '/v1/blocks/allocate'], ['GET', '/v1/metrics'], ['GET', '/metrics']] as const) {
    const res = await ctx.target.call('anonymous', method, path, method === 'POST' ? { body: {} } : {});
    e.expect(`${method} ${path} without credentials -> ${res.status} ${errorCode(res.body)} (want 401 TG_ERR_NO_CREDENTIALS)`, res.status === 401 && errorCode(res.body) === 'TG_ERR_NO_CREDENTIALS');
  }
  return e.outcome();
}

/** N1: a certificate from another CA is refused even when its SPIFFE id looks right. */
export async function probeForeignCa(ctx: ControlContext): Promise<ControlOutcome> {
  const e = new Evidence();
  const rogueCa = await createCertificateAuthority({ trustDomain: 'tenantguard.local' });
  const rogue = await issueCertificate(rogueCa, { role: 'operator', id: 'admin' });
  const impostor = new ConformanceTarget({ ...ctx.target.description, operator: { cert: Buffer.from(rogue.certPem), key: Buffer.from(rogue.keyPem) } });
  try {
    const res = await impostor.call('operator', 'GET', '/v1/tenants');
    e.expect(`operator certificate from a foreign CA -> ${res.status} ${errorCode(res.body)} (want 401 TG_ERR_CERT_UNTRUSTED)`, res.status === 401 && errorCode(res.body) === 'TG_ERR_CERT_UNTRUSTED');
    ctx.target.history.push(...impostor.history.map((h) => ({ ...h, step: ctx.target.history.length + 1, actor: 'foreign-ca-operator' })));
  } finally {
    impostor.close();
  }
  return e.outcome();
}

/** Transmission security: only TLS 1.3 is spoken. */
export async function probeTls13Only(ctx: ControlContext): Promise<ControlOutcome> {
  const e = new Evidence();
  const url = new URL(ctx.target.description.url);
  const outcome = await new Promise<string>((resolve) => {
    const socket = connect({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port), ca: ctx.target.description.ca, servername: 'localhost', maxVersion: 'TLSv1.2' });
    socket.once('secureConnect', () => {
      socket.destroy();
      resolve('handshake completed');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'refused'));
  });
  e.expect(`a TLS 1.2-only client -> ${outcome} (want the handshake refused)`, outcome !== 'handshake completed');
  return e.outcome();
}

/** N1: every principal acts only in its role. */
export async function probeRoleSeparation(ctx: ControlContext): Promise<ControlOutcome> {
  const e = new Evidence();
  const tenant = ctx.target.tenantIds[0]!;
  const cases: Array<[string, string, string, unknown, number]> = [
    [`${tenant}#cert`, 'POST', '/v1/blocks/allocate', { tenant, request_id: 'probe', count: 1 }, 403],
    [`${tenant}#cert`, 'GET', '/v1/tenants', undefined, 403],
    ['worker', 'GET', '/v1/tenants', undefined, 403],
    ['worker', 'DELETE', `/v1/tenants/${tenant}`, undefined, 403],
    ['worker', 'POST', '/v1/adapters', { adapter_id: 'probe', sha256: '0'.repeat(64), rank: 1 }, 403],
    ['operator', 'POST', '/v1/blocks/allocate', { tenant, request_id: 'probe', count: 1 }, 403],
  ];
  for (const [actor, method, path, body, want] of cases) {
    const res = await ctx.target.call(actor, method, path, body === undefined ? {} : { body });
    e.expect(`${actor.replace('#cert', '')} ${method} ${path} -> ${res.status} ${errorCode(res.body)} (want ${want})`, res.status === want);
  }
  return e.outcome();
}

/** N1: tiers that require mTLS refuse their API key; unknown keys are 401. */
export async function probeApiKeys(ctx: ControlContext): Promise<ControlOutcome> {
  const e = new Evidence();
  for (const [id, info] of Object.entries(ctx.target.description.tenants)) {
    if (!info.apiKey) continue;
    const res = await ctx.target.call(`${id}#key`, 'GET', '/v1/usage');
    const want = info.tier === 'enterprise' ? 403 : 200;
    e.expect(`${info.tier} tenant ${id} with its API key only -> ${res.status} ${errorCode(res.body)} (want ${want})`, res.status === want);
  }
  const guesser = new ConformanceTarget({ ...ctx.target.description, operator: { bearer: `tg_${'A'.repeat(43)}` } });
  try {
    const res = await guesser.call('operator', 'GET', '/v1/usage');
    e.expect(`an unknown API key -> ${res.status} ${errorCode(res.body)} (want 401 TG_ERR_UNKNOWN_API_KEY)`, res.status === 401 && errorCode(res.body) === 'TG_ERR_UNKNOWN_API_KEY');
  } finally {
    guesser.close();
  }
  return e.outcome();
}
