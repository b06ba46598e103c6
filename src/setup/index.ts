export { initDirectory, EXAMPLE_TENANTS, DEFAULT_TRUST_DOMAIN, DEFAULT_WORKER_ID, DEFAULT_OPERATOR_ID, type InitOptions, type InitResult, type Credential } from './init-directory.js';
