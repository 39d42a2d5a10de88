import type { Got, HTTPError } from 'got';
import { gotRetry, RETRY_BUDGETS, type RetryBudget } from './retry.ts';

/** The parts of a Ray Jobs API job this service reads. */
export interface RayJobDetails {
  submission_id: string;
  job_id: string | null;
  status: 'PENDING' | 'RUNNING' | 'STOPPED' | 'SUCCEEDED' | 'FAILED';
  message: string | null;
  driver_exit_code: number | null;
  start_time: number | null;
  end_time: number | null;
  metadata: Record<string, string> | null;
}

/** The parts of an actor in Ray's state API this service reads. */
export interface RayActor {
  actor_id: string;
  class_name: string;
  state: string;
  job_id: string;
  node_id?: string | null;
  pid?: number | null;
}

/** The body of POST /api/jobs/ (Ray's JobSubmitRequest). */
export interface RaySubmitRequest {
  entrypoint: string;
  submission_id: string;
  runtime_env: Record<string, unknown>;
  metadata: Record<string, string>;
  entrypoint_num_cpus?: number;
  entrypoint_num_gpus?: number;
  entrypoint_memory?: number;
  entrypoint_resources?: Record<string, number>;
}

// got is imported on first use: a service without a Ray cluster does not load it at start.
let gotModule: Promise<typeof import('got')> | undefined;
const loadGot = () => (gotModule ??= import('got'));
const isHttpError = (error: unknown): error is HTTPError => error instanceof Error && error.name === 'HTTPError' && 'response' in error;

/** The Ray Jobs API answered, but not with what was asked for. */
export class RayApiError extends Error {
  /** Ray itself cannot take the job now ("No available agent to submit job, please try again later"): nothing about the run. */
  readonly infrastructure: boolean;

  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.infrastructure = statusCode >= 500 && /try again later|no available agent/i.test(message);
  }
}

/**
 * Ray answers errors with a Python traceback as text; the last line ("ValueError: ...") is the
 * part a user can act on.
 */
export function rayErrorText(body: unknown): string {
  const text = typeof body === 'string' ? body : Buffer.isBuffer(body) ? body.toString('utf8') : JSON.stringify(body);
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && l !== '.');
  const last = lines.reverse().find((l) => /^\w*(Error|Exception)\b/.test(l)) ?? lines[0] ?? '';
  return last.replace(/\.$/, '').slice(0, 500);
}

/**
 * The Ray Jobs REST API of one cluster (the dashboard address): note the trailing slash of
 * /api/jobs/. Every call goes through the retry policy in retry.ts.
 */
export class RayJobsClient {
  private readonly clients = new Map<RetryBudget, Got>();

  constructor(readonly address: string) {}

  private async http(budget: RetryBudget): Promise<Got> {
    let client = this.clients.get(budget);
    if (!client) {
      const { default: got } = await loadGot();
      client = got.extend({ prefixUrl: this.address, retry: gotRetry(budget), timeout: { request: budget.timeoutMs }, headers: { 'user-agent': 'griffin' } });
      this.clients.set(budget, client);
    }
    return client;
  }

  private async call<T>(request: () => Promise<T>, notFound: () => T): Promise<T> {
    try {
      return await request();
    } catch (error) {
      if (isHttpError(error)) {
        if (error.response.statusCode === 404) return notFound();
        throw new RayApiError(error.response.statusCode, rayErrorText(error.response.body));
      }
      throw error;
    }
  }

  /** Submits a job; a submission_id that exists already is reported as adopted, not as an error. */
  async submit(request: RaySubmitRequest): Promise<{ submissionId: string; adopted: boolean }> {
    try {
      const answer = await (await this.http(RETRY_BUDGETS.launch)).post('api/jobs/', { json: request }).json<{ submission_id: string }>();
      return { submissionId: answer.submission_id, adopted: false };
    } catch (error) {
      if (isHttpError(error)) {
        const text = String(error.response.body ?? '');
        // Ray <= 2.x answers a duplicate submission_id with HTTP 500 and "... already exists".
        if (/already exists/i.test(text)) return { submissionId: request.submission_id, adopted: true };
        throw new RayApiError(error.response.statusCode, `the Ray Jobs API refused the job: ${rayErrorText(text)}`);
      }
      throw error;
    }
  }

  /** Every job the head knows (GET /api/jobs/). */
  async list(budget: RetryBudget = RETRY_BUDGETS.poll): Promise<RayJobDetails[]> {
    return this.call(async () => (await this.http(budget)).get('api/jobs/').json<RayJobDetails[]>(), () => []);
  }

  get(submissionId: string, budget: RetryBudget = RETRY_BUDGETS.poll): Promise<RayJobDetails | undefined> {
    return this.call(
      async () => (await this.http(budget)).get(`api/jobs/${encodeURIComponent(submissionId)}`).json<RayJobDetails>(),
      () => undefined,
    );
  }

  /** The whole driver log so far (the API has no offsets). */
  logs(submissionId: string): Promise<string> {
    return this.call(
      async () => (await (await this.http(RETRY_BUDGETS.poll)).get(`api/jobs/${encodeURIComponent(submissionId)}/logs`).json<{ logs: string }>()).logs ?? '',
      () => '',
    );
  }

  /** Asks Ray to stop the job (SIGTERM, then SIGKILL after Ray's own timeout); false when there is none. */
  stop(submissionId: string): Promise<boolean> {
    return this.call(
      async () => (await (await this.http(RETRY_BUDGETS.poll)).post(`api/jobs/${encodeURIComponent(submissionId)}/stop`).json<{ stopped: boolean }>()).stopped,
      () => false,
    );
  }

  /** The actors of one Ray job, from Ray's state API (GET /api/v0/actors filtered by job id). */
  async jobActors(jobId: string): Promise<RayActor[]> {
    const query = new URLSearchParams({ filter_keys: 'job_id', filter_predicates: '=', filter_values: jobId, limit: '1000', detail: 'false' });
    type Answer = { data?: { result?: { result?: RayActor[] } } };
    const answer = await this.call<Answer>(
      async () => (await this.http(RETRY_BUDGETS.poll)).get(`api/v0/actors?${query}`).json<Answer>(),
      () => ({}),
    );
    return answer.data?.result?.result ?? [];
  }

  /** Uploads a runtime_env package (gcs://_ray_pkg_<hash>.zip) unless the cluster has it already. */
  async ensurePackage(packageName: string, bytes: Buffer): Promise<'present' | 'uploaded'> {
    const path = `api/packages/gcs/${encodeURIComponent(packageName)}`;
    // The GET also pins the package for a while, so the GCS keeps it until the job starts.
    const present = await this.call(
      async () => (await (await this.http(RETRY_BUDGETS.launch)).get(path)).statusCode === 200,
      () => false,
    );
    if (present) return 'present';
    await this.call(
      async () => (await this.http(RETRY_BUDGETS.launch)).put(path, { body: bytes, headers: { 'content-type': 'application/octet-stream' } }),
      () => {
        throw new RayApiError(404, `the Ray head at ${this.address} has no package upload endpoint`);
      },
    );
    return 'uploaded';
  }
}
