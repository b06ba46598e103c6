/** A bundle that cannot be loaded: the message says why, for the operator (never bundle content). */
export class BundleError extends Error {
  override readonly name = 'BundleError';
}
