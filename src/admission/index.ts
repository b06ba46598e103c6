/** Admission control (concurrency, tokens per minute, weighted fair queueing): the class and its types. */
export { AdmissionController } from './admission-controller.js';
export { admissionErrorFor } from './denial-errors.js';
export type {
  AdmissionClock,
  AdmissionDenialReason,
  AdmissionDenied,
  AdmissionOptions,
  AdmissionStats,
  AdmissionTenant,
  AdmissionTenantPatch,
  AdmissionTimer,
  Admitted,
  AdmitResult,
  CompleteResult,
  Completed,
  ReclaimedRequest,
  RequestId,
  RequestUsage,
  TenantAdmissionUsage,
  TenantId,
  UnknownRequest,
} from './types.js';
