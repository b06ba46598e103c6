export { GuardedBlocks, type AllocateRequest, type AllocateResponse } from './guarded-blocks.js';
export { replayAuditIntoLedger, ReplayError, type ReplayReport } from './replay.js';
