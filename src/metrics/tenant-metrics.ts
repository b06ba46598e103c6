import { Counter, Gauge, Histogram, Registry, type MetricObjectWithValues, type MetricValueWithName } from 'prom-client';

/** Live per-tenant figures read at scrape time (KV blocks come from the ledger, not counters). */
export interface BlockUsageSource {
  tenants(): readonly string[];
  usage(tenant: string): { owned: number; peakOwned: number };
}

export interface TenantView {
  readonly tenant: string;
  readonly requests: number;
  readonly tokens: { readonly input: number; readonly output: number };
  readonly rejections: Readonly<Record<string, number>>;
  readonly rate_limited: number;
  readonly kv_blocks: { readonly in_use: number; readonly peak: number };
  readonly admission_wait_seconds: HistogramView;
  readonly decision_latency_seconds: HistogramView;
}

export interface HistogramView {
  readonly count: number;
  readonly sum: number;
  /** Cumulative counts by upper bound (`le`), as in Prometheus. */
  readonly buckets: Readonly<Record<string, number>>;
}

const WAIT_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30];
const DECISION_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05];

/**
 * Per-tenant figures in one prom-client registry (not the global one). Every series carries a
 * `tenant` label; the tenant view is built by keeping only series whose label is the caller (M1),
 * and nothing cluster-wide (no global cache hits, no total load) is ever put in it.
 */
export class TenantMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'tenant'>;
  private readonly tokens: Counter<'tenant' | 'direction'>;
  private readonly rejections: Counter<'tenant' | 'reason'>;
  private readonly rateLimited: Counter<'tenant'>;
  private readonly admissionWait: Histogram<'tenant'>;
  private readonly decisionLatency: Histogram<'tenant'>;

  constructor(blocks: BlockUsageSource) {
    const registers = [this.registry];
    this.requests = new Counter({ name: 'tenantguard_requests_total', help: 'Requests admitted', labelNames: ['tenant'], registers });
    this.tokens = new Counter({ name: 'tenantguard_tokens_total', help: 'Tokens used, from completions', labelNames: ['tenant', 'direction'], registers });
    this.rejections = new Counter({ name: 'tenantguard_rejections_total', help: 'Requests refused, by reason', labelNames: ['tenant', 'reason'], registers });
    this.rateLimited = new Counter({ name: 'tenantguard_rate_limited_total', help: 'Admission requests refused (429) by a rate limit that waiting lifts: concurrency, tokens per minute, queue timeout. Not KV quota or pool refusals (see tenantguard_rejections_total by reason), not requests that can never fit', labelNames: ['tenant'], registers });
    this.admissionWait = new Histogram({ name: 'tenantguard_admission_wait_seconds', help: 'Time spent queued for worker capacity', labelNames: ['tenant'], buckets: WAIT_BUCKETS, registers });
    this.decisionLatency = new Histogram({ name: 'tenantguard_decision_latency_seconds', help: 'Policy + ledger decision time per call', labelNames: ['tenant'], buckets: DECISION_BUCKETS, registers });
    new Gauge({
      name: 'tenantguard_kv_blocks_in_use',
      help: 'KV blocks owned',
      labelNames: ['tenant'],
      registers,
      collect() {
        for (const tenant of blocks.tenants()) this.set({ tenant }, blocks.usage(tenant).owned);
      },
    });
    new Gauge({
      name: 'tenantguard_kv_blocks_peak',
      help: 'Highest number of KV blocks owned',
      labelNames: ['tenant'],
      registers,
      collect() {
        for (const tenant of blocks.tenants()) this.set({ tenant }, blocks.usage(tenant).peakOwned);
      },
    });
  }

  admitted(tenant: string, waitSeconds: number): void {
    this.requests.inc({ tenant });
    this.admissionWait.observe({ tenant }, waitSeconds);
  }

  completed(tenant: string, inputTokens: number, outputTokens: number): void {
    this.tokens.inc({ tenant, direction: 'input' }, inputTokens);
    this.tokens.inc({ tenant, direction: 'output' }, outputTokens);
  }

  rejected(tenant: string, reason: string, rateLimit: boolean): void {
    this.rejections.inc({ tenant, reason });
    if (rateLimit) this.rateLimited.inc({ tenant });
  }

  decided(tenant: string, seconds: number): void {
    this.decisionLatency.observe({ tenant }, seconds);
  }

  /** Prometheus text exposition: operators only (it names every tenant). */
  prometheusText(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  async tenantView(tenant: string): Promise<TenantView> {
    const metrics = await this.registry.getMetricsAsJSON();
    const mine = (name: string): MetricValueWithName<string>[] =>
      ((metrics.find((m) => m.name === name) as MetricObjectWithValues<MetricValueWithName<string>> | undefined)?.values ?? []).filter((v) => v.labels['tenant'] === tenant);
    const sum = (name: string, filter: (labels: Partial<Record<string, string | number>>) => boolean = () => true): number =>
      mine(name).filter((v) => filter(v.labels)).reduce((total, v) => total + v.value, 0);
    const histogram = (name: string): HistogramView => {
      const values = mine(name);
      const buckets: Record<string, number> = {};
      for (const v of values) if (v.metricName === `${name}_bucket`) buckets[String(v.labels['le'])] = v.value;
      return { count: values.find((v) => v.metricName === `${name}_count`)?.value ?? 0, sum: values.find((v) => v.metricName === `${name}_sum`)?.value ?? 0, buckets };
    };
    const rejections: Record<string, number> = {};
    for (const v of mine('tenantguard_rejections_total')) rejections[String(v.labels['reason'])] = v.value;
    return {
      tenant,
      requests: sum('tenantguard_requests_total'),
      tokens: {
        input: sum('tenantguard_tokens_total', (l) => l['direction'] === 'input'),
        output: sum('tenantguard_tokens_total', (l) => l['direction'] === 'output'),
      },
      rejections,
      rate_limited: sum('tenantguard_rate_limited_total'),
      kv_blocks: { in_use: sum('tenantguard_kv_blocks_in_use'), peak: sum('tenantguard_kv_blocks_peak') },
      admission_wait_seconds: histogram('tenantguard_admission_wait_seconds'),
      decision_latency_seconds: histogram('tenantguard_decision_latency_seconds'),
    };
  }

  /** Operator aggregate: totals plus one summary per tenant. */
  async aggregateView(tenants: readonly string[]): Promise<{ totals: Omit<TenantView, 'tenant' | 'admission_wait_seconds' | 'decision_latency_seconds' | 'rejections'>; tenants: TenantView[] }> {
    const views = await Promise.all(tenants.map((t) => this.tenantView(t)));
    const total = (pick: (v: TenantView) => number): number => views.reduce((s, v) => s + pick(v), 0);
    return {
      totals: {
        requests: total((v) => v.requests),
        tokens: { input: total((v) => v.tokens.input), output: total((v) => v.tokens.output) },
        rate_limited: total((v) => v.rate_limited),
        kv_blocks: { in_use: total((v) => v.kv_blocks.in_use), peak: total((v) => v.kv_blocks.peak) },
      },
      tenants: views,
    };
  }
}
