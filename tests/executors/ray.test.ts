import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../server/config.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { freePort, startTestService, type TestService } from '../helpers/service.ts';
import { rayJob, rayTestAddress, startRayProxy, stopRayJob, until } from '../helpers/ray.ts';

/*
 * The ray backend against a real Ray head (ray[default] from PyPI, started by tests/setup/ray.sh):
 * real job submissions, real packages uploaded to the head's GCS, the example training code
 * running as a Ray job and reporting back to a Griffin service listening on loopback.
 * SQLite only: the executor does not depend on the database, and every Ray job costs the
 * two-core machine seconds; the store tests cover both dialects.
 */
const RAY = rayTestAddress();
const RUN_TIMEOUT_MS = 180_000;

describe.skipIf(RAY === undefined)('ray executor against a real Ray head', () => {
  const address = RAY!;
  const databases: TestDatabase[] = [];
  const services: TestService[] = [];
  let svc: TestService;

  const start = async (env: Record<string, string>) => {
    const t = await createTestDatabase('sqlite');
    databases.push(t);
    const s = await startTestService(t.db, { dataDir: t.dataDir, startWorkers: true, env });
    services.push(s);
    return s;
  };

  beforeAll(async () => {
    svc = await start({ GRIFFIN_RAY_ADDRESS: address });
  });
  afterAll(async () => {
    for (const s of services) await s.close();
    for (const t of databases) await t.destroy();
  });

  const submit = async (service: TestService, body: Record<string, unknown>) => {
    const res = await service.admin(service.request.post('/api/v1/runs')).send(body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body as { id: string; backend: string };
  };
  const getRun = async (service: TestService, id: string) => (await service.admin(service.request.get(`/api/v1/runs/${id}`))).body;
  const runningOnRay = (service: TestService, id: string) =>
    until(`run ${id} running on Ray`, async () => {
      const run = await getRun(service, id);
      if (run.terminal) throw new Error(`run ${id} ended early: ${run.state} ${run.reason}`);
      if (run.state !== 'running') return undefined;
      const job = await rayJob(address, run.backendRef.submissionId);
      return job?.status === 'RUNNING' ? { run, job } : undefined;
    }, RUN_TIMEOUT_MS);

  it('runs the example workflow unchanged as a Ray job: metrics, artifact, logs and a registered model version', async () => {
    const { id, backend } = await submit(svc, { workflow: 'grocery-reorder', overrides: { backend: 'ray' } });
    expect(backend).toBe('ray');
    const run = await svc.waitForRun(id, RUN_TIMEOUT_MS);
    expect(run.state, run.reason).toBe('succeeded');
    expect(run.backendRef).toMatchObject({ submissionId: `griffin-run-${id}-1`, address, adopted: false });
    expect(run.backendRef.workingDir).toMatch(/^gcs:\/\/_ray_pkg_[0-9a-f]{32}\.zip$/);

    const job = await rayJob(address, `griffin-run-${id}-1`);
    expect(job?.status).toBe('SUCCEEDED');
    expect(job?.metadata).toMatchObject({ griffin_run_id: id, griffin_attempt: '1', griffin_workflow: 'grocery-reorder@1' });
    expect(job?.entrypoint).toBe('python train.py');

    const valAuc = (await svc.admin(svc.request.get(`/api/v1/runs/${id}/metrics?key=val_auc`))).body.items;
    expect(valAuc.map((m: { step: number }) => m.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(run.latestMetrics.auc.value).toBeGreaterThan(0.7);
    const artifacts = (await svc.admin(svc.request.get(`/api/v1/runs/${id}/artifacts`))).body.items;
    expect(artifacts.map((a: { path: string }) => a.path)).toContain('model.json');
    expect(run.modelVersion).toMatchObject({ name: 'grocery-reorder' });
    const version = (await svc.admin(svc.request.get(`/api/v1/registry/models/grocery-reorder/versions/${run.modelVersion.version}`))).body;
    expect(version.runId).toBe(id);
    expect(version.metrics.auc).toBeGreaterThan(0.7);

    const logs = (await svc.admin(svc.request.get(`/api/v1/runs/${id}/logs?limit=200`))).body;
    expect(logs.nextCursor).toBeGreaterThan(0);
    let text = logs.text;
    let cursor = logs.nextCursor;
    for (let page = 0; page < 100; page += 1) {
      const next = (await svc.admin(svc.request.get(`/api/v1/runs/${id}/logs?cursor=${cursor}&limit=200`))).body;
      if (next.complete) break;
      text += next.text;
      cursor = next.nextCursor;
    }
    expect(text).toMatch(/epoch 1\/8[\s\S]*epoch 8\/8/);
    expect(text).toMatch(/done: auc=/);

    // The job ran in its own copy of the code: nothing was written into the source tree.
    expect(fs.existsSync(path.join(PROJECT_ROOT, 'examples', 'grocery-reorder', 'model.json'))).toBe(false);

    // Launching the same attempt again adopts the job Ray already has ("already exists").
    const stored = (await svc.wired.stores.runs.get(id))!;
    const again = await svc.wired.executors.get('ray').launch({ run: stored, env: svc.wired.runs.environment(stored) });
    expect(again).toMatchObject({ submissionId: `griffin-run-${id}-1`, adopted: true });
  });

  it('runs the Ray-native sweep example: trials as Ray tasks, the best AUC as a metric, the best model registered', async () => {
    const { id, backend } = await submit(svc, { workflow: 'grocery-reorder-sweep' });
    expect(backend).toBe('ray');
    const run = await svc.waitForRun(id, RUN_TIMEOUT_MS);
    expect(run.state, `${run.reason}\n${(await svc.admin(svc.request.get(`/api/v1/runs/${id}/logs`))).body.text}`).toBe('succeeded');
    const trials = (await svc.admin(svc.request.get(`/api/v1/runs/${id}/metrics?key=trial_auc`))).body.items;
    expect(trials).toHaveLength(6);
    const best = Math.max(...trials.map((t: { value: number }) => t.value));
    expect(run.latestMetrics.auc.value).toBeCloseTo(best, 10);
    expect(run.latestMetrics.trials.value).toBe(6);
    const artifacts = (await svc.admin(svc.request.get(`/api/v1/runs/${id}/artifacts`))).body.items.map((a: { path: string }) => a.path);
    expect(artifacts).toEqual(expect.arrayContaining(['model.json', 'sweep.json']));
    const sweepRes = await svc.admin(svc.request.get(`/api/v1/runs/${id}/artifacts/sweep.json`));
    const sweep = Buffer.isBuffer(sweepRes.body) ? JSON.parse(sweepRes.body.toString()) : sweepRes.body;
    expect(sweep).toHaveLength(6);
    expect(run.modelVersion).toMatchObject({ name: 'grocery-reorder-sweep' });
    const logs = (await svc.admin(svc.request.get(`/api/v1/runs/${id}/logs`))).body.text;
    expect(logs).toMatch(/sweep: 6 trials over Ray tasks/);
  });

  it('a failing training process fails the run with its exit code', async () => {
    const { id } = await submit(svc, { workflow: 'grocery-reorder', overrides: { backend: 'ray', hyperparameters: { fail_at_epoch: 1 } } });
    const run = await svc.waitForRun(id, RUN_TIMEOUT_MS);
    expect(run.state).toBe('failed');
    expect(run.reason).toMatch(/exited with code 1/);
    expect(run.modelVersion).toBeNull();
    expect((await rayJob(address, `griffin-run-${id}-1`))?.status).toBe('FAILED');
  });

  it('cancel stops the Ray job and the run ends cancelled', async () => {
    const { id } = await submit(svc, { workflow: 'grocery-reorder', overrides: { backend: 'ray', hyperparameters: { sleep_per_epoch: 10 } } });
    await runningOnRay(svc, id);
    const res = await svc.admin(svc.request.post(`/api/v1/runs/${id}/cancel`)).send({ reason: 'not needed' });
    expect(res.status).toBe(202);
    const run = await svc.waitForRun(id, RUN_TIMEOUT_MS);
    expect(run.state).toBe('cancelled');
    expect(run.reason).toMatch(/not needed/);
    expect((await rayJob(address, `griffin-run-${id}-1`))?.status).toBe('STOPPED');
  });

  it('a Ray head that stops answering fails its running run with a clear reason after the grace period', async () => {
    // The shared head keeps running; only the path from this service to it is cut.
    const proxy = await startRayProxy(new URL(address));
    const cut = await start({ GRIFFIN_RAY_ADDRESS: proxy.address, GRIFFIN_RAY_UNREACHABLE_GRACE_SECONDS: '3' });
    const { id } = await submit(cut, { workflow: 'grocery-reorder', overrides: { backend: 'ray', hyperparameters: { sleep_per_epoch: 10 } } });
    try {
      await runningOnRay(cut, id);
      await proxy.close();
      const run = await cut.waitForRun(id, 60_000);
      expect(run.state).toBe('failed');
      expect(run.reason).toMatch(new RegExp(`^the Ray head at ${proxy.address} has been unreachable for \\d+ s \\(last error: .*ECONNREFUSED`));
      // The first failure time was kept on the run, so a restarted service would go on counting.
      expect(run.backendRef.unreachableSince).toEqual(expect.any(String));
      expect(run.events.map((e: { to: string }) => e.to)).toEqual(['queued', 'launching', 'running', 'failed']);
    } finally {
      await stopRayJob(address, `griffin-run-${id}-1`);
    }
  });

  it('a Ray head that never answers keeps the run launching, then fails it with a clear reason', async () => {
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const down = await start({ GRIFFIN_RAY_ADDRESS: nobody, GRIFFIN_RAY_UNREACHABLE_GRACE_SECONDS: '2', GRIFFIN_LEASE_SECONDS: '1' });
    const { id } = await submit(down, { workflow: 'grocery-reorder', overrides: { backend: 'ray' } });
    const run = await down.waitForRun(id, 60_000);
    expect(run.state).toBe('failed');
    expect(run.reason).toMatch(new RegExp(`^launch failed: the Ray head at ${nobody} has been unreachable for \\d+ s`));
    expect(run.events.map((e: { to: string }) => e.to)).toEqual(['queued', 'launching', 'failed']);
  });

  it('dry run returns the exact Ray Jobs request and submits nothing', async () => {
    const before = (await svc.admin(svc.request.get('/api/v1/runs?limit=500'))).body.items.length;
    const res = await svc.admin(svc.request.post('/api/v1/runs?dryRun=true')).send({ workflow: 'grocery-reorder', overrides: { backend: 'ray', resources: { gpu: 1, customResources: { accelerator_type_a10g: 1 } } } });
    expect(res.status).toBe(200);
    expect(res.body.backend).toBe('ray');
    const { request } = res.body;
    expect(request).toMatchObject({ method: 'POST', url: `${address}/api/jobs/` });
    expect(request.body).toMatchObject({
      entrypoint: 'python train.py',
      submission_id: 'griffin-run-dryrun000000-1',
      entrypoint_num_cpus: 1,
      entrypoint_num_gpus: 1,
      entrypoint_memory: 512 * 1024 * 1024,
      entrypoint_resources: { accelerator_type_a10g: 1 },
      metadata: { griffin_run_id: 'dryrun000000', griffin_attempt: '1' },
    });
    expect(request.body.runtime_env.working_dir).toMatch(/^gcs:\/\/_ray_pkg_[0-9a-f]{32}\.zip$/);
    expect(request.body.runtime_env.env_vars).toMatchObject({ GRIFFIN_RUN_ID: 'dryrun000000', GRIFFIN_RUN_TOKEN: '[redacted]' });
    expect(request.uploads.map((u: { uri: string }) => u.uri)).toContain(request.body.runtime_env.working_dir);
    expect((await svc.admin(svc.request.get('/api/v1/runs?limit=500'))).body.items.length).toBe(before);
    expect(await rayJob(address, 'griffin-run-dryrun000000-1')).toBeUndefined();
  });
});
