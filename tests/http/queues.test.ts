import { describe, expect, it } from 'vitest';
import { supportedDatabases } from '../helpers/databases.ts';
import { useTestService } from '../helpers/service.ts';

/** The queue API and a run's queue and priority at submission (no workers run: runs stay queued). */
describe.each(supportedDatabases())('queues over HTTP on %s', (dbId) => {
  const { svc } = useTestService(dbId);
  const as = async (role: 'viewer' | 'editor' | 'admin') => `Bearer ${await svc.tokenFor(role)}`;
  const inlineSpec = async () => {
    const wf = (await svc.admin(svc.request.get('/api/v1/workflows/grocery-reorder'))).body;
    return { model: wf.model, dataset: wf.dataset, runtime: wf.runtime, backend: wf.backend };
  };

  it('the default queue always exists, unlimited; viewers read queues but only admins change them', async () => {
    const viewer = await as('viewer');
    const list = await svc.request.get('/api/v1/queues').set('Authorization', viewer);
    expect(list.status).toBe(200);
    expect(list.body.items.map((q: { name: string }) => q.name)).toContain('default');
    const def = await svc.request.get('/api/v1/queues/default').set('Authorization', viewer);
    expect(def.body).toMatchObject({ name: 'default', maxConcurrentRuns: null, resources: { gpu: null, cpu: null }, defaultPriority: 0 });
    for (const role of ['viewer', 'editor'] as const) {
      const token = await as(role);
      expect((await svc.request.post('/api/v1/queues').set('Authorization', token).send({ name: `by-${role}` })).status).toBe(403);
      expect((await svc.request.put('/api/v1/queues/default').set('Authorization', token).send({ maxConcurrentRuns: 1 })).status).toBe(403);
      expect((await svc.request.delete('/api/v1/queues/default').set('Authorization', token)).status).toBe(403);
    }
    expect((await svc.request.get('/api/v1/queues')).status).toBe(401);
    expect((await svc.request.get('/api/v1/queues/default').set('Authorization', viewer)).body.maxConcurrentRuns).toBeNull();
  });

  it('an admin creates a queue (201), again is 409, PUT replaces its settings (200) or creates one (201)', async () => {
    const created = await svc.admin(svc.request.post('/api/v1/queues')).send({ name: 'gpu', maxConcurrentRuns: 2, resources: { gpu: 4 }, defaultPriority: 10, description: 'the GPU nodes' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'gpu', maxConcurrentRuns: 2, resources: { gpu: 4, cpu: null }, defaultPriority: 10, createdBy: expect.any(String), load: { queued: 0, inFlight: 0, gpu: 0, cpu: 0 } });
    const again = await svc.admin(svc.request.post('/api/v1/queues')).send({ name: 'gpu' });
    expect(again.status).toBe(409);
    expect(again.body.error.message).toMatch(/already exists/);
    const replaced = await svc.admin(svc.request.put('/api/v1/queues/gpu')).send({ maxConcurrentRuns: 2, resources: { gpu: 4, cpu: 16 }, defaultPriority: 10 });
    expect(replaced.status).toBe(200);
    expect(replaced.body.resources).toEqual({ gpu: 4, cpu: 16 });
    const fresh = await svc.admin(svc.request.put('/api/v1/queues/batch')).send({ maxConcurrentRuns: 1 });
    expect(fresh.status).toBe(201);
    expect(fresh.body).toMatchObject({ name: 'batch', maxConcurrentRuns: 1, defaultPriority: 0 });
  });

  it('bad settings are a 400 naming the field', async () => {
    const cases: Array<[unknown, string]> = [
      [{ name: 'GPU Nodes' }, 'name'],
      [{ name: 'neg', maxConcurrentRuns: -1 }, 'maxConcurrentRuns'],
      [{ name: 'neg', resources: { gpu: -2 } }, 'resources.gpu'],
      [{ name: 'neg', resources: { cpu: -0.5 } }, 'resources.cpu'],
      [{ name: 'neg', resources: { memoryMb: 5 } }, 'resources.memoryMb'],
      [{ name: 'neg', maxConcurrentRuns: 1.5 }, 'maxConcurrentRuns'],
      [{ name: 'neg', defaultPriority: 101 }, 'defaultPriority'],
    ];
    for (const [body, field] of cases) {
      const res = await svc.admin(svc.request.post('/api/v1/queues')).send(body as object);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.field).toBe(field);
    }
    const badPath = await svc.admin(svc.request.put('/api/v1/queues/Bad_Name')).send({});
    expect(badPath.status).toBe(400);
    expect(badPath.body.error.field).toBe('name');
    expect((await svc.admin(svc.request.get('/api/v1/queues/nope'))).status).toBe(404);
  });

  it('a run takes its queue and priority from the spec, the overrides or the queue\'s default; an unknown queue is a 422 with a hint', async () => {
    await svc.admin(svc.request.put('/api/v1/queues/training')).send({ defaultPriority: 7, resources: { gpu: 2 } });
    const spec = await inlineSpec();
    const plain = await svc.admin(svc.request.post('/api/v1/runs')).send({ spec });
    expect(plain.status).toBe(201);
    expect(plain.body).toMatchObject({ queue: 'default', priority: 0, state: 'queued' });
    const inQueue = await svc.admin(svc.request.post('/api/v1/runs')).send({ spec: { ...spec, queue: 'training' } });
    expect(inQueue.body).toMatchObject({ queue: 'training', priority: 7 });
    expect(inQueue.body.spec).toMatchObject({ queue: 'training', priority: 7 });
    const overridden = await svc.admin(svc.request.post('/api/v1/runs')).send({ spec: { ...spec, queue: 'training', priority: 1 }, overrides: { priority: -3 } });
    expect(overridden.body).toMatchObject({ queue: 'training', priority: -3 });
    const byWorkflow = await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder', overrides: { queue: 'training' } });
    expect(byWorkflow.body).toMatchObject({ queue: 'training', priority: 7 });

    const typo = await svc.admin(svc.request.post('/api/v1/runs')).send({ spec: { ...spec, queue: 'trainin' } });
    expect(typo.status).toBe(422);
    expect(typo.body.error.field).toBe('spec.queue');
    expect(typo.body.error.message).toMatch(/queue "trainin" does not exist; did you mean "training"\?/);
    const typoOverride = await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder', overrides: { queue: 'defualt' } });
    expect(typoOverride.status).toBe(422);
    expect(typoOverride.body.error.field).toBe('overrides.queue');
    expect(typoOverride.body.error.message).toMatch(/did you mean "default"/);
    const badPriority = await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder', overrides: { priority: 1000 } });
    expect(badPriority.status).toBe(400);
    expect(badPriority.body.error.field).toBe('overrides.priority');
    const tooBig = await svc.admin(svc.request.post('/api/v1/runs')).send({ spec: { ...spec, queue: 'training', resources: { gpu: 3 } } });
    expect(tooBig.status).toBe(422);
    expect(tooBig.body.error.field).toBe('spec.resources');
    expect(tooBig.body.error.message).toMatch(/requests 3 GPUs, but queue training allows 2/);

    const workflow = await svc.admin(svc.request.post('/api/v1/workflows')).send({ name: 'queued-wf', ...spec, queue: 'traning' });
    expect(workflow.status).toBe(422);
    expect(workflow.body.error).toMatchObject({ field: 'queue', message: expect.stringMatching(/did you mean "training"/) });
    const stored = await svc.admin(svc.request.post('/api/v1/workflows')).send({ name: 'queued-wf', ...spec, queue: 'training', priority: 2 });
    expect(stored.status).toBe(201);
    expect(stored.body).toMatchObject({ queue: 'training', priority: 2 });
    const ofWorkflow = await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'queued-wf' });
    expect(ofWorkflow.body).toMatchObject({ queue: 'training', priority: 2 });
    await svc.admin(svc.request.post(`/api/v1/runs/${ofWorkflow.body.id}/cancel`)).send({});
    const schedule = await svc.admin(svc.request.post('/api/v1/schedules')).send({ name: 'nightly-q', cron: '0 3 * * *', workflow: 'grocery-reorder', overrides: { queue: 'nope' } });
    expect(schedule.status).toBe(422);
    expect(schedule.body.error.field).toBe('overrides.queue');
    const goodSchedule = await svc.admin(svc.request.post('/api/v1/schedules')).send({ name: 'nightly-q', cron: '0 3 * * *', workflow: 'grocery-reorder', overrides: { queue: 'training', priority: 5 } });
    expect(goodSchedule.status).toBe(201);
    expect(goodSchedule.body.overrides).toEqual({ queue: 'training', priority: 5 });

    const loaded = await svc.admin(svc.request.get('/api/v1/queues/training'));
    expect(loaded.body.load).toMatchObject({ queued: 3, inFlight: 0 });
    const metrics = await svc.request.get('/metrics').set('Authorization', await as('viewer'));
    expect(metrics.text).toMatch(/griffin_queue_queued_runs\{queue="training"\} 3/);
  });

  it('a change to a queue applies to the next submission at once, and a deleted queue is refused again at once', async () => {
    const spec = await inlineSpec();
    await svc.admin(svc.request.put('/api/v1/queues/changing')).send({ defaultPriority: 1 });
    const submit = () => svc.admin(svc.request.post('/api/v1/runs')).send({ spec: { ...spec, queue: 'changing' } });
    const first = await submit();
    expect(first.body).toMatchObject({ queue: 'changing', priority: 1 });
    await svc.admin(svc.request.put('/api/v1/queues/changing')).send({ defaultPriority: 9, resources: { gpu: 1 } });
    expect((await submit()).body.priority).toBe(9);
    const tooBig = await svc.admin(svc.request.post('/api/v1/runs')).send({ spec: { ...spec, queue: 'changing', resources: { gpu: 2 } } });
    expect(tooBig.status).toBe(422);
    expect(tooBig.body.error.message).toMatch(/queue changing allows 1/);
    for (const run of (await svc.admin(svc.request.get('/api/v1/runs?limit=100'))).body.items.filter((r: { queue: string }) => r.queue === 'changing')) {
      await svc.admin(svc.request.post(`/api/v1/runs/${run.id}/cancel`)).send({});
    }
    expect((await svc.admin(svc.request.delete('/api/v1/queues/changing'))).status).toBe(204);
    const gone = await submit();
    expect(gone.status).toBe(422);
    expect(gone.body.error).toMatchObject({ field: 'spec.queue', message: expect.stringMatching(/queue "changing" does not exist/) });
  });

  it('a queue holding runs cannot be deleted (409 naming them); "default" never; an empty one is deleted (204)', async () => {
    await svc.admin(svc.request.put('/api/v1/queues/doomed')).send({});
    const spec = await inlineSpec();
    const run = (await svc.admin(svc.request.post('/api/v1/runs')).send({ spec: { ...spec, queue: 'doomed' } })).body;
    const refused = await svc.admin(svc.request.delete('/api/v1/queues/doomed'));
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toMatch(/queue "doomed" still holds runs \(1 queued\)/);
    expect((await svc.admin(svc.request.delete('/api/v1/queues/default'))).status).toBe(409);
    await svc.admin(svc.request.post(`/api/v1/runs/${run.id}/cancel`)).send({});
    expect((await svc.admin(svc.request.delete('/api/v1/queues/doomed'))).status).toBe(204);
    expect((await svc.admin(svc.request.delete('/api/v1/queues/doomed'))).status).toBe(404);
    // The finished run keeps naming the queue it ran in.
    expect((await svc.admin(svc.request.get(`/api/v1/runs/${run.id}`))).body.queue).toBe('doomed');
  });
});
