import type { AuditEvent, AuditLog, RecordedIdKind } from '../audit/index.js';
import { Errors, TgError, isTgError } from '../errors.js';
import type { Principal } from '../identity/index.js';

export interface EventParts {
  readonly principal: Principal;
  readonly action: string;
  readonly tenant?: string;
  readonly blocks?: number[];
  readonly counts?: Record<string, number>;
  readonly effects?: AuditEvent['effects'];
}

/**
 * How every guarded operation writes its evidence: a change is acknowledged only once its record
 * is durable, and undone if it cannot be (fail closed); a denial is recorded before it is answered.
 */
export class AuditTrail {
  constructor(
    private readonly audit: AuditLog,
    private readonly policyRevision: () => string | undefined,
  ) {}

  /** Recently recorded ids: a claim-mode request is named in every step it runs, and one HMAC costs ~4 µs. */
  private readonly recordedIds = new Map<string, string>();

  /**
   * What a client-chosen id is recorded and kept in replayable state as: a keyed digest, never the
   * id itself, since a client can put content in it (L1, issue 20.6).
   */
  recordedId(kind: RecordedIdKind, tenant: string, id: string): string {
    const memo = `${kind}\n${tenant}\n${id}`;
    let recorded = this.recordedIds.get(memo);
    if (recorded === undefined) {
      // Bounded: forgetting everything at once is O(1) amortised and only costs recomputation.
      if (this.recordedIds.size >= RECORDED_ID_MEMO) this.recordedIds.clear();
      recorded = this.audit.recordedId(kind, tenant, id);
      this.recordedIds.set(memo, recorded);
    }
    return recorded;
  }

  /** Appends the record of a change already applied in memory; `undo` reverts it on failure. Returns the record's seq. */
  async recordChange(event: EventParts, undo: () => void): Promise<number> {
    try {
      return (await this.audit.append(this.toEvent(event, 'allow', []))).seq;
    } catch (error) {
      undo();
      throw asAuditFailure(error);
    }
  }

  async recordDenial(event: EventParts, reasons: readonly string[], violation = false): Promise<void> {
    try {
      await this.audit.append(this.toEvent(event, 'deny', reasons, violation));
    } catch (error) {
      throw asAuditFailure(error);
    }
  }

  private toEvent(parts: EventParts, decision: 'allow' | 'deny', reasons: readonly string[], violation = false): AuditEvent {
    const revision = this.policyRevision();
    return {
      // Violations (I4, I6, A1) are critical: a caller reached for something its tenant does not hold.
      type: violation ? 'violation' : 'decision',
      severity: violation ? 'critical' : 'info',
      principal: { role: parts.principal.role, id: parts.principal.id },
      action: parts.action,
      ...(parts.tenant ? { tenant: parts.tenant } : {}),
      decision,
      reasons: reasons.slice(0, 64),
      ...(parts.counts ? { counts: parts.counts } : {}),
      ...(parts.blocks ? { blocks: parts.blocks } : {}),
      ...(parts.effects ? { effects: parts.effects } : {}),
      ...(revision ? { policyRevision: revision } : {}),
    };
  }
}

/** Enough for every live request of a busy engine several times over (~3 MiB at the bound). */
const RECORDED_ID_MEMO = 16_384;

/** AUDIT_DOWN (503) for an unwritable log; a record our own code built wrong stays a 500. */
function asAuditFailure(error: unknown): TgError {
  return isTgError(error) ? error : new TgError(Errors.AUDIT_DOWN);
}
