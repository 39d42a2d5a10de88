import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import got from 'got';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { rayJob, rayTestAddress, until } from '../helpers/ray.ts';

/*
 * The check, end to end on the real Ray head of the test set-up: grocery-reorder-distributed
 * trains XGBoost on two Ray Train workers (seen in Ray's state API while it runs) and registers a
 * version; once that version is production, grocery-reorder-score (local backend, in the
 * xgboost-cpu runtime's venv, built on first use) writes predictions.csv and its lineage names the
 * version. The Ray head's venv has the runtime's Ray pins installed (tests/setup/python-requirements-ray.txt),
 * so the job's runtime_env pip finds them there instead of downloading them.
 */
const RAY = rayTestAddress();
const TRAIN_TIMEOUT_MS = 480_000;
// The first scoring run on a machine builds the xgboost-cpu venv (minutes when pip's cache is cold).
const SCORE_TIMEOUT_MS = 900_000;

interface Actor {
  actor_id: string;
  class_name: string;
  state: string;
}

async function jobActors(address: string, jobId: string): Promise<Actor[]> {
  const url = `${address}/api/v0/actors?filter_keys=job_id&filter_predicates=%3D&filter_values=${jobId}&limit=1000`;
  const body = await got(url, { retry: { limit: 0 } }).json<{ data: { result: { result: Actor[] } } }>();
  return body.data.result.result;
}

