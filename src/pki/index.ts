// The pki component's front door: a dev CA, X.509-SVIDs per role, a PKI directory and its revocation
// list. Everything else in this folder is private.
export {
  createCertificateAuthority,
  issueCertificate,
  type CertificateAuthority,
  type CreateCaOptions,
  type IssueRequest,
  type IssuedCertificate,
} from './authority.js';
export {
  initPkiDirectory,
  loadCertificateAuthority,
  pkiPaths,
  saveCertificateAuthority,
  saveIssuedCertificate,
  type InitPkiOptions,
  type InitializedPki,
  type PkiPaths,
} from './store.js';
export { loadRevocationList, normalizeSerial, requireIssuedSerial, revokeCertificate, type RevocationList } from './revocation.js';
export { formatSpiffeId, parseSpiffeId, CERTIFICATE_ROLES, type CertificateRole, type SpiffeId } from './spiffe.js';
export { clientSvidProblem, type SvidProblem } from './svid.js';
