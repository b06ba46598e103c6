import { readFile } from 'node:fs/promises';
import { unwatchFile, watchFile } from 'node:fs';
import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { BundleError, parseBundle, parseSignedBundle, type PolicyBundle } from './bundle.js';
import type { BundleVerification } from './bundle-signature.js';

/** What every policy entrypoint returns (docs/design.md). */
export interface Decision {
  readonly allow: boolean;
  readonly reasons: readonly string[];
  /** Further keys of the decision object, e.g. per-item decisions of a batch (`items`). */
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface LoadedBundleInfo {
  readonly revision: string;
  readonly sha256: string;
  readonly entrypoints: readonly string[];
  readonly loadedAt: Date;
  readonly path: string;
  /** True when the bundle's signature was verified under the configured key (policy.verification). */
  readonly signatureVerified: boolean;
}

export type ReloadResult =
  | { readonly ok: true; readonly info: LoadedBundleInfo }
  | { readonly ok: false; readonly error: string; readonly kept: LoadedBundleInfo | null };

export interface PolicyEngineOptions {
  readonly bundlePath: string;
  /** A bundle lacking any of these is incomplete and refused (the last good one stays). */
  readonly requiredEntrypoints: readonly string[];
  /** Data merged over the bundle's data.json at the top level, e.g. `{ tenants: {...} }`. */
  readonly externalData?: Record<string, unknown>;
  /** When set, only bundles signed by this key load (an unsigned or altered one is refused). */
  readonly verification?: BundleVerification;
}

interface ActiveBundle {
  readonly policy: LoadedPolicy;
  readonly bundleData: Record<string, unknown>;
  readonly info: LoadedBundleInfo;
}

/**
 * Evaluates Rego compiled to WebAssembly, in-process. `decide` never throws: no bundle, an unknown
 * entrypoint, an evaluation error (conflict, abort) or a malformed result is a deny with a reason,
 * because a policy that cannot answer must never let a request through (fail closed).
 */
export class PolicyEngine {
  private active: ActiveBundle | null = null;
  private externalData: Record<string, unknown>;
  /** `decideCached` answers, valid for `memoFor` (a bundle) and the current external data only. */
  private readonly memo = new Map<string, Decision>();
  private memoFor: ActiveBundle | null = null;
  private watching = false;

  constructor(private readonly options: PolicyEngineOptions) {
    this.externalData = options.externalData ?? {};
  }

  get info(): LoadedBundleInfo | null {
    return this.active?.info ?? null;
  }

  get ready(): boolean {
    return this.active !== null;
  }

  /**
   * Loads the bundle file again and swaps it in only if it is complete and evaluable; on any
   * defect the previous bundle keeps serving and the error says why.
   */
  async reload(): Promise<ReloadResult> {
    let archive: Buffer;
    try {
      archive = await readFile(this.options.bundlePath);
    } catch (error) {
      return { ok: false, error: describeLoadError(error), kept: this.info };
    }
    return this.load(archive);
  }

  /** Like `reload`, from bytes (a downloaded bundle): swapped in only if complete and evaluable. */
  async load(archive: Uint8Array): Promise<ReloadResult> {
    try {
      const verification = this.options.verification;
      const next = await this.instantiate(verification ? await parseSignedBundle(archive, verification) : parseBundle(archive));
      this.active = next; // a single reference swap: no request ever sees a half-loaded bundle
      return { ok: true, info: next.info };
    } catch (error) {
      return { ok: false, error: describeLoadError(error), kept: this.info };
    }
  }

  /**
   * Replaces the data merged over the bundle's own (the tenant registry). Costs one setData, so
   * call it when the registry changes, never per decision.
   */
  setExternalData(data: Record<string, unknown>): void {
    this.externalData = data;
    this.memo.clear();
    if (this.active) this.active.policy.setData({ ...this.active.bundleData, ...data });
  }

  /**
   * Bytes of WebAssembly linear memory the loaded policy holds. WASM memory only ever grows, so
   * this is the high-water mark of every evaluation so far: one oversized input costs it for good.
   */
  get wasmMemoryBytes(): number {
    const memory = (this.active?.policy as { mem?: WebAssembly.Memory } | undefined)?.mem;
    return memory?.buffer.byteLength ?? 0;
  }

  decide(entrypoint: string, input: unknown): Decision {
    const active = this.active;
    if (!active) return deny('policy_unavailable');
    if (!Object.prototype.hasOwnProperty.call(active.policy.entrypoints, entrypoint)) {
      return deny('unknown_entrypoint');
    }
    let resultSet: unknown;
    try {
      resultSet = active.policy.evaluate(input, entrypoint);
    } catch (error) {
      return deny(`policy_error:${evaluationErrorKind(error)}`);
    }
    return toDecision(resultSet);
  }