describe.skipIf(RAY === undefined)('distributed training on Ray, then batch scoring with the production version', { timeout: TRAIN_TIMEOUT_MS + SCORE_TIMEOUT_MS }, () => {
  const address = RAY!;
  let t: TestDatabase;
  let svc: TestService;

  beforeAll(async () => {
    t = await createTestDatabase('sqlite');
    svc = await startTestService(t.db, { dataDir: t.dataDir, startWorkers: true, env: { GRIFFIN_RAY_ADDRESS: address } });
  });
  afterAll(async () => {
    await svc?.close();
    await t?.destroy();
  });

  const api = (method: 'get' | 'post' | 'put', route: string, body?: unknown) => svc.admin(svc.request[method](route)).send(body as object);
  const getRun = async (id: string) => (await api('get', `/api/v1/runs/${id}`)).body;
  const logs = async (id: string) => (await api('get', `/api/v1/runs/${id}/logs`)).body.text as string;

  let version: number;

  it('grocery-reorder-distributed trains on two Ray Train workers, reports per-round metrics from rank 0, uploads its checkpoint and registers a version', async () => {
    const res = await api('post', '/api/v1/runs', {
      workflow: 'grocery-reorder-distributed',
      // Fractional CPUs: the shared head has two, and the driver takes a quarter of one.
      overrides: { hyperparameters: { cpus_per_worker: 0.25, num_boost_round: 20, sleep_per_round: 0.5 } },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const id = res.body.id as string;
    expect(res.body.backend).toBe('ray');

    // While it runs: two Ray Train worker actors alive in Ray's state API, and the run page's data says so too.
    const seen = await until(`two live Ray Train workers of run ${id}`, async () => {
      const run = await getRun(id);
      if (run.terminal) throw new Error(`run ${id} ended before its workers were seen: ${run.state} ${run.reason}\n${await logs(id)}`);
      const job = run.backendRef?.submissionId ? await rayJob(address, run.backendRef.submissionId) : undefined;
      const jobId = (job as { job_id?: string } | undefined)?.job_id;
      if (!jobId) return undefined;
      const alive = (await jobActors(address, jobId)).filter((a) => a.class_name === 'RayTrainWorker' && a.state === 'ALIVE');
      return alive.length >= 2 && run.backendRef.workers?.states?.ALIVE >= 2 ? { alive, workers: run.backendRef.workers } : undefined;
    }, TRAIN_TIMEOUT_MS, 500);
    expect(seen.alive.length).toBe(2);
    expect(seen.workers).toMatchObject({ source: 'ray-state-api', count: 2, states: { ALIVE: 2 } });

    const run = await svc.waitForRun(id, TRAIN_TIMEOUT_MS);
    expect(run.state, `${run.reason}\n${await logs(id)}`).toBe('succeeded');
    const text = await logs(id);
    expect(text).toMatch(/ray train: 2 workers with 0\.25 CPU each, 20 boosting rounds/);
    expect(text).toMatch(/worker 0\/2: \d+ training rows/);
    expect(text).toMatch(/worker 1\/2: \d+ training rows/);

    const valAuc = (await api('get', `/api/v1/runs/${id}/metrics?key=val_auc`)).body.items;
    expect(valAuc.map((m: { step: number }) => m.step)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(run.latestMetrics.auc.value).toBeGreaterThan(0.7);
    expect(run.latestMetrics.workers.value).toBe(2);
    const artifacts = (await api('get', `/api/v1/runs/${id}/artifacts`)).body.items.map((a: { path: string }) => a.path);
    expect(artifacts).toEqual(expect.arrayContaining(['checkpoint/model.ubj', 'model_meta.json']));
    expect(run.modelVersion).toMatchObject({ name: 'grocery-reorder-xgboost' });
    version = run.modelVersion.version;
    // Ray's pip runtime_env of the xgboost-cpu runtime was what the job ran with.
    const job = await rayJob(address, run.backendRef.submissionId);
    expect((job?.runtime_env as { pip?: unknown })?.pip).toBeTruthy();
    expect(JSON.stringify(job?.runtime_env)).toContain('xgboost-cpu==3.2.0');
    // After the run the workers are gone, and the run keeps how many there were.
    expect(run.backendRef.workers.count).toBe(2);
  });

  it('grocery-reorder-score is refused while no version is production, then scores with the production version and writes predictions.csv', async () => {
    expect(version).toBeGreaterThan(0);
    const early = await api('post', '/api/v1/runs', { workflow: 'grocery-reorder-score' });
    expect(early.status).toBe(422);
    expect(early.body.error.field).toBe('inputModel.alias');
    expect(early.body.error.message).toMatch(/registered model "grocery-reorder-xgboost" has no alias "production"/);

    expect((await api('put', `/api/v1/registry/models/grocery-reorder-xgboost/aliases/production`, { version })).status).toBe(200);
    const res = await api('post', '/api/v1/runs', { workflow: 'grocery-reorder-score' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const id = res.body.id as string;
    // Set on the server when the run was submitted: which version, and from which alias.
    expect(res.body.inputModel).toMatchObject({ name: 'grocery-reorder-xgboost', version, alias: 'production' });

    const run = await svc.waitForRun(id, SCORE_TIMEOUT_MS);
    expect(run.state, `${run.reason}\n${await logs(id)}`).toBe('succeeded');
    expect(await logs(id)).toMatch(new RegExp(`scoring with grocery-reorder-xgboost@${version} \\(alias production\\)`));
    const csv = (await api('get', `/api/v1/runs/${id}/artifacts/predictions.csv`)).text as string;
    const lines = csv.trim().split(/\r?\n/);
    expect(lines[0]).toBe('user_id,product_id,reorder_probability,predicted_reorder,model_version');
    expect(lines).toHaveLength(1001);
    for (const line of lines.slice(1, 20)) {
      const [, , probability, predicted, used] = line.split(',');
      expect(Number(probability)).toBeGreaterThanOrEqual(0);
      expect(Number(probability)).toBeLessThanOrEqual(1);
      expect(predicted).toBe(Number(probability) >= 0.5 ? '1' : '0');
      expect(used).toBe(`grocery-reorder-xgboost@${version}`);
    }
    expect(run.latestMetrics.rows_scored.value).toBe(1000);

    const lineage = (await api('get', `/api/v1/runs/${id}/lineage`)).body;
    expect(lineage.inputs.modelVersion).toMatchObject({ name: 'grocery-reorder-xgboost', version, alias: 'production' });
    expect(lineage.run).toMatchObject({ id, state: 'succeeded' });
    expect(lineage.outputs.artifacts.map((a: { path: string }) => a.path)).toContain('predictions.csv');

    // Another version can be asked for directly; one that does not exist is a 404 naming the field.
    const missing = await api('post', '/api/v1/runs', { workflow: 'grocery-reorder-score', overrides: { inputModel: { version: version + 100 } } });
    expect(missing.status).toBe(404);
    expect(missing.body.error.field).toBe('overrides.inputModel.version');
  });
});
