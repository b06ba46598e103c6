import type { Logger } from 'pino';
import type { AuditLog, AuditPrincipalRole } from '../audit/index.js';
import { Errors, TgError } from '../errors.js';
import type { LoadedBundleInfo, PolicyEngine, ReloadResult } from '../policy/index.js';

/** What made the sidecar load a bundle again. */
export type PolicyReloadTrigger = 'http' | 'sighup' | 'watch' | 'bundle_service';

export interface PolicyReloadActor {
  readonly role: AuditPrincipalRole;
  readonly id: string;
}

/** Reloads nobody asked for over the API (a signal, the file watcher, the bundle poller). */
export const SIDECAR_ACTOR: PolicyReloadActor = { role: 'system', id: 'sidecar' };

/**
 * Issue 17.6a: every policy reload, whatever triggered it, is logged and leaves an `admin` audit
 * record: the trigger, who asked, loaded or refused, the revision serving afterwards, the digest
 * of a loaded bundle or the TG_ERR_* code of a refused one. Never the refusal's message or any
 * bundle content (L1): the log line carries the message for the operator.
 */
export class PolicyReloads {
  constructor(
    private readonly policy: PolicyEngine,
    private readonly audit: AuditLog,
    private readonly logger: Logger,
  ) {}

  /**
   * Loads the bundle file again and records the outcome; `recorded` is false if the audit log
   * refused the record. A log already known to be down refuses the reload up front (503
   * TG_ERR_AUDIT_DOWN, nothing changed): a policy change nobody can account for is not made.
   */
  async reload(trigger: PolicyReloadTrigger, actor: PolicyReloadActor): Promise<{ result: ReloadResult; recorded: boolean }> {
    if (!this.audit.healthy) {
      this.logger.error({ trigger }, 'policy reload refused: audit log unwritable');
      throw new TgError(Errors.AUDIT_DOWN, { message: 'audit log unwritable: the policy was not reloaded' });
    }
    const result = await this.policy.reload();
    return { result, recorded: await this.record(trigger, actor, result) };
  }

  /** Records a reload done elsewhere (the engine's file watcher, the bundle poller). */
  async record(trigger: PolicyReloadTrigger, actor: PolicyReloadActor, result: ReloadResult): Promise<boolean> {
    if (result.ok) this.logger.info({ trigger, revision: result.info.revision, sha256: result.info.sha256 }, 'policy bundle reloaded');
    else this.logger.error({ trigger, problem: result.error, kept: result.kept?.revision ?? null }, 'policy bundle refused');
    const serving: LoadedBundleInfo | null = result.ok ? result.info : result.kept;
    try {
      await this.audit.append({
        type: 'admin',
        severity: result.ok ? 'info' : 'warning',
        principal: { role: actor.role, id: actor.id },
        action: 'policy.reload',
        decision: result.ok ? 'allow' : 'deny',
        reasons: result.ok ? [] : ['bundle_refused'],
        effects: result.ok ? { trigger, sha256: result.info.sha256 } : { trigger, error_code: Errors.BUNDLE_INVALID.code },
        ...(serving ? { policyRevision: serving.revision } : {}),
      });
      return true;
    } catch {
      this.logger.error({ trigger }, 'policy reload could not be written to the audit log');
      return false;
    }
  }
}
