import type { Logger } from 'pino';
import { REASON_PATTERN, type AuditEvent, type AuditLog } from '../audit/index.js';

/** Who a refused request came from, when that is known; else it is recorded as `system/unauthenticated`. */
export interface RefusedParty {
  readonly role: 'operator' | 'worker' | 'tenant';
  readonly id: string;
}

/** One refused request, content-free: no key, no certificate bytes, no path or body (L1). */
export interface Refusal {
  readonly principal: RefusedParty | null;
  /** The route's action (`tenants.list`), or `authn.certificate`, `authn.api_key`, `authn.none`, `authn.header`. */
  readonly action: string;
  /** The catalogue code the caller got, e.g. `TG_ERR_UNKNOWN_API_KEY`. */
  readonly code: string;
  /** Reason codes of the refusal (policy reasons, the failed SVID rule); never caller content. */
  readonly reasons?: readonly string[];
  /** Only a registered tenant's id (a path segment is caller content until the registry knows it). */
  readonly tenant?: string;
}

export interface RefusalLimits {
  /** Records (and log lines) a code may write at once; default 20. */
  readonly burst?: number;
  /** Records per second a code earns back; default 1. */
  readonly perSecond?: number;
  /** How often suppressed refusals are summed up in one record and log line; default 60 s. */
  readonly summaryIntervalMs?: number;
}

const UNAUTHENTICATED = { role: 'system', id: 'unauthenticated' } as const;

/**
 * Refusals leave a trace (issue 20.7): a role-denied call, a revoked or non-SVID certificate, a bad
 * API key each write a `decision`/`deny` audit record and a log line. A flood of bad attempts cannot
 * grow the log without bound: each error code has a token bucket (`burst`, refilled `perSecond`);
 * past it, refusals are only counted, and every `summaryIntervalMs` one `refusals.suppressed`
 * lifecycle record (and log line) carries the counts per code.
 *
 * Recording never changes the answer: `record` is synchronous and never throws, the append is not
 * awaited, and an audit log that is down loses the record (counted in the next summary log line),
 * never turns a 401/403 into a 5xx or delays it.
 */
export class RefusalRecorder {
  private readonly burst: number;
  private readonly perMs: number;
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private suppressed = new Map<string, number>();
  private unrecorded = 0;
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly audit: AuditLog,
    private readonly logger: Logger,
    limits: RefusalLimits = {},
    private readonly now: () => number = Date.now,
  ) {
    this.burst = Math.max(1, limits.burst ?? 20);
    this.perMs = Math.max(0, limits.perSecond ?? 1) / 1000;
    this.timer = setInterval(() => this.summarize(), Math.max(10, limits.summaryIntervalMs ?? 60_000));
    this.timer.unref();
  }

  record(refusal: Refusal): void {
    if (this.closed) return;
    if (!this.take(refusal.code)) {
      this.suppressed.set(refusal.code, (this.suppressed.get(refusal.code) ?? 0) + 1);
      return;
    }
    const principal = refusal.principal ?? UNAUTHENTICATED;
    const reasons = [reasonOf(refusal.code), ...(refusal.reasons ?? [])].filter((r) => REASON_PATTERN.test(r)).slice(0, 16);
    this.logger.warn({ code: refusal.code, action: refusal.action, principal: `${principal.role}/${principal.id}`, reasons }, 'request refused');
    const event: AuditEvent = {
      type: 'decision',
      severity: 'warning',
      principal: { role: principal.role, id: principal.id },
      action: refusal.action,
      ...(refusal.tenant !== undefined ? { tenant: refusal.tenant } : {}),
      decision: 'deny',
      reasons,
      effects: { code: refusal.code },
    };
    this.audit.append(event).catch(() => {
      this.unrecorded += 1;
    });
  }

  /** Writes the last summary (if anything was suppressed) and stops; call before the audit log closes. */
  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.timer);
    await this.summarize();
    this.closed = true;
  }

  private take(code: string): boolean {
    const now = this.now();
    const bucket = this.buckets.get(code) ?? { tokens: this.burst, at: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.at) * this.perMs);
    bucket.at = now;
    this.buckets.set(code, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  private async summarize(): Promise<void> {
    const unrecorded = this.unrecorded;
    this.unrecorded = 0;
    if (unrecorded > 0) this.logger.error({ unrecorded }, 'refusals not recorded: audit log unwritable');
    if (this.suppressed.size === 0) return;
    const counts: Record<string, number> = {};
    let total = 0;
    for (const [code, n] of this.suppressed) {
      counts[code.toLowerCase()] = n;
      total += n;
    }
    this.suppressed = new Map();
    this.logger.warn({ suppressed: total, byCode: counts }, 'refusals suppressed by the rate limit');
    await this.audit
      .append({ type: 'lifecycle', severity: 'warning', principal: { role: 'system', id: 'refusals' }, action: 'refusals.suppressed', decision: 'deny', reasons: ['rate_limited'], counts: { ...counts, total } })
      .then(
        () => undefined,
        () => this.logger.error({ suppressed: total }, 'refusal summary not recorded: audit log unwritable'),
      );
  }
}

/** `TG_ERR_CERT_REVOKED` → `cert_revoked`: the code as a reason, so a reader filtering on reasons finds it. */
function reasonOf(code: string): string {
  return code.replace(/^TG_ERR_/, '').toLowerCase();
}
