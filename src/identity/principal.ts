/** Who is calling, as proven by a verified certificate or an API key. */
export type PrincipalRole = 'operator' | 'worker' | 'tenant';

export interface Principal {
  readonly role: PrincipalRole;
  readonly id: string;
  /**
   * How the principal proved itself; tiers with mtls_required refuse 'api_key' (N1).
   * 'unix_socket': the co-located worker, proven by the socket file's permissions (0600).
   */
  readonly authn: 'mtls' | 'api_key' | 'unix_socket';
  readonly spiffeId?: string;
  /** Normalised serial of the client certificate, for revocation checks. */
  readonly certSerial?: string;
}

export const PRINCIPAL_ROLES: readonly PrincipalRole[] = ['operator', 'worker', 'tenant'];
