export { AuditLog } from './audit-log.js';
export type { AuditLogOptions, AuditLogStats, AuditOpenReport } from './audit-log.js';
export { AuditKey } from './chain.js';
export type { RecordedIdKind } from './chain.js';
export { loadAuditKey, openAuditKey } from './audit-key.js';
export { verifyAuditLog, formatVerifyResult, runAuditVerify } from './verify.js';
export type { VerifyOptions, VerifyProblem, VerifyResult } from './verify.js';
export { auditEventSchema, validateAuditEvent, REASON_PATTERN } from './schema.js';
export type { AuditEffectValue, AuditEvent, AuditEventType, AuditPrincipalRole, AuditRecord, AuditSeverity } from './schema.js';
