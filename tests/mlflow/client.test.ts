import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';
import { makeCodeRoot, makeWorkRoot } from '../helpers/localRuns.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { Transitions } from '../../server/domain/index.ts';

/**
 * The real `mlflow` client from PyPI against a running Griffin. Training launched through Griffin
 * (the first describe) runs on the local executor in the curated mlflow-sklearn runtime, whose venv
 * the executor builds on first use. Elsewhere, training code is started here with the test venv
 * (GRIFFIN_MLFLOW_PYTHON: tests/setup/python-requirements-mlflow.txt) and the environment Griffin
 * gives every run (RunService.environment), on a run held in `running`: the local executor starts
 * its code as the unprivileged run user, who cannot reach that venv under root's home.
 */
const PYTHON = process.env.GRIFFIN_MLFLOW_PYTHON;
const SKIPPED = (process.env.GRIFFIN_TEST_SKIP ?? '').split(',').map((s) => s.trim()).includes('mlflow');
if (!PYTHON && !SKIPPED) {
  throw new Error('GRIFFIN_MLFLOW_PYTHON is not set: run `npm test` (tests/setup/ensure.sh builds the mlflow venv), or source ~/.cache/griffin-test/env; GRIFFIN_TEST_SKIP=mlflow skips on purpose');
}
const HERE = path.dirname(new URL(import.meta.url).pathname);

