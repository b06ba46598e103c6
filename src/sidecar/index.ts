export { startSidecar, SERVER_CERT_ID, type RunningSidecar, type StartOptions } from './start-sidecar.js';
export { buildLedgerFromAudit } from './build-ledger.js';
