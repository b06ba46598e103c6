export { AdapterRegistry, groupByAdapter, qualifiedAdapterId, resolveAdapterRef } from './adapter-registry.js';
export type { Adapter, AdapterRef, ApplyFacts, ApplyRefusal, RegisterResult } from './adapter-registry.js';
