import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { PROJECT_ROOT } from '../server/config.ts';
import { freePort } from '../tests/helpers/ports.ts';

/** Shared pieces of the benchmarks: processes, load, statistics, the result rows. */

export const BENCH_ADMIN_TOKEN = 'gft_bench_admin_token_0123456789abcdef';
export const SECONDS = Number(process.env.GRIFFIN_BENCH_SECONDS ?? 10);

/** One measured figure beside its baseline; `ratio` is always griffin / baseline of `unit`. */
export interface Row {
  section: string;
  figure: string;
  griffin: Measure;
  baseline: Measure & { what: string };
  ratio: number | null;
  /** HTTP rows: the Express hello-world ceiling (the project's Express, the same bytes), beside the bare node:http baseline. */
  ceiling?: Measure & { what: string };
  ceilingRatio?: number | null;
  note?: string;
}

export interface Measure {
  /** The headline number of the row (req/s, ms, queries, ...), in `unit`. */
  value: number | null;
  unit: string;
  p50Ms?: number;
  p99Ms?: number;
  cpuMs?: number;
  wallMs?: number;
  queries?: number;
  errors?: number;
  detail?: string;
  /** Resident set size of the measured server, MiB: before the load and its peak during it. */
  rssIdleMiB?: number;
  rssPeakMiB?: number;
}

export const log = (message: string): void => {
  process.stderr.write(`[bench] ${message}\n`);
};

export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export const median = (xs: number[]): number => percentile(xs, 50);

export const tempDir = (name: string): string => fs.mkdtempSync(path.join(os.tmpdir(), `griffin-bench-${name}-`));

export async function waitForHttp(url: string, what: string, child: ChildProcess | undefined, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) throw new Error(`${what} exited with ${child.exitCode ?? child.signalCode}`);
    try {
      if ((await fetch(url, { signal: AbortSignal.timeout(2000) })).ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${what} did not answer ${url} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface Proc {
  child: ChildProcess;
  baseUrl: string;
  logFile: string;
  stop(): Promise<void>;
}

/** Stops a child (and, when it leads a process group, the group), SIGKILL after a grace period. */
function stopper(child: ChildProcess, group: boolean): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => signal('SIGKILL'), 10_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      const signal = (s: NodeJS.Signals) => {
        try {
          if (group && child.pid) process.kill(-child.pid, s);
          else child.kill(s);
        } catch {
          // already gone
        }
      };
      signal('SIGTERM');
    });
}

/** The Griffin service as users run it (node --import tsx server/index.ts), logging to a file. */
export async function startGriffin(name: string, env: Record<string, string>, resultsDir: string): Promise<Proc> {
  const port = await freePort();
  const logFile = path.join(resultsDir, `${name}.log`);
  const out = fs.openSync(logFile, 'w');
  // GRIFFIN_BENCH_NODE_ARGS passes flags to the service's node, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
  const nodeArgs = (process.env.GRIFFIN_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', path.join(PROJECT_ROOT, 'server', 'index.ts')], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, GRIFFIN_HOST: '127.0.0.1', GRIFFIN_PORT: String(port), GRIFFIN_ADMIN_TOKEN: BENCH_ADMIN_TOKEN, GRIFFIN_AUTH_FAILURE_LIMIT: '1000000', ...env },
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitForHttp(`${baseUrl}/readyz`, `griffin (${name}, log ${logFile})`, child);
  return { child, baseUrl, logFile, stop: stopper(child, false) };
}

/** Any other program, in its own process group so that its workers stop with it. */
export async function startProgram(name: string, command: string, args: string[], options: { env?: Record<string, string>; cwd?: string; readyUrl: string; resultsDir: string; timeoutMs?: number }): Promise<Proc> {
  const logFile = path.join(options.resultsDir, `${name}.log`);
  const out = fs.openSync(logFile, 'w');
  const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', out, out], detached: true });
  fs.closeSync(out);
  await waitForHttp(options.readyUrl, `${name} (log ${logFile})`, child, options.timeoutMs);
  return { child, baseUrl: new URL(options.readyUrl).origin, logFile, stop: stopper(child, true) };
}

export interface Load {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  total: number;
  errors: number;
  non2xx: number;
}

/**
 * Loads measured side by side on a shared machine, whose speed changes from minute to minute:
 * each runs in `rounds` alternating slices (a, b, a, b, ...) that share SECONDS, and each gets its
 * median slice by throughput, so that a figure and its baseline see the same conditions.
 */
export async function alternating(loads: Array<(slice: { seconds: number; warmupSeconds: number }) => Promise<Load>>, rounds = 3): Promise<Load[]> {
  const seconds = Math.max(1, Math.round(SECONDS / rounds));
  const slices: Load[][] = loads.map(() => []);
  for (let i = 0; i < rounds; i += 1) {
    for (const [k, run] of loads.entries()) slices[k].push(await run({ seconds, warmupSeconds: i === 0 ? 2 : 0 }));
  }
  return slices.map((mine) => [...mine].sort((x, y) => x.rps - y.rps)[Math.floor(mine.length / 2)]);
}

/**
 * autocannon against one URL for `seconds`, after a short warm-up that is not counted.
 * `pick` varies the request per call (path and body), e.g. a random model name.
 */
export async function load(options: {
  url: string;
  connections: number;
  seconds?: number;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  pick?: () => { path?: string; body?: string };
  warmupSeconds?: number;
}): Promise<Load> {
  const base = {
    url: options.url,
    connections: options.connections,
    method: options.method ?? 'GET',
    headers: options.headers,
    body: options.body,
    requests: options.pick
      ? [
          {
            setupRequest: (req: Record<string, unknown>) => {
              const choice = options.pick!();
              return { ...req, ...(choice.path ? { path: choice.path } : {}), ...(choice.body !== undefined ? { body: choice.body } : {}) };
            },
          },
        ]
      : undefined,
  };
  const warmup = options.warmupSeconds ?? 2;
  if (warmup > 0) await autocannon({ ...base, duration: warmup } as autocannon.Options);
  const result = await autocannon({ ...base, duration: options.seconds ?? SECONDS } as autocannon.Options);
  return {
    rps: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    total: result.requests.total,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

/** Closed-loop load from in-process async calls (for baselines that are not HTTP). */
export async function closedLoop(concurrency: number, seconds: number, call: () => Promise<void>): Promise<{ rps: number; p50Ms: number; p99Ms: number; total: number }> {
  const samples: number[] = [];
  const until = Date.now() + seconds * 1000;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < until) {
        const t0 = performance.now();
        await call();
        samples.push(performance.now() - t0);
      }
    }),
  );
  return { rps: samples.length / ((Date.now() - started) / 1000), p50Ms: percentile(samples, 50), p99Ms: percentile(samples, 99), total: samples.length };
}

