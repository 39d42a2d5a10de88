import fs from 'node:fs';
import path from 'node:path';
import { api, BENCH_ADMIN_TOKEN, closedLoop, log, MLFLOW_WORKERS, mlflowPython, round, SECONDS, startGriffin, startMlflow, tempDir, type Proc, type Row } from './lib.ts';

const POINTS_PER_BATCH = 1000; // MLflow's limit for one log-batch
const CONNECTIONS = 4;

const batch = (seq: number) => Array.from({ length: POINTS_PER_BATCH }, (_, i) => ({ key: `m${i % 10}`, value: Math.random(), step: seq * 100 + Math.floor(i / 10), timestamp: Date.now() }));

/**
 * Metric points ingested per second: batches of 1,000 points into one running run, through
 * Griffin's own batch endpoint and through MLflow's log-batch on Griffin, beside an MLflow tracking
 * server (SQLite backend) doing the same log-batch on this machine, in the same bench run.
 */
export async function benchIngest(resultsDir: string): Promise<Row[]> {
  const figures = ["Griffin's batch endpoint (POST /api/v1/runs/{id}/metrics)", "MLflow's log-batch on Griffin"];
  const skipped = (reason: string): Row[] => figures.map((figure) => ({ section: 'ingest', figure: `metric points/s, ${figure}`, griffin: { value: null, unit: 'points/s' }, baseline: { what: 'MLflow', value: null, unit: 'points/s' }, ratio: null, note: `skipped: ${reason}` }));
  const { python, reason } = mlflowPython();
  if (!python) return skipped(`no MLflow venv: ${reason}`);
  const griffinDir = tempDir('ingest');
  const mlflowDir = tempDir('ingest-mlflow');
  let mlflow: Proc | undefined;
  let griffin: Proc | undefined;
  let runId: string | undefined;
  try {
    const mlflowStarting = startMlflow('mlflow-ingest', python, mlflowDir, resultsDir);
    mlflowStarting.catch(() => undefined);
    const code = codeRoot(griffinDir);
    griffin = await startGriffin('griffin-ingest', { GRIFFIN_DATA_DIR: path.join(griffinDir, 'data'), GRIFFIN_CODE_ROOT: code, GRIFFIN_LOAD_EXAMPLES: 'false' }, resultsDir);
    runId = await startSleeper(griffin.baseUrl);
    mlflow = await mlflowStarting;
    const json = { 'Content-Type': 'application/json' };
    const post = async (url: string, body: unknown, headers: Record<string, string> = json) => {
      const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
      if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
      return res.json();
    };
    const experiment = await post(`${mlflow.baseUrl}/api/2.0/mlflow/experiments/create`, { name: 'ingest' });
    const mlflowRun = (await post(`${mlflow.baseUrl}/api/2.0/mlflow/runs/create`, { experiment_id: experiment.experiment_id, start_time: Date.now() })).run.info.run_id as string;
    const auth = { ...json, Authorization: `Bearer ${BENCH_ADMIN_TOKEN}` };
    let seq = 0;
    const measure = async (what: string, call: () => Promise<unknown>) => {
      log(`ingest: ${what}`);
      const r = await closedLoop(CONNECTIONS, SECONDS, async () => {
        await call();
      });
      return { pointsPerSecond: r.rps * POINTS_PER_BATCH, p50Ms: r.p50Ms, p99Ms: r.p99Ms };
    };
    const own = await measure("Griffin's batch endpoint", () => post(`${griffin!.baseUrl}/api/v1/runs/${runId}/metrics`, { metrics: batch((seq += 1)) }, auth));
    const viaMlflow = await measure("MLflow's log-batch on Griffin", () => post(`${griffin!.baseUrl}/api/2.0/mlflow/runs/log-batch`, { run_id: runId, metrics: batch((seq += 1)) }, auth));
    const baseline = await measure('MLflow server log-batch', () => post(`${mlflow!.baseUrl}/api/2.0/mlflow/runs/log-batch`, { run_id: mlflowRun, metrics: batch((seq += 1)) }));
    const what = `MLflow server, SQLite, ${MLFLOW_WORKERS} workers, log-batch`;
    const row = (figure: string, g: typeof own): Row => ({
      section: 'ingest',
      figure: `metric points/s, ${figure}, batches of ${POINTS_PER_BATCH}, ${CONNECTIONS} connections`,
      griffin: { value: round(g.pointsPerSecond, 0), unit: 'points/s', p50Ms: g.p50Ms, p99Ms: g.p99Ms },
      baseline: { what, value: round(baseline.pointsPerSecond, 0), unit: 'points/s', p50Ms: baseline.p50Ms, p99Ms: baseline.p99Ms },
      ratio: round(g.pointsPerSecond / baseline.pointsPerSecond, 2),
      note: 'Griffin on SQLite, checking a bearer token per request; MLflow without auth',
    });
    return [row(figures[0], own), row(figures[1], viaMlflow)];
  } catch (error) {
    log(`ingest: ${(error as Error).message}`);
    return skipped((error as Error).message.split('\n')[0]);
  } finally {
    if (griffin && runId) await api(griffin.baseUrl, 'POST', `/api/v1/runs/${runId}/cancel`, {}).catch(() => undefined);
    await griffin?.stop();
    await mlflow?.stop();
    fs.rmSync(griffinDir, { recursive: true, force: true });
    fs.rmSync(mlflowDir, { recursive: true, force: true });
  }
}

/** A code root with a training process that only sleeps: the run stays running while it is measured. */
function codeRoot(dir: string): string {
  const root = path.join(dir, 'code');
  fs.mkdirSync(path.join(root, 'sleeper'), { recursive: true });
  fs.writeFileSync(path.join(root, 'sleeper', 'train.py'), 'import time\ntime.sleep(900)\n');
  fs.writeFileSync(path.join(root, 'sleeper', 'data.csv'), 'x\n1\n');
  // The run user (when Griffin runs as root) must reach the code.
  for (const d of [dir, root, path.join(root, 'sleeper')]) fs.chmodSync(d, 0o755);
  return root;
}

async function startSleeper(baseUrl: string): Promise<string> {
  const call = (method: string, route: string, body?: unknown) => api(baseUrl, method, route, body);
  await call('POST', '/api/v1/models', { name: 'sleeper', framework: 'python-stdlib', codeUri: 'sleeper', entrypoint: 'python train.py' });
  await call('POST', '/api/v1/datasets', { name: 'sleeper', uri: 'sleeper/data.csv' });
  const run = await call('POST', '/api/v1/runs', { spec: { model: 'sleeper@1', dataset: 'sleeper@1', runtime: 'python3' }, trigger: 'http' });
  if (run.status !== 201) throw new Error(`could not submit the run: ${run.status} ${JSON.stringify(run.body)}`);
  for (let i = 0; i < 600; i += 1) {
    const state = (await call('GET', `/api/v1/runs/${run.body.id}`)).body.state;
    if (state === 'running') return run.body.id as string;
    if (state !== 'queued' && state !== 'launching') throw new Error(`the bench run is ${state}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the bench run did not start in 60 s');
}
