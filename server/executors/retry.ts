import type { RetryOptions } from 'got';

/*
 * The one retry policy for calls from Griffin to a backend (Ray Jobs API, Kubernetes API).
 * Only failures that say nothing about the request itself are retried: the connection could not
 * be made or broke, the call timed out, or the server said "later" (429, 502, 503, 504). A 500 is
 * not retried: Ray answers a duplicate submission_id with 500 "already exists", which must be
 * adopted, not repeated. POSTs are retried too, because every backend object is named from the
 * run id and attempt, so a repeated create is either a create or an "already exists" to adopt.
 */

export const TRANSIENT_ERROR_CODES: readonly string[] = [
  'ETIMEDOUT',
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ENOTFOUND',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
];

export const TRANSIENT_STATUS_CODES: readonly number[] = [429, 502, 503, 504];

export interface RetryBudget {
  /** Calls in all, the first included. */
  readonly attempts: number;
  /** Per call, where the client supports it (got). */
  readonly timeoutMs: number;
}

/** How hard to try before a call gives up: launches can wait a little, status polls must not stall the reconciler. */
export const RETRY_BUDGETS = {
  launch: { attempts: 5, timeoutMs: 15_000 },
  poll: { attempts: 2, timeoutMs: 5_000 },
} as const satisfies Record<string, RetryBudget>;

const BASE_DELAY_MS = 250;
const MAX_DELAY_MS = 4_000;

/** Exponential backoff with full jitter: 250 ms, 500 ms, 1 s, ... capped at 4 s, each scaled by a random factor. */
export function backoffMs(retry: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.max(0, retry - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

function codeOf(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function statusOf(error: unknown): number | undefined {
  if (!error || typeof error !== 'object') return undefined;
  const e = error as { response?: { statusCode?: number }; code?: unknown; statusCode?: number };
  if (typeof e.response?.statusCode === 'number') return e.response.statusCode; // got HTTPError
  if (typeof e.statusCode === 'number') return e.statusCode;
  if (typeof e.code === 'number') return e.code; // @kubernetes/client-node ApiException
  return undefined;
}

/** Is this a failure worth retrying (and, if it lasts, a sign that the backend is unreachable)? */
export function isTransient(error: unknown): boolean {
  const status = statusOf(error);
  if (status !== undefined) return TRANSIENT_STATUS_CODES.includes(status);
  const code = codeOf(error);
  if (code && TRANSIENT_ERROR_CODES.includes(code)) return true;
  const name = (error as { name?: string } | null)?.name;
  // got's TimeoutError, and fetch's abort on timeout.
  return name === 'TimeoutError' || name === 'AbortError';
}

/** The policy above in got's terms. */
export function gotRetry(budget: RetryBudget): Partial<RetryOptions> {
  return {
    limit: budget.attempts - 1,
    methods: ['GET', 'PUT', 'POST', 'DELETE'],
    statusCodes: [...TRANSIENT_STATUS_CODES],
    errorCodes: [...TRANSIENT_ERROR_CODES],
    calculateDelay: ({ attemptCount, computedValue }) => (computedValue === 0 ? 0 : backoffMs(attemptCount)),
  };
}

/** The same policy for clients that do not retry by themselves (the Kubernetes client). */
export async function withRetry<T>(call: () => Promise<T>, budget: RetryBudget, sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= budget.attempts || !isTransient(error)) throw error;
      await sleep(backoffMs(attempt));
    }
  }
}

/** A short description of a transport failure for run reasons and logs. */
export function describeFailure(error: unknown): string {
  const code = codeOf(error);
  const status = statusOf(error);
  const message = error instanceof Error ? error.message : String(error);
  if (status !== undefined) return `HTTP ${status}`;
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}
