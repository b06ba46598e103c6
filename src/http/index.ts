export { createApp, createRequestHandler } from './app.js';
export type { Transport } from './authenticate.js';
export type { SidecarServices } from './services.js';
