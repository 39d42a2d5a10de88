import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { defineModel, makeCodeRoot, makeWorkRoot } from '../helpers/localRuns.ts';

// Waits for a file the test creates, so the run is observed while it is still running.
const TRAIN = `
import os, time
while not os.path.exists(os.environ["RELEASE_FILE"]):
    time.sleep(0.05)
print("done", flush=True)
`;

describe.each(supportedDatabases())('run usage on %s', (dbId) => {
  let t: TestDatabase;
  let svc: TestService;
  const code = makeCodeRoot({ 'usage-model/train.py': TRAIN, 'usage-model/data.csv': 'x\n1\n' });
  const work = makeWorkRoot();

  beforeAll(async () => {
    t = await createTestDatabase(dbId);
    svc = await startTestService(t.db, { dataDir: t.dataDir, loadExamples: false, env: { GRIFFIN_CODE_ROOT: code.root, GRIFFIN_LOCAL_WORK_DIR: work.dir } });
  });
  afterAll(async () => {
    await svc?.close();
    await t?.destroy();
    code.destroy();
    work.destroy();
  });

  const api = async (method: string, route: string, body?: unknown) => {
    const res = await svc.admin((svc.request as any)[method.toLowerCase()](route)).send(body as object | undefined);
    return { status: res.status as number, body: res.body, text: res.text as string };
  };

  it('records wall time and requested resource-seconds for the attempt, shows them so far while running, and counts them in /metrics by workflow', async () => {
    const spec = await defineModel(api, 'usage-model', 'python train.py');
    const releaseFile = `${code.root}/usage-model-release-${dbId}`;
    const wf = await api('POST', '/api/v1/workflows', { name: `usage-wf-${dbId}`, ...spec, resources: { cpu: 2, memoryMb: 512 }, env: { RELEASE_FILE: releaseFile } });
    expect(wf.status, wf.text).toBe(201);
    const submitted = await api('POST', '/api/v1/runs', { workflow: `usage-wf-${dbId}` });
    expect(submitted.status).toBe(201);
    const id = submitted.body.id;

    const before = await api('GET', `/api/v1/runs/${id}/usage`);
    expect(before.status).toBe(200);
    expect(before.body).toEqual({ attempts: [], total: { wallSeconds: 0, resourceSeconds: { cpu: 0, memoryMb: 0, gpu: 0 } } });

    for (let i = 0; i < 200; i += 1) {
      await svc.wired.dispatcher.pass();
      if ((await api('GET', `/api/v1/runs/${id}`)).body.state === 'running') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await api('GET', `/api/v1/runs/${id}`)).body.state).toBe('running');
    const during = (await api('GET', `/api/v1/runs/${id}/usage`)).body;
    expect(during.attempts).toHaveLength(1);
    expect(during.attempts[0]).toMatchObject({ attempt: 1, endedAt: null });

    fs.writeFileSync(releaseFile, '');
    const run = await svc.waitForRun(id);
    expect(run.state, run.reason).toBe('succeeded');

    const usage = (await api('GET', `/api/v1/runs/${id}/usage`)).body;
    expect(usage.attempts).toHaveLength(1);
    const [attempt] = usage.attempts;
    const wall = (Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000;
    expect(attempt).toMatchObject({ attempt: 1, startedAt: run.startedAt, endedAt: run.finishedAt });
    expect(attempt.wallSeconds).toBeCloseTo(wall, 2);
    expect(attempt.wallSeconds).toBeGreaterThan(0);
    expect(attempt.resourceSeconds.cpu).toBeCloseTo(2 * wall, 2);
    expect(attempt.resourceSeconds.memoryMb).toBeCloseTo(512 * wall, 1);
    expect(attempt.resourceSeconds.gpu).toBe(0);
    expect(usage.total).toEqual({ wallSeconds: attempt.wallSeconds, resourceSeconds: attempt.resourceSeconds });
    // Stored once: more reconciler passes over the ended run add nothing.
    await svc.wired.reconciler.sweepAll();
    expect((await t.db('run_usage').where({ run_id: id })).length).toBe(1);

    const metrics = await svc.request.get('/metrics').set('Authorization', `Bearer ${await svc.tokenFor('viewer')}`);
    expect(metrics.status).toBe(200);
    const sample = (name: string, labels: string) => Number(new RegExp(`^${name}\\{${labels}\\} (\\S+)$`, 'm').exec(metrics.text)?.[1]);
    const workflow = `workflow="usage-wf-${dbId}"`;
    expect(sample('griffin_run_wall_seconds_total', workflow)).toBeCloseTo(attempt.wallSeconds, 2);
    expect(sample('griffin_run_resource_seconds_total', `${workflow},resource="cpu"`)).toBeCloseTo(attempt.resourceSeconds.cpu, 2);
    expect(sample('griffin_run_resource_seconds_total', `${workflow},resource="memory_mb"`)).toBeCloseTo(attempt.resourceSeconds.memoryMb, 1);
    expect(sample('griffin_run_resource_seconds_total', `${workflow},resource="gpu"`)).toBe(0);
    expect(sample('griffin_run_attempts_ended_total', workflow)).toBe(1);
  });

  it('a run that never started used nothing; an unknown run is a 404; viewers may read usage', async () => {
    const spec = await defineModel(api, 'usage-model', 'python train.py');
    const submitted = await api('POST', '/api/v1/runs', { spec });
    await api('POST', `/api/v1/runs/${submitted.body.id}/cancel`, {});
    const usage = await svc.request.get(`/api/v1/runs/${submitted.body.id}/usage`).set('Authorization', `Bearer ${await svc.tokenFor('viewer')}`);
    expect(usage.status).toBe(200);
    expect(usage.body.attempts).toEqual([]);
    expect((await api('GET', '/api/v1/runs/nosuchrun000/usage')).status).toBe(404);
    expect((await svc.request.get(`/api/v1/runs/${submitted.body.id}/usage`)).status).toBe(401);
  });
});
