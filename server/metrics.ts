import type { NextFunction, Request, Response } from 'express';
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from './logger.ts';

/** The run counts the scrape reads (RunStore.countByState: "state|backend" -> count). */
export type RunCounter = () => Promise<Record<string, number>>;

export interface Metrics {
  readonly registry: Registry;
  /** Wraps a worker pass so its duration lands in griffin_worker_pass_seconds{worker}. */
  timed(worker: string, pass: () => Promise<void>): () => Promise<void>;
  /** Records the request's latency by route pattern and logs one access line when it finishes. */
  requestObserver(logger: Logger): (req: Request, res: Response, next: NextFunction) => void;
  /** What requestObserver records, for a request answered before Express (api/cachedReads.ts). */
  requestRecorder(logger: Logger): RecordRequest;
  /** The Prometheus text exposition. */
  scrape(): Promise<{ contentType: string; body: string }>;
}

/** Records one answered request: its latency in the route's histogram, and its access line. */
export type RecordRequest = (method: string, route: string, status: number, seconds: number, runId?: string) => void;

/**
 * The route label is the route's declared path (set by api/route.ts in res.locals.route), never
 * the raw URL: run ids and model names in URLs would make one series per request.
 */
const ROUTE_LOCAL = 'route';
const FIXED_ROUTES = new Set(['/healthz', '/readyz', '/metrics', '/api/v1/openapi.json']);

export function routeLabel(req: Request, res: Response): string {
  const declared = res.locals[ROUTE_LOCAL];
  if (typeof declared === 'string') return declared;
  const path = req.originalUrl.split('?')[0];
  if (FIXED_ROUTES.has(path)) return path;
  if (path.startsWith('/api/')) return 'unmatched';
  return 'web';
}

/** Marks the request with its declared route pattern (and the run id from its path), for metrics and logs. */
export function markRoute(res: Response, pattern: string, runId?: string): void {
  res.locals[ROUTE_LOCAL] = pattern;
  if (runId) res.locals.runId = runId;
}

/** Created once per wired service (wire.ts) and passed down; no module keeps a registry. */
export function createMetrics(options: { countRuns: RunCounter; processMetrics?: boolean; countQueued?: () => Promise<Map<string, number>> }): Metrics {
  const registry = new Registry();
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'griffin_' });

  const requestSeconds = new Histogram({
    name: 'griffin_http_request_duration_seconds',
    help: 'API latency by method, declared route and status code',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const passSeconds = new Histogram({
    name: 'griffin_worker_pass_seconds',
    help: 'Duration of one dispatcher or reconciler pass',
    labelNames: ['worker', 'outcome'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  new Gauge({
    name: 'griffin_runs',
    help: 'Runs by state and backend (read from the metadata database at scrape time)',
    labelNames: ['state', 'backend'] as const,
    registers: [registry],
    async collect() {
      const counts = await options.countRuns();
      this.reset();
      for (const [key, n] of Object.entries(counts)) {
        const [state, backend] = key.split('|');
        this.set({ state, backend }, n);
      }
    },
  });
  if (options.countQueued) {
    const countQueued = options.countQueued;
    new Gauge({
      name: 'griffin_queue_queued_runs',
      help: 'Runs waiting to launch, by queue (read from the metadata database at scrape time)',
      labelNames: ['queue'] as const,
      registers: [registry],
      async collect() {
        const counts = await countQueued();
        this.reset();
        for (const [queue, n] of counts) this.set({ queue }, n);
      },
    });
  }

  return {
    registry,
    timed(worker, pass) {
      return async () => {
        const end = passSeconds.startTimer({ worker });
        try {
          await pass();
          end({ outcome: 'ok' });
        } catch (error) {
          end({ outcome: 'error' });
          throw error;
        }
      };
    },
    requestRecorder(logger) {
      // An access line holds only what is set below, none of it a secret: it skips the
      // redaction pass every other line takes, which doubled the cost of a line (4.4 -> 7-10 µs).
      const access = logger.child({}, { redact: [] });
      return (method, route, status, seconds, runId) => {
        requestSeconds.observe({ method, route, status: String(status) }, seconds);
        // Route pattern, not URL or headers: nothing a caller sends (tokens included) is logged.
        access.info({ method, route, status, ms: Math.round(seconds * 1e4) / 10, ...(runId ? { runId } : {}) }, 'request');
      };
    },
    requestObserver(logger) {
      const record = this.requestRecorder(logger);
      return (req, res, next) => {
        const started = process.hrtime.bigint();
        res.once('finish', () => {
          record(req.method, routeLabel(req, res), res.statusCode, Number(process.hrtime.bigint() - started) / 1e9, res.locals.runId);
        });
        next();
      };
    },
    async scrape() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
