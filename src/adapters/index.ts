export { AdapterRegistry, groupByAdapter } from './adapter-registry.js';
export type { Adapter, ApplyFacts, ApplyRefusal, RegisterResult } from './adapter-registry.js';