export const round = (x: number | null | undefined, digits = 1): number | null => (x === null || x === undefined || !Number.isFinite(x) ? null : Math.round(x * 10 ** digits) / 10 ** digits);

/**
 * A variable of the test set-up (tests/setup/ensure.sh): from this process's environment, else from
 * the env file ensure.sh writes while `usable` says it still works, else after running
 * `ensure.sh --only <part>` once. Undefined, with the reason, when none of that works.
 */
function testSetupVariable(name: string, part: string, usable: (value: string) => boolean): { value?: string; reason?: string } {
  if (process.env[name]) return { value: process.env[name] };
  const envFile = path.join(process.env.GRIFFIN_TEST_HOME ?? path.join(os.homedir(), '.cache', 'griffin-test'), 'env');
  const fromFile = () => {
    if (!fs.existsSync(envFile)) return undefined;
    return new RegExp(`^export ${name}=(\\S+)$`, 'm').exec(fs.readFileSync(envFile, 'utf8'))?.[1];
  };
  const found = fromFile();
  if (found && usable(found)) return { value: found };
  log(`${name} is not set up: running tests/setup/ensure.sh --only ${part}`);
  try {
    execFileSync('bash', [path.join(PROJECT_ROOT, 'tests', 'setup', 'ensure.sh'), '--only', part], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 900_000 });
  } catch (error) {
    return { reason: `bash tests/setup/ensure.sh --only ${part} failed: ${(error as Error).message.split('\n')[0]}` };
  }
  const value = fromFile();
  return value ? { value } : { reason: `ensure.sh ran but ${envFile} has no ${name}` };
}

