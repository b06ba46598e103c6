export { SidecarClient, SidecarError, type SidecarEndpoint, type StepOp, type StepOpResult, type StepRequest, type StepResponse } from './sidecar-client.js';
