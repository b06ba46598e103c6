export { startSidecar, SERVER_CERT_ID, type RunningSidecar, type StartOptions } from './start-sidecar.js';
export { buildServices, type AssembledSidecar, type ComponentOverrides } from './build-services.js';
export { restoreStateFromAudit, type RestoredState } from './restore-state.js';
export { registryData } from './registry-data.js';
