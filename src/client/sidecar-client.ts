import { isIP } from 'node:net';
import { Client, type Dispatcher } from 'undici';
import type { StepRequest, StepResponse } from '../enforcement/index.js';

export type { StepOp, StepOpResult, StepRequest, StepResponse } from '../enforcement/index.js';

/** How to reach the sidecar: its worker Unix socket, or HTTPS with a client certificate (mTLS). */
export type SidecarEndpoint =
  | { readonly socketPath: string }
  | { readonly url: string; readonly ca: string | Buffer; readonly cert: string | Buffer; readonly key: string | Buffer; readonly servername?: string };

/** A refusal from the sidecar, carrying its stable `TG_ERR_*` code. */
export class SidecarError extends Error {
  override readonly name = 'SidecarError';

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly reasons: readonly string[] = [],
  ) {
    super(`${message} [${code}]`);
  }
}

/**
 * A worker's client for the sidecar on one kept-alive connection (undici), so a scheduler step
 * costs one request, not one handshake. `step()` is the claim-mode call an engine makes once per
 * scheduler step; `request()` reaches any other route.
 */
export class SidecarClient {
  private readonly client: Client;

  constructor(endpoint: SidecarEndpoint) {
    this.client =
      'socketPath' in endpoint
        ? new Client('http://localhost', { socketPath: endpoint.socketPath, pipelining: 1 })
        : new Client(endpoint.url, { connect: { ca: endpoint.ca, cert: endpoint.cert, key: endpoint.key, ...serverName(endpoint) } });
  }

  /** One scheduler step: claims, releases and scrub confirmations, each op atomic on its own. */
  step(request: StepRequest): Promise<StepResponse> {
    return this.request<StepResponse>('POST', '/v1/steps', request);
  }

  /** The tenant a sidecar-issued cache salt belongs to (how a worker attributes a request). */
  tenantForCacheSalt(cacheSalt: string): Promise<{ tenant: string; version: number }> {
    return this.request('POST', '/v1/cache-salts/lookup', { cache_salt: cacheSalt });
  }

  /** A JSON call; throws SidecarError for any non-2xx answer. */
  async request<T>(method: Dispatcher.HttpMethod, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const res = await this.client.request({
      method,
      path,
      ...(payload !== undefined ? { body: payload, headers: { 'content-type': 'application/json' } } : {}),
    });
    const text = await res.body.text();
    if (res.statusCode >= 200 && res.statusCode < 300) return (text.length > 0 ? JSON.parse(text) : undefined) as T;
    throw refusal(res.statusCode, text);
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/** SNI carries host names only (RFC 6066 §3): for an IP address the certificate's IP SAN is checked without it. */
function serverName(endpoint: { url: string; servername?: string }): { servername?: string } {
  const host = endpoint.servername ?? new URL(endpoint.url).hostname;
  return isIP(host) === 0 ? { servername: host } : {};
}

function refusal(status: number, text: string): SidecarError {
  try {
    const { error } = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; reasons?: unknown } };
    if (error && typeof error.code === 'string') {
      return new SidecarError(status, error.code, typeof error.message === 'string' ? error.message : 'refused', Array.isArray(error.reasons) ? error.reasons.map(String) : []);
    }
  } catch {
    /* not the sidecar's JSON error body */
  }
  return new SidecarError(status, 'TG_ERR_UNEXPECTED_RESPONSE', `HTTP ${status} without a tenantguard error body`);
}
