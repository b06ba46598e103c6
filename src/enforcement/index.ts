export { GuardedBlocks, type AllocateRequest, type AllocateResponse, type PoolView, type StepOp, type StepOpResult, type StepRequest, type StepResponse } from './guarded-blocks.js';
export { replayAuditLog, ReplayError, type ReplayReport, type ReplayTargets } from './replay.js';
export { AllocationMemo, type BlockFacts, type RememberedAllocation } from './allocation-memo.js';
export { GuardedAdapters, type AdapterRegistration, type ApplyItem, type ApplyResponse } from './guarded-adapters.js';
export { AuditTrail, type EventParts } from './audit-trail.js';
export { GuardedAdmission, type AdmissionRequest } from './guarded-admission.js';
export { GuardedKeys, type KeyAction } from './guarded-keys.js';
export { TenantErasure, type ErasureTargets } from './tenant-erasure.js';
export { RefusalRecorder, type Refusal, type RefusalLimits, type RefusedParty } from './refusals.js';