function python(args: string[], env: Record<string, string>, cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(PYTHON!, args, { cwd, env: { PATH: process.env.PATH ?? '', HOME: cwd, MLFLOW_TELEMETRY_DISABLED: 'true', DO_NOT_TRACK: 'true', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const lastJson = (stdout: string) => JSON.parse(stdout.trim().split('\n').pop()!);
const pointsOf = (items: Array<{ step: number; value: number }>) => items.map((m) => [m.step, m.value]);
const LOSS = [[0, 1], [1, 0.5], [2, 1 / 3], [3, 0.25], [4, 0.2]];

/** Importing mlflow takes seconds, and much longer on a loaded machine: tests that start Python get room. */
const PYTHON_MS = 240_000;

/** The first run on a machine builds the mlflow-sklearn venv (mlflow, scikit-learn: many minutes with a cold pip cache). */
const FIRST_BUILD_MS = 45 * 60_000;

describe.skipIf(SKIPPED)('mlflow training launched through Griffin (local executor, mlflow-sklearn runtime)', () => {
  let t: TestDatabase;
  let svc: TestService;
  const code = makeCodeRoot({
    'mlflowinline/train.py': fs.readFileSync(path.join(HERE, 'inline_train.py'), 'utf8'),
    'mlflowinline/autolog_train.py': fs.readFileSync(path.join(HERE, 'autolog_train.py'), 'utf8'),
    'mlflowinline/data.csv': 'x\n1\n',
  });
  const work = makeWorkRoot();
  let specFor: (entrypoint: string) => Record<string, unknown>;
  beforeAll(async () => {
    t = await createTestDatabase('sqlite');
    svc = await startTestService(t.db, { dataDir: t.dataDir, startWorkers: true, loadExamples: false, env: { GRIFFIN_CODE_ROOT: code.root, GRIFFIN_LOCAL_WORK_DIR: work.dir } });
    const send = async (route: string, body: unknown) => (await svc.admin(svc.request.post(route)).send(body as object)).body;
    await send('/api/v1/models', { name: 'mlflowinline', framework: 'sklearn', codeUri: 'mlflowinline', entrypoint: 'python train.py' });
    await send('/api/v1/datasets', { name: 'mlflowinline', uri: 'mlflowinline/data.csv' });
    specFor = (entrypoint) => ({ model: 'mlflowinline@1', dataset: 'mlflowinline@1', runtime: 'mlflow-sklearn', backend: 'local', entrypoint });
  });
  afterAll(async () => {
    await svc?.close();
    await t?.destroy();
    code.destroy();
    work.destroy();
  });

  const api = async (route: string) => (await svc.admin(svc.request.get(route))).body;
  const submit = async (entrypoint: string) => {
    const res = await svc.admin(svc.request.post('/api/v1/runs')).send({ spec: specFor(entrypoint) });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.id as string;
  };
  const logOf = async (id: string) => (await api(`/api/v1/runs/${id}/logs?limit=1048576`)).text as string;

  it('an inline run whose entrypoint uses only mlflow succeeds, and its Griffin run and MlflowClient show what it logged', { timeout: FIRST_BUILD_MS + 120_000 }, async () => {
    const id = await submit('python train.py');
    const run = await svc.waitForRun(id, FIRST_BUILD_MS);
    expect(run.state, await logOf(id)).toBe('succeeded');
    expect(await logOf(id)).toContain(`TRACKING_URI=${svc.baseUrl}`);

    expect(pointsOf((await api(`/api/v1/runs/${id}/metrics?key=loss`)).items)).toEqual(LOSS);
    expect(run.params).toEqual({ alpha: '0.5' });
    expect(run.tags).toMatchObject({ team: 'grocery' });
    expect((await api(`/api/v1/runs/${id}/artifacts`)).items.map((a: { path: string }) => a.path)).toEqual(['model.json']);

    // What a client outside the run reads, at the MLFLOW_TRACKING_URI the run was given.
    const env = svc.wired.runs.environment(await svc.wired.runs.get(id));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'griffin-mlflow-read-'));
    try {
      const read = await python([path.join(HERE, 'client.py'), 'read-run', id, 'loss'], { MLFLOW_TRACKING_URI: env.MLFLOW_TRACKING_URI, MLFLOW_TRACKING_TOKEN: await svc.tokenFor('viewer') }, dir);
      expect(read.code, read.stderr).toBe(0);
      expect(lastJson(read.stdout)).toMatchObject({ status: 'FINISHED', experiment_id: '0', experiment: 'Default', params: { alpha: '0.5' }, tags: { team: 'grocery' }, history: LOSS, artifacts: ['model.json'] });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("mlflow.sklearn.autolog() logs params, metrics and the model into the run, and a grid search's candidates as its child runs", { timeout: FIRST_BUILD_MS + 120_000 }, async () => {
    const id = await submit('python autolog_train.py');
    const run = await svc.waitForRun(id, FIRST_BUILD_MS);
    const log = await logOf(id);
    expect(run.state, log).toBe('succeeded');
    expect(log).toContain(`RUN_ID=${id}`);
    expect(run.params).toMatchObject({ C: '0.5', max_iter: '200' });
    expect(Object.keys(run.latestMetrics)).toEqual(expect.arrayContaining(['training_accuracy_score', 'training_f1_score']));
    expect(run.tags).toMatchObject({ estimator_name: 'LogisticRegression' });
    const artifacts = (await api(`/api/v1/runs/${id}/artifacts`)).items.map((a: { path: string }) => a.path);
    expect(artifacts).toEqual(expect.arrayContaining(['model/MLmodel', 'model/model.pkl']));

    // The search ran in a run nested in the Griffin run, and each candidate in a run nested in that.
    const search = log.match(/SEARCH_RUN_ID=(\w+)/)![1];
    const searchRun = await api(`/api/v1/runs/${search}`);
    expect(searchRun).toMatchObject({ backend: 'external', trigger: 'mlflow', parentRunId: id, state: 'succeeded' });
    expect(searchRun.params).toMatchObject({ best_C: '1.0' });
    const candidates = (await api(`/api/v1/runs?parentRunId=${search}`)).items;
    expect(candidates).toHaveLength(2);
    expect(candidates.every((c: { backend: string; state: string }) => c.backend === 'external' && c.state === 'succeeded')).toBe(true);
    expect((await api(`/api/v1/runs?parentRunId=${id}`)).items.map((r: { id: string }) => r.id)).toEqual([search]);
  });
});

describe.skipIf(SKIPPED)('the real mlflow client against Griffin', { timeout: PYTHON_MS }, () => {
  let t: TestDatabase;
  let svc: TestService;
  let work: string;
  beforeAll(async () => {
    t = await createTestDatabase('sqlite');
    svc = await startTestService(t.db, { dataDir: t.dataDir });
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'griffin-mlflow-'));
  });
  afterAll(async () => {
    await svc.close();
    await t.destroy();
    fs.rmSync(work, { recursive: true, force: true });
  });

  /** A run of the mlflow-sklearn workflow, held in `running` as if its process had just started. */
  async function runningRun(id: string, hyperparameters: Record<string, unknown> = { C: 1 }) {
    const now = new Date().toISOString();
    const workflow = await svc.wired.catalog.getWorkflow('mlflow-sklearn');
    const spec = { ...(await svc.wired.catalog.resolveRunSpec(workflow, {}, { name: workflow.name, version: workflow.version })), hyperparameters, backend: 'ray' };
    await t.db('runs').insert({ id, state: 'running', attempt: 1, workflow_name: 'mlflow-sklearn', workflow_version: 1, spec: JSON.stringify(spec), backend: 'ray', trigger: 'http', created_at: now, updated_at: now, started_at: now });
    return svc.wired.runs.environment((await svc.wired.stores.runs.get(id))!);
  }

  const api = async (route: string) => (await svc.admin(svc.request.get(route))).body;

  it('registered by Griffin or by the MLflow client, models:/<name>@production downloads the version files', async () => {
    const env = await runningRun('mlflowreg1');
    const dir = fs.mkdtempSync(path.join(work, 'run-'));
    expect((await python([path.join(HERE, 'inline_train.py')], env, dir)).code).toBe(0);
    await t.db('runs').where({ id: 'mlflowreg1' }).update({ state: 'succeeded', finished_at: new Date().toISOString() });
    const editor = await svc.tokenFor('editor');

    // Through Griffin's own registry API (as a workflow's register step or the Airflow operator do).
    const registered = await svc.admin(svc.request.post('/api/v1/registry/models/grocery-mlflow/versions')).send({ runId: 'mlflowreg1', aliases: ['production'] });
    expect(registered.status).toBe(201);
    const byGriffin = await python([path.join(HERE, 'client.py'), 'alias', 'grocery-mlflow', 'production', path.join(dir, 'dl1')], { MLFLOW_TRACKING_URI: svc.baseUrl, MLFLOW_TRACKING_TOKEN: editor }, dir);
    expect(byGriffin.code, byGriffin.stderr).toBe(0);
    expect(JSON.parse(byGriffin.stdout.trim().split('\n').pop()!)).toMatchObject({ version: String(registered.body.version), run_id: 'mlflowreg1', files: ['model.json'] });
    expect(fs.readFileSync(path.join(dir, 'dl1', 'model.json'), 'utf8')).toBe('{"w": [1, 2]}');

    // Through the MLflow client: create_model_version from runs:/<id>/<path>, then the alias.
    const byClient = await python([path.join(HERE, 'client.py'), 'register', 'grocery-mlflow-client', 'mlflowreg1', ''], { MLFLOW_TRACKING_URI: svc.baseUrl, MLFLOW_TRACKING_TOKEN: editor }, dir);
    expect(byClient.code, byClient.stderr).toBe(0);
    const version = await api('/api/v1/registry/models/grocery-mlflow-client/aliases/production');
    expect(version).toMatchObject({ runId: 'mlflowreg1', artifactUri: `${svc.baseUrl}/api/v1/runs/mlflowreg1/artifacts/` });
    const downloaded = await python([path.join(HERE, 'client.py'), 'alias', 'grocery-mlflow-client', 'production', path.join(dir, 'dl2')], { MLFLOW_TRACKING_URI: svc.baseUrl, MLFLOW_TRACKING_TOKEN: editor }, dir);
    expect(downloaded.code, downloaded.stderr).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'dl2', 'model.json'), 'utf8')).toBe('{"w": [1, 2]}');
  });

  it('the mlflow-sklearn example trains with scikit-learn and tracks with mlflow only', async () => {
    const env = await runningRun('mlflowsklearn1', { C: 1, epochs: 3, seed: 42 });
    const dir = fs.mkdtempSync(path.join(work, 'run-'));
    const trained = await python([path.join(HERE, '..', '..', 'examples', 'mlflow-sklearn', 'train.py')], env, dir);
    expect(trained.code, trained.stderr).toBe(0);
    const points = (await api('/api/v1/runs/mlflowsklearn1/metrics?key=val_auc')).items as Array<{ step: number; value: number }>;
    expect(points.map((p) => p.step)).toEqual([1, 2, 3]);
    expect(points.every((p) => p.value > 0.5 && p.value <= 1)).toBe(true);
    const run = await api('/api/v1/runs/mlflowsklearn1');
    expect(run.params).toEqual({ solver: 'lbfgs' });
    expect(run.tags).toMatchObject({ framework: 'scikit-learn' });
    expect((await api('/api/v1/runs/mlflowsklearn1/artifacts')).items.map((a: { path: string }) => a.path)).toEqual(['model/model.json']);
  });

  it("answers in MLflow's error shape, and the client reads its codes", async () => {
    const errors = await python([path.join(HERE, 'client.py'), 'errors', 'mlflowreg1'], { MLFLOW_TRACKING_URI: svc.baseUrl, MLFLOW_TRACKING_TOKEN: await svc.tokenFor('editor'), MLFLOW_HTTP_REQUEST_MAX_RETRIES: '0' }, work);
    expect(errors.code, errors.stderr).toBe(0);
    expect(JSON.parse(errors.stdout.trim().split('\n').pop()!)).toEqual({ missing_run: 'RESOURCE_DOES_NOT_EXIST', missing_model: 'RESOURCE_DOES_NOT_EXIST', write_ended: 'INVALID_STATE' });

    const doc = (await svc.request.get('/api/2.0/mlflow/openapi.json')).body;
    expect(doc.paths['/api/2.0/mlflow/runs/get'].get.responses['200'].content['application/json'].schema.properties.run).toBeDefined();
    expect(doc.paths['/api/2.0/mlflow/runs/log-batch'].post['x-griffin-role']).toBe('editor');
    const missing = await svc.request.get('/api/2.0/mlflow/runs/get?run_id=nosuchrun').set('Authorization', `Bearer ${await svc.tokenFor('viewer')}`);
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ error_code: 'RESOURCE_DOES_NOT_EXIST', message: 'Run with id=nosuchrun not found' });
    const anonymous = await svc.request.get('/api/2.0/mlflow/runs/get?run_id=mlflowreg1');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error_code).toBe('UNAUTHENTICATED');
    const badField = await svc.request.post('/api/2.0/mlflow/runs/log-metric').set('Authorization', `Bearer ${await svc.tokenFor('editor')}`).send({ run_id: 'mlflowreg1', key: 'x' });
    expect(badField.status).toBe(400);
    expect(badField.body.error_code).toBe('INVALID_PARAMETER_VALUE');
    expect(badField.body.message).toMatch(/^value:/);
    // An int64 sent as a string past 2^53 would be stored with other digits: refused, naming the field.
    const hugeStep = await svc.request.post('/api/2.0/mlflow/runs/log-batch').set('Authorization', `Bearer ${await svc.tokenFor('editor')}`).send({ run_id: 'mlflowreg1', metrics: [{ key: 'x', value: 1, timestamp: 1, step: '9223372036854775807' }] });
    expect(hugeStep.status).toBe(400);
    expect(hugeStep.body).toMatchObject({ error_code: 'INVALID_PARAMETER_VALUE', message: expect.stringMatching(/^metrics\.0\.step: must be between/) });
  });

  it("a run's token writes to its own run only, and a param keeps its first value", async () => {
    const mine = await runningRun('mlflowtok1');
    await runningRun('mlflowtok2');
    const asRun = (req: import('supertest').Test) => req.set('Authorization', `Bearer ${mine.MLFLOW_TRACKING_TOKEN}`);
    const other = await asRun(svc.request.post('/api/2.0/mlflow/runs/log-batch')).send({ run_id: 'mlflowtok2', metrics: [{ key: 'x', value: 1, timestamp: 1, step: 0 }] });
    expect(other.status).toBe(403);
    expect(other.body.error_code).toBe('PERMISSION_DENIED');
    expect(await api('/api/v1/runs/mlflowtok2/metrics')).toEqual({ items: [] });

    const own = await asRun(svc.request.post('/api/2.0/mlflow/runs/log-batch')).send({ run_id: 'mlflowtok1', metrics: [{ key: 'x', value: 1, timestamp: 1, step: 0 }], params: [{ key: 'lr', value: '0.1' }], tags: [{ key: 't', value: 'v' }] });
    expect(own.status).toBe(200);
    const changed = await asRun(svc.request.post('/api/2.0/mlflow/runs/log-batch')).send({ run_id: 'mlflowtok1', metrics: [{ key: 'x', value: 2, timestamp: 2, step: 1 }], params: [{ key: 'lr', value: '0.2' }] });
    expect(changed.status).toBe(400);
    expect(changed.body.error_code).toBe('INVALID_PARAMETER_VALUE');
    // The refused batch stored nothing: not its metric point either.
    expect((await api('/api/v1/runs/mlflowtok1/metrics')).items.map((m: { value: number }) => m.value)).toEqual([1]);
    // A hyperparameter is a param already: the same value is accepted, another refused.
    const sameHyper = await asRun(svc.request.post('/api/2.0/mlflow/runs/log-parameter')).send({ run_id: 'mlflowtok1', key: 'C', value: '1' });
    expect(sameHyper.status).toBe(200);
    const otherHyper = await asRun(svc.request.post('/api/2.0/mlflow/runs/log-parameter')).send({ run_id: 'mlflowtok1', key: 'C', value: '2' });
    expect(otherHyper.status).toBe(400);
    const registry = await asRun(svc.request.post('/api/2.0/mlflow/registered-models/create')).send({ name: 'from-a-run' });
    expect(registry.status).toBe(403);
  });
});

