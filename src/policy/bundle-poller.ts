import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { writeFileDurably } from '../durable-file.js';
import type { LoadedBundleInfo, PolicyEngine } from './policy-engine.js';

export interface BundleServiceOptions {
  /** `https://…` (or `http://` on a trusted network) serving the `.tar.gz`. */
  readonly url: string;
  /** PEM CA certificates trusted for an https bundle server (default: Node's CA store). */
  readonly ca?: Buffer;
  readonly pollIntervalMs: number;
  /** Where the downloaded bundle is kept: the engine's bundle file, so a restart starts from it. */
  readonly bundlePath: string;
}

/** What one poll did, for the log. */
export type PollOutcome =
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'updated'; readonly info: LoadedBundleInfo }
  | { readonly kind: 'failed'; readonly problem: string };

/** Downloads past this size are refused (the engine's own cap on an unpacked bundle is 64 MiB). */
const MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024;
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * Pulls the policy bundle from a bundle server the way OPA does: a GET every interval with
 * `If-None-Match: <last ETag>`, so an unchanged bundle costs a 304. A new bundle is loaded
 * from memory first (archive, signature when configured, entrypoints, wasm) and written over the
 * local bundle file only once it serves, so a restart starts from the last good bundle. A server
 * that is down, an error status or a bad bundle changes nothing: the last good bundle keeps
 * serving and the next poll tries again.
 */
export class BundlePoller {
  private etag: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly engine: PolicyEngine,
    private readonly options: BundleServiceOptions,
  ) {}

  /** Polls now and then every interval until `stop`; `onPoll` hears each outcome. */
  start(onPoll: (outcome: PollOutcome) => void): void {
    const loop = async (): Promise<void> => {
      const outcome = await this.poll();
      if (this.stopped) return;
      onPoll(outcome);
      this.timer = setTimeout(() => void loop(), this.options.pollIntervalMs);
      this.timer.unref();
    };
    void loop();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  async poll(): Promise<PollOutcome> {
    let response: { status: number; etag: string | null; body: Buffer };
    try {
      response = await this.download();
    } catch (error) {
      return { kind: 'failed', problem: `bundle server unreachable: ${error instanceof Error ? error.message : String(error)}` };
    }
    if (response.status === 304) return { kind: 'unchanged' };
    if (response.status !== 200) return { kind: 'failed', problem: `bundle server answered ${response.status}` };
    // Swapped in only if it loads completely (archive, signature, entrypoints, wasm); only then
    // does it replace the local file, which therefore always holds a bundle that loaded.
    const reload = await this.engine.load(response.body);
    if (!reload.ok) return { kind: 'failed', problem: `downloaded bundle refused, previous one keeps serving: ${reload.error}` };
    try {
      await writeFileDurably(this.options.bundlePath, response.body, 0o644);
    } catch (error) {
      // The ETag stays the old one, so the next poll downloads it again and retries the store.
      return { kind: 'failed', problem: `bundle ${reload.info.revision} is serving but could not be stored for the next start: ${(error as NodeJS.ErrnoException).code ?? 'write failed'}` };
    }
    this.etag = response.etag;
    return { kind: 'updated', info: reload.info };
  }

  private download(): Promise<{ status: number; etag: string | null; body: Buffer }> {
    const url = new URL(this.options.url);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(
        url,
        { method: 'GET', timeout: REQUEST_TIMEOUT_MS, headers: this.etag ? { 'if-none-match': this.etag } : {}, ...(this.options.ca ? { ca: this.options.ca } : {}) },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_DOWNLOAD_BYTES) req.destroy(new Error(`bundle larger than ${MAX_DOWNLOAD_BYTES} bytes`));
            else chunks.push(chunk);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, etag: typeof res.headers.etag === 'string' ? res.headers.etag : null, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end();
    });
  }
}
