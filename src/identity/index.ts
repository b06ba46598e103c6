export { CredentialRefused, principalFromTlsSocket, type CertificateCheck } from './certificate-identity.js';
export { ApiKeyRegistry, generateApiKey, sha256Hex } from './api-keys.js';
export { PRINCIPAL_ROLES, type Principal, type PrincipalRole } from './principal.js';