describe.skipIf(SKIPPED)('MLflow runs created outside any Griffin run (a notebook with a user token)', { timeout: PYTHON_MS }, () => {
  let t: TestDatabase;
  let svc: TestService;
  let work: string;
  beforeAll(async () => {
    t = await createTestDatabase('sqlite');
    svc = await startTestService(t.db, { dataDir: t.dataDir, loadExamples: false });
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'griffin-mlflow-nb-'));
  });
  afterAll(async () => {
    await svc?.close();
    await t?.destroy();
    fs.rmSync(work, { recursive: true, force: true });
  });
  const api = async (route: string) => (await svc.admin(svc.request.get(route))).body;

  it('start_run() creates an external run in the experiment, nested runs point at their parent, and end_run() ends them', async () => {
    const editor = await svc.tokenFor('editor');
    const nb = await python([path.join(HERE, 'notebook.py')], { MLFLOW_TRACKING_URI: svc.baseUrl, MLFLOW_TRACKING_TOKEN: editor }, work);
    expect(nb.code, nb.stderr).toBe(0);
    const ids = lastJson(nb.stdout);

    const parent = await api(`/api/v1/runs/${ids.parent}`);
    expect(parent).toMatchObject({ state: 'succeeded', backend: 'external', trigger: 'mlflow', parentRunId: null, experimentId: ids.experiment_id, params: { lr: '0.01' }, tags: { 'mlflow.runName': 'adhoc' } });
    expect(pointsOf((await api(`/api/v1/runs/${ids.parent}/metrics?key=loss`)).items)).toEqual([[0, 1], [1, 0.5], [2, 1 / 3]]);
    expect(parent.events.map((e: { to: string }) => e.to)).toEqual(['running', 'succeeded']);
    const child = await api(`/api/v1/runs/${ids.child}`);
    expect(child).toMatchObject({ state: 'succeeded', backend: 'external', parentRunId: ids.parent, tags: { fold: '1', 'mlflow.parentRunId': ids.parent } });
    expect((await api(`/api/v1/runs?parentRunId=${ids.parent}`)).items.map((r: { id: string }) => r.id)).toEqual([ids.child]);
    // A run whose code raised ends FAILED in MLflow: failed in Griffin.
    expect(await api(`/api/v1/runs/${ids.broken}`)).toMatchObject({ state: 'failed', reason: 'ended by its MLflow client (FAILED)' });

    // The experiment lists its runs, newest first, for MLflow's client too.
    const search = await svc.request.post('/api/2.0/mlflow/runs/search').set('Authorization', `Bearer ${editor}`).send({ experiment_ids: [ids.experiment_id] });
    expect(search.status).toBe(200);
    expect(search.body.runs.map((r: { info: { run_id: string; status: string } }) => [r.info.run_id, r.info.status])).toEqual([
      [ids.broken, 'FAILED'],
      [ids.child, 'FINISHED'],
      [ids.parent, 'FINISHED'],
    ]);
    expect(search.body.runs[2].info).toMatchObject({ user_id: 'test-editor', run_name: 'adhoc' });
  });

  it('refuses a create in an unknown experiment, a parent that does not exist, and a second end with another status', async () => {
    const editor = await svc.tokenFor('editor');
    const create = (body: object) => svc.request.post('/api/2.0/mlflow/runs/create').set('Authorization', `Bearer ${editor}`).send(body);
    const unknown = await create({ experiment_id: '999' });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ error_code: 'RESOURCE_DOES_NOT_EXIST', message: 'No Experiment with id=999 exists' });
    const orphan = await create({ experiment_id: '0', tags: [{ key: 'mlflow.parentRunId', value: 'nosuchrun' }] });
    expect(orphan.status).toBe(404);
    expect(orphan.body.message).toMatch(/Parent run with id=nosuchrun not found/);
    const viewer = await svc.request.post('/api/2.0/mlflow/runs/create').set('Authorization', `Bearer ${await svc.tokenFor('viewer')}`).send({ experiment_id: '0' });
    expect(viewer.status).toBe(403);

    const made = await create({ experiment_id: '0', run_name: 'once' });
    expect(made.status).toBe(200);
    const id = made.body.run.info.run_id;
    expect(made.body.run.info).toMatchObject({ status: 'RUNNING', experiment_id: '0', run_name: 'once' });
    const update = (status: string) => svc.request.post('/api/2.0/mlflow/runs/update').set('Authorization', `Bearer ${editor}`).send({ run_id: id, status });
    expect((await update('KILLED')).body.run_info.status).toBe('KILLED');
    expect((await update('KILLED')).status).toBe(200);
    const again = await update('FINISHED');
    expect(again.status).toBe(400);
    expect(again.body).toMatchObject({ error_code: 'INVALID_STATE' });
    expect((await api(`/api/v1/runs/${id}`)).state).toBe('cancelled');
  });
});