/** PostgreSQL from the test set-up (ensure.sh reuses a running cluster). */
export function postgresUrl(): { url?: string; reason?: string } {
  const running = () => {
    try {
      execFileSync('bash', [path.join(PROJECT_ROOT, 'tests', 'setup', 'postgres.sh'), 'status'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  const { value, reason } = testSetupVariable('GRIFFIN_TEST_PG_URL', 'pg', running);
  return { url: value, reason };
}

/**
 * The Python of the test set-up's MLflow venv (GRIFFIN_MLFLOW_PYTHON, from
 * tests/setup/python-requirements-mlflow.txt): the bench's MLflow server runs from the same venv
 * as the MLflow client tests.
 */
export function mlflowPython(): { python?: string; reason?: string } {
  const { value, reason } = testSetupVariable('GRIFFIN_MLFLOW_PYTHON', 'mlflow', (python) => fs.existsSync(python));
  return { python: value, reason };
}

/** `mlflow --version` of the venv, or '?'. */
export function mlflowVersion(python: string): string {
  try {
    return execFileSync(path.join(path.dirname(python), 'mlflow'), ['--version'], { timeout: 60_000 }).toString().trim().split(' ').pop() ?? '?';
  } catch {
    return '?';
  }
}

/** One worker per core; MLflow's default of 4 only adds start-up time here. */
export const MLFLOW_WORKERS = 2;

/**
 * An MLflow tracking server (SQLite in `dir`, artifacts beside it) on a free port. MLflow imports
 * slowly: callers start it, do their own set-up, then await it.
 */
export async function startMlflow(name: string, python: string, dir: string, resultsDir: string): Promise<Proc> {
  const port = await freePort();
  return startProgram(
    name,
    path.join(path.dirname(python), 'mlflow'),
    ['server', '--backend-store-uri', `sqlite:///${path.join(dir, 'mlflow.db')}`, '--default-artifact-root', path.join(dir, 'artifacts'), '--host', '127.0.0.1', '--port', String(port), '--workers', String(MLFLOW_WORKERS)],
    // The GenAI job runner (huey consumers) has nothing to do with what is measured; off, it stays out of the numbers.
    { env: { MLFLOW_SERVER_ENABLE_JOB_EXECUTION: 'false' }, cwd: dir, readyUrl: `http://127.0.0.1:${port}/health`, resultsDir, timeoutMs: 400_000 },
  );
}

/** A PostgreSQL URL whose search_path is a fresh schema, and a function that drops it. */
export async function freshSchema(baseUrl: string, name: string): Promise<{ url: string; drop(): Promise<void> }> {
  const { default: knexFactory } = await import('knex');
  const schema = `bench_${name}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = knexFactory({ client: 'pg', connection: baseUrl, pool: { min: 0, max: 1 } });
  await admin.raw('CREATE SCHEMA ??', [schema]);
  await admin.destroy();
  return {
    url: `${baseUrl}${baseUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    async drop() {
      const cleanup = knexFactory({ client: 'pg', connection: baseUrl, pool: { min: 0, max: 1 } });
      await cleanup.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [schema]);
      await cleanup.destroy();
    },
  };
}

export async function api(baseUrl: string, method: string, route: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${baseUrl}${route}`, {
    method,
    headers: { Authorization: `Bearer ${BENCH_ADMIN_TOKEN}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // text (logs)
  }
  return { status: res.status, body: parsed };
}

export { freePort };

/** A process's resident set size in MiB (Linux /proc), or undefined when it cannot be read. */
export function rssMiB(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : undefined;
  } catch {
    return undefined;
  }
}

/** Samples a process's RSS every 100 ms while `work` runs: the RSS before and the peak during it. */
export async function withRss<T>(pid: number | undefined, work: () => Promise<T>): Promise<{ result: T; rssIdleMiB?: number; rssPeakMiB?: number }> {
  const rssIdleMiB = rssMiB(pid);
  let rssPeakMiB = rssIdleMiB;
  const timer = setInterval(() => {
    const now = rssMiB(pid);
    if (now !== undefined && (rssPeakMiB === undefined || now > rssPeakMiB)) rssPeakMiB = now;
  }, 100);
  try {
    const result = await work();
    return { result, rssIdleMiB, rssPeakMiB };
  } finally {
    clearInterval(timer);
  }
}

/**
 * A run that stays running (a sleeper under the local executor) for figures that need a live run,
 * such as metric ingest; `cancel` ends it. The service must run its workers.
 */
export async function sleepingRun(baseUrl: string): Promise<{ id: string; cancel(): Promise<void> }> {
  const model = await api(baseUrl, 'POST', '/api/v1/models', { name: 'bench-sleep', framework: 'python-stdlib', codeUri: 'bench/noop', entrypoint: 'sleep 3600' });
  if (model.status !== 201 && model.status !== 409) throw new Error(`model bench-sleep: ${model.status} ${JSON.stringify(model.body)}`);
  const workflow = await api(baseUrl, 'POST', '/api/v1/workflows', { name: 'bench-sleep', model: 'bench-sleep', dataset: 'grocery-reorder', runtime: 'python3' });
  if (workflow.status !== 201 && workflow.status !== 409) throw new Error(`workflow bench-sleep: ${workflow.status} ${JSON.stringify(workflow.body)}`);
  const submitted = await api(baseUrl, 'POST', '/api/v1/runs', { workflow: 'bench-sleep' });
  if (submitted.status !== 201) throw new Error(`submission of bench-sleep: ${submitted.status} ${JSON.stringify(submitted.body)}`);
  const id = submitted.body.id as string;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const run = await api(baseUrl, 'GET', `/api/v1/runs/${id}`);
    if (run.body.state === 'running') break;
    if (run.body.terminal || Date.now() > deadline) throw new Error(`the sleeping run ${id} is ${run.body.state}: ${run.body.reason}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { id, cancel: async () => void (await api(baseUrl, 'POST', `/api/v1/runs/${id}/cancel`, {})) };
}
