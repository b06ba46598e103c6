/** The conformance harness: controls, hunts, probes, the runner and reports. */
export { CONTROLS } from './controls/catalogue.js';
export { runConformance, selectControls, selectionProblems, matchesSelector, HARNESS_VERSION, type RunOptions } from './runner.js';
export { ConformanceTarget, describeInitDirectory, describeLiveTenants, auditHead, TargetTenantsError, MIN_LIVE_TENANTS, type TargetDescription, type Credential } from './target.js';
export { spawnTarget, type SpawnedTarget } from './spawn.js';
export type { Control, ControlContext, ControlOutcome } from './control.js';
export * from './model.js';
export * from './report/index.js';
