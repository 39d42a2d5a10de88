import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import supertest from 'supertest';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

/** The real local executor running the real example training code. */
describe.each(supportedDatabases())('local executor end to end on %s', (dbId) => {
  let t: TestDatabase;
  let svc: TestService;
  beforeAll(async () => {
    t = await createTestDatabase(dbId);
    svc = await startTestService(t.db, { dataDir: t.dataDir, startWorkers: true });
  });
  afterAll(async () => {
    await svc.close();
    await t.destroy();
  });

  const submit = async (overrides: Record<string, unknown> = {}) => {
    const res = await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder', overrides });
    expect(res.status).toBe(201);
    return res.body as { id: string };
  };

  it('trains the example: succeeds with per-epoch metrics, an artifact, logs and a registered model version with lineage', async () => {
    const { id } = await submit();
    const run = await svc.waitForRun(id);
    expect(run.state, run.reason).toBe('succeeded');
    expect(run.events.map((e: { to: string }) => e.to)).toEqual(['queued', 'launching', 'running', 'succeeded']);
    expect(run.latestMetrics.auc.value).toBeGreaterThan(0.7);
    const valAuc = (await svc.admin(svc.request.get(`/api/v1/runs/${id}/metrics?key=val_auc`))).body.items;
    expect(valAuc.map((m: { step: number }) => m.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const artifacts = (await svc.admin(svc.request.get(`/api/v1/runs/${id}/artifacts`))).body.items;
    expect(artifacts.map((a: { path: string }) => a.path)).toContain('model.json');
    const weights = await svc.admin(svc.request.get(`/api/v1/runs/${id}/artifacts/model.json`));
    expect(weights.status).toBe(200);
    expect(JSON.parse(weights.text ?? JSON.stringify(weights.body))).toHaveProperty('weights');
    const logs = (await svc.admin(svc.request.get(`/api/v1/runs/${id}/logs`))).body;
    expect(logs.text).toMatch(/epoch 8\/8/);
    expect(logs.complete).toBe(false); // text was returned; the next read from nextCursor completes
    const rest = (await svc.admin(svc.request.get(`/api/v1/runs/${id}/logs?cursor=${logs.nextCursor}`))).body;
    expect(rest).toMatchObject({ text: '', complete: true });
    expect(run.modelVersion).toMatchObject({ name: 'grocery-reorder' });
    const lineage = (await svc.admin(svc.request.get(`/api/v1/registry/models/grocery-reorder/versions/${run.modelVersion.version}/lineage`))).body;
    expect(lineage.run.id).toBe(id);
    expect(lineage.workflow).toEqual({ name: 'grocery-reorder', version: 1 });
    expect(lineage.dataset).toMatchObject({ name: 'grocery-reorder', version: 1 });
    expect(lineage.features.length).toBe(10);
    expect(lineage.trigger.type).toBe('http');
    expect(lineage.modelVersion.metrics.auc).toBeGreaterThan(0.7);
  });

  it('registering the same run twice returns the same version; an alias moves between versions', async () => {
    const { id } = await submit();
    const run = await svc.waitForRun(id);
    const again = await svc.admin(svc.request.post('/api/v1/registry/models/grocery-reorder/versions')).send({ runId: id });
    expect(again.status).toBe(200);
    expect(again.body.version).toBe(run.modelVersion.version);
    const promoted = await svc.admin(svc.request.put(`/api/v1/registry/models/grocery-reorder/aliases/production`)).send({ version: run.modelVersion.version });
    expect(promoted.body.aliases).toContain('production');
    const alias = await svc.admin(svc.request.get('/api/v1/registry/models/grocery-reorder/aliases/production'));
    expect(alias.body.version).toBe(run.modelVersion.version);
    const model = await svc.admin(svc.request.get('/api/v1/registry/models/grocery-reorder'));
    expect(model.body.aliases.production).toBe(run.modelVersion.version);
  });

  it('a failing training process fails the run with its exit code, keeping the metrics it reported', async () => {
    const { id } = await submit({ hyperparameters: { fail_at_epoch: 2 } });
    const run = await svc.waitForRun(id);
    expect(run.state).toBe('failed');
    expect(run.reason).toMatch(/exited with code 1/);
    expect(run.modelVersion).toBeNull();
    const points = (await svc.admin(svc.request.get(`/api/v1/runs/${id}/metrics?key=val_auc`))).body.items;
    expect(points.map((m: { step: number }) => m.step)).toEqual([1, 2]);
  });

  it('cancel ends the whole process group and the run is cancelled', async () => {
    const { id } = await submit({ hyperparameters: { sleep_per_epoch: 5 } });
    await waitForState(svc, id, 'running');
    const ref = (await svc.admin(svc.request.get(`/api/v1/runs/${id}`))).body.backendRef;
    const res = await svc.admin(svc.request.post(`/api/v1/runs/${id}/cancel`)).send({ reason: 'not needed' });
    expect(res.status).toBe(202);
    const run = await svc.waitForRun(id);
    expect(run.state).toBe('cancelled');
    expect(run.reason).toMatch(/not needed/);
    expect(await processGoneWithin(ref.pid, 5_000)).toBe(true);
  });

  it('the server enforces the timeout', async () => {
    const { id } = await submit({ hyperparameters: { sleep_per_epoch: 5 }, timeoutSeconds: 2 });
    const run = await svc.waitForRun(id, 20_000);
    expect(run.state).toBe('failed');
    expect(run.reason).toMatch(/timed out/);
    expect(await processGoneWithin(run.backendRef.pid, 5_000)).toBe(true);
  });

  it('a training process killed from outside fails the run with a clear reason', async () => {
    const { id } = await submit({ hyperparameters: { sleep_per_epoch: 5 } });
    const running = await waitForState(svc, id, 'running');
    process.kill(-running.backendRef.pid, 'SIGKILL');
    const run = await svc.waitForRun(id);
    expect(run.state).toBe('failed');
    expect(run.reason).toMatch(/without recording an exit status|SIGKILL/);
  });

  it('the run token reports only for its own run, and artifact paths cannot escape', async () => {
    const a = await submit({ hyperparameters: { sleep_per_epoch: 5 } });
    const b = await submit({ hyperparameters: { sleep_per_epoch: 5 } });
    await waitForState(svc, a.id, 'running');
    const token = svc.wired.auth.runToken(a.id);
    const api = supertest(svc.app);
    const own = await api.post(`/api/v1/runs/${a.id}/metrics`).set('Authorization', `Bearer ${token}`).send({ metrics: [{ key: 'x', value: 1, step: 1 }] });
    expect(own.status).toBe(201);
    const other = await api.post(`/api/v1/runs/${b.id}/metrics`).set('Authorization', `Bearer ${token}`).send({ metrics: [{ key: 'x', value: 1 }] });
    expect(other.status).toBe(403);
    expect((await api.get('/api/v1/runs').set('Authorization', `Bearer ${token}`)).status).toBe(403);
    expect((await api.post('/api/v1/runs').set('Authorization', `Bearer ${token}`).send({ workflow: 'grocery-reorder' })).status).toBe(403);
    for (const bad of ['..%2F..%2Fsecret', '../../etc/passwd', 'a/../../b', '%2e%2e/x']) {
      const res = await api.put(`/api/v1/runs/${a.id}/artifacts/${bad}`).set('Authorization', `Bearer ${token}`).send(Buffer.from('x'));
      expect([400, 404], bad).toContain(res.status);
    }
    expect(fs.existsSync(`${t.dataDir}/secret.txt`)).toBe(false);
    const ok = await api.put(`/api/v1/runs/${a.id}/artifacts/plots/roc.txt`).set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/octet-stream').send(Buffer.from('curve'));
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ path: 'plots/roc.txt', size: 5 });
    await svc.admin(svc.request.post(`/api/v1/runs/${a.id}/cancel`)).send({});
    await svc.admin(svc.request.post(`/api/v1/runs/${b.id}/cancel`)).send({});
    await svc.waitForRun(a.id);
    // A finished run's token is dead.
    expect((await api.get(`/api/v1/runs/${a.id}`).set('Authorization', `Bearer ${token}`)).status).toBe(401);
  });
});

async function waitForState(svc: TestService, id: string, state: string): Promise<Record<string, any>> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const run = (await svc.admin(svc.request.get(`/api/v1/runs/${id}`))).body;
    if (run.state === state) return run;
    if (run.terminal || Date.now() > deadline) throw new Error(`run ${id} is ${run.state}, waited for ${state}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A signalled process needs a moment to die and be reaped; the run's state may be recorded first. */
async function processGoneWithin(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (processAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

function processAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}