describe.skipIf(SKIPPED).each(supportedDatabases())('external runs nested in a Griffin run on %s', (dbId) => {
  let t: TestDatabase;
  let svc: TestService;
  beforeAll(async () => {
    t = await createTestDatabase(dbId);
    svc = await startTestService(t.db, { dataDir: t.dataDir });
  });
  afterAll(async () => {
    await svc?.close();
    await t?.destroy();
  });

  /** A run of the mlflow-sklearn workflow held in `running`, as if its process had started; its run token. */
  async function runningRun(id: string): Promise<string> {
    const now = new Date().toISOString();
    const workflow = await svc.wired.catalog.getWorkflow('mlflow-sklearn');
    const spec = { ...(await svc.wired.catalog.resolveRunSpec(workflow, {}, { name: workflow.name, version: workflow.version })), hyperparameters: { C: 1 }, backend: 'ray' };
    await t.db('runs').insert({ id, state: 'running', attempt: 1, workflow_name: 'mlflow-sklearn', workflow_version: 1, spec: JSON.stringify(spec), backend: 'ray', trigger: 'http', created_at: now, updated_at: now, started_at: now });
    return svc.wired.runs.environment((await svc.wired.stores.runs.get(id))!).MLFLOW_TRACKING_TOKEN;
  }
  const as = (token: string, route: string, body: object) => svc.request.post(route).set('Authorization', `Bearer ${token}`).send(body);
  const api = async (route: string) => (await svc.admin(svc.request.get(route))).body;

  it("a run token creates and writes runs nested in its own run only; the workers leave them alone; they fail when the run ends", async () => {
    const mine = await runningRun('nestown1');
    const other = await runningRun('nestother1');
    const experiment = (await api('/api/v1/runs/nestown1')) && (await svc.request.get('/api/2.0/mlflow/runs/get?run_id=nestown1').set('Authorization', `Bearer ${mine}`)).body.run.info.experiment_id;

    // No parent named: nested in the token's own run, in the experiment the client names.
    const child = await as(mine, '/api/2.0/mlflow/runs/create', { experiment_id: experiment, run_name: 'fold' });
    expect(child.status, JSON.stringify(child.body)).toBe(200);
    const childId = child.body.run.info.run_id;
    expect(child.body.run.info).toMatchObject({ status: 'RUNNING', experiment_id: experiment, user_id: 'run nestown1' });
    const grandchild = await as(mine, '/api/2.0/mlflow/runs/create', { experiment_id: experiment, tags: [{ key: 'mlflow.parentRunId', value: childId }] });
    expect(grandchild.status).toBe(200);
    const grandchildId = grandchild.body.run.info.run_id;
    expect(await api(`/api/v1/runs/${childId}`)).toMatchObject({ backend: 'external', parentRunId: 'nestown1', workflow: { name: 'mlflow-sklearn' }, spec: { backend: 'external', hyperparameters: {} } });
    // The child's params are its own: the Griffin run's hyperparameters stay the Griffin run's.
    expect((await svc.request.get(`/api/2.0/mlflow/runs/get?run_id=${childId}`).set('Authorization', `Bearer ${mine}`)).body.run.data.params).toEqual([]);

    expect((await as(mine, '/api/2.0/mlflow/runs/log-batch', { run_id: grandchildId, metrics: [{ key: 'auc', value: 0.8, timestamp: 1, step: 0 }] })).status).toBe(200);
    expect((await api(`/api/v1/runs/${grandchildId}/metrics`)).items.map((m: { value: number }) => m.value)).toEqual([0.8]);

    // Another run's token can neither nest in this run nor write to its children.
    const intrude = await as(other, '/api/2.0/mlflow/runs/create', { experiment_id: experiment, tags: [{ key: 'mlflow.parentRunId', value: 'nestown1' }] });
    expect(intrude.status).toBe(403);
    expect(intrude.body.error_code).toBe('PERMISSION_DENIED');
    expect((await as(other, '/api/2.0/mlflow/runs/log-batch', { run_id: childId, metrics: [{ key: 'x', value: 1, timestamp: 1, step: 0 }] })).status).toBe(403);
    expect((await as(other, '/api/2.0/mlflow/runs/update', { run_id: childId, status: 'FINISHED' })).status).toBe(403);
    expect((await api(`/api/v1/runs?parentRunId=nestown1`)).items.map((r: { id: string }) => r.id)).toEqual([childId]);

    // The workers never see them: a dispatcher pass claims nothing, and neither the reconciler's
    // sweep nor its passes between sweeps (even for a run an executor named) read them.
    expect(await svc.wired.dispatcher.pass()).toBe(0);
    const store = svc.wired.stores.runs;
    expect((await store.listInFlight()).map((r) => r.id).sort()).toEqual(['nestother1', 'nestown1']);
    const far = new Date(Date.now() + 365 * 86_400_000).toISOString();
    expect((await store.needingAttention({ runIds: [childId, grandchildId], polledBackends: ['local', 'ray'], now: far })).map((r) => r.id).sort()).toEqual(['nestother1', 'nestown1']);
    expect((await api(`/api/v1/runs/${childId}`)).state).toBe('running');
    expect((await t.db('run_events').where({ run_id: childId })).map((e: { to_state: string }) => e.to_state)).toEqual(['running']);

    // A user's cancel ends one at once; when the Griffin run ends, those still open fail with it.
    const third = (await as(mine, '/api/2.0/mlflow/runs/create', { experiment_id: experiment })).body.run.info.run_id;
    expect((await svc.admin(svc.request.post(`/api/v1/runs/${third}/cancel`)).send({})).body.state).toBe('cancelled');
    await svc.wired.stores.runs.transition('nestown1', Transitions.succeeded, 'the training process exited 0');
    for (const id of [childId, grandchildId]) {
      const ended = await api(`/api/v1/runs/${id}`);
      expect(ended).toMatchObject({ state: 'failed', reason: 'the run it was nested in ended while it was still running' });
    }
    expect((await api(`/api/v1/runs/${third}`)).state).toBe('cancelled');
  });
});