  /**
   * `decide` for inputs that repeat on every request (route authorization: a few principals times
   * a few actions). The answer is remembered under `key`, which must identify the input exactly,
   * until another bundle is swapped in or the external data changes; failures (`policy_*`) are
   * never remembered. Only for entrypoints that depend on nothing but input and data (no time, no
   * randomness, no I/O), where evaluating again is guaranteed to give the same answer.
   */
  decideCached(entrypoint: string, key: string, input: () => unknown): Decision {
    const active = this.active;
    if (this.memoFor !== active) {
      this.memo.clear();
      this.memoFor = active;
    }
    const memoKey = `${entrypoint} ${key}`;
    const remembered = this.memo.get(memoKey);
    if (remembered !== undefined) return remembered;
    const decision = this.decide(entrypoint, input());
    if (active !== null && !decision.reasons.some((r) => r.startsWith('policy_'))) {
      if (this.memo.size >= MAX_MEMO_ENTRIES) this.memo.clear();
      this.memo.set(memoKey, decision);
    }
    return decision;
  }

  /** Polls the bundle file and reloads when it changes (`opa build` rewrites it in place). */
  watch(onReload: (result: ReloadResult) => void, intervalMs = 1000): void {
    if (this.watching) return;
    this.watching = true;
    watchFile(this.options.bundlePath, { interval: intervalMs }, (current, previous) => {
      if (current.mtimeMs === previous.mtimeMs && current.size === previous.size) return;
      void this.reload().then(onReload);
    });
  }

  close(): void {
    if (this.watching) unwatchFile(this.options.bundlePath);
    this.watching = false;
  }

  private async instantiate(bundle: PolicyBundle): Promise<ActiveBundle> {
    let policy: LoadedPolicy;
    try {
      policy = await loadPolicy(bundle.wasm);
    } catch {
      throw new BundleError('policy.wasm is not a loadable OPA WebAssembly module');
    }
    const missing = this.options.requiredEntrypoints.filter(
      (name) => !Object.prototype.hasOwnProperty.call(policy.entrypoints, name),
    );
    if (missing.length > 0) throw new BundleError(`bundle lacks required entrypoints: ${missing.join(', ')}`);
    policy.setData({ ...bundle.data, ...this.externalData });
    return {
      policy,
      bundleData: bundle.data,
      info: {
        revision: bundle.manifest.revision,
        sha256: bundle.sha256,
        entrypoints: Object.keys(policy.entrypoints as Record<string, number>).sort(),
        loadedAt: new Date(),
        path: this.options.bundlePath,
        signatureVerified: this.options.verification !== undefined,
      },
    };
  }
}

/** Bounds `decideCached` memory whatever callers put in keys (e.g. tenant ids from URLs). */
const MAX_MEMO_ENTRIES = 4096;

function deny(reason: string): Decision {
  return { allow: false, reasons: [reason] };
}

function toDecision(resultSet: unknown): Decision {
  if (!Array.isArray(resultSet) || resultSet.length === 0) return deny('policy_undefined');
  const first: unknown = resultSet[0];
  const result = typeof first === 'object' && first !== null && 'result' in first ? first.result : undefined;
  if (typeof result !== 'object' || result === null) return deny('policy_result_invalid');
  const allow = 'allow' in result ? result.allow : undefined;
  const reasons = 'reasons' in result ? result.reasons : [];
  if (typeof allow !== 'boolean' || !Array.isArray(reasons) || !reasons.every((r) => typeof r === 'string')) {
    return deny('policy_result_invalid');
  }
  // An "allow" that still carries reasons is contradictory: treat it as a deny.
  if (allow && reasons.length > 0) return { allow: false, reasons: ['policy_result_invalid', ...reasons] };
  const { allow: _allow, reasons: _reasons, ...details } = result as Record<string, unknown>;
  return Object.keys(details).length > 0 ? { allow, reasons, details } : { allow, reasons };
}

/**
 * opa-wasm throws bare strings such as "authz.rego:8:1: var assignment conflict". The location is
 * dropped and only a short lowercase phrase survives as the reason kind: anything else might quote
 * a value, and nothing from a request may reach a reason, log or response (L1).
 */
function evaluationErrorKind(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const message = text.replace(/^.*?:\d+:\d+:\s*/, '');
  if (/conflict/.test(message)) return 'eval_conflict_error';
  return /^[a-z ]{1,48}$/.test(message) ? message.replaceAll(' ', '_') : 'evaluation_failed';
}

function describeLoadError(error: unknown): string {
  if (error instanceof BundleError) return error.message;
  if (typeof error === 'object' && error !== null && 'code' in error && error.code === 'ENOENT') {
    return 'bundle file not found (run `npm run policy:build`)';
  }
  return 'bundle could not be loaded';
}
