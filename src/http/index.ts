export { createApp } from './app.js';
export type { SidecarServices } from './services.js';
