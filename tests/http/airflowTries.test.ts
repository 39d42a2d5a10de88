import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, useTestService, type TestService } from '../helpers/service.ts';
import { Transitions } from '../../server/domain/index.ts';

/**
 * What an Airflow task's tries do to the runs under one idempotency key: a retry after a crash
 * re-attaches, a try that finished with its run (consumed it) makes the next try (a user's clear)
 * train again, and a cancel records which try asked for it.
 */
describe.each(supportedDatabases())('Airflow tries and their runs on %s', (dbId) => {
  let t: TestDatabase;
  let svc: TestService;
  const airflowBody = (tryNumber: number) => ({
    workflow: 'grocery-reorder',
    trigger: 'airflow',
    airflow: { dagId: 'd', dagRunId: 'r1', taskId: 't', tryNumber },
    rerunIfFailed: true,
  });
  const submit = (key: string, tryNumber: number) => svc.admin(svc.request.post('/api/v1/runs')).set('Idempotency-Key', key).send(airflowBody(tryNumber));

  beforeAll(async () => {
    t = await createTestDatabase(dbId);
    svc = await startTestService(t.db, { dataDir: t.dataDir });
  });
  afterAll(async () => {
    await svc.close();
    await t.destroy();
  });

  it('a succeeded run no try has consumed is re-attached; once consumed, the next try starts a new run', async () => {
    const first = await submit('tries/consume', 1);
    expect(first.status).toBe(201);
    const run = await svc.waitForRun(first.body.id);
    expect(run.state).toBe('succeeded');

    // The task died after the run succeeded but before it recorded success: the retry re-attaches.
    const retry = await submit('tries/consume', 2);
    expect(retry.status).toBe(200);
    expect(retry.body.id).toBe(first.body.id);

    const consumed = await svc.admin(svc.request.post(`/api/v1/runs/${first.body.id}/consume`)).send({ tryNumber: 2 });
    expect(consumed.status).toBe(200);
    expect(consumed.body).toMatchObject({ consumedByTry: 2 });
    expect(typeof consumed.body.consumedAt).toBe('string');
    // Consuming again keeps the first record.
    const again = await svc.admin(svc.request.post(`/api/v1/runs/${first.body.id}/consume`)).send({ tryNumber: 5 });
    expect(again.body.consumedByTry).toBe(2);

    // A user cleared the succeeded task: try 3 trains again.
    const cleared = await submit('tries/consume', 3);
    expect(cleared.status).toBe(201);
    expect(cleared.body.id).not.toBe(first.body.id);
    const listed = await svc.admin(svc.request.get('/api/v1/runs?idempotencyKey=tries/consume'));
    expect(listed.body.items).toHaveLength(2);
  });

  it('a cancel records the try that asked for it; a run being cancelled is replaced by the next try', async () => {
    const first = await submit('tries/cancel', 1);
    expect(first.status).toBe(201);
    // Hold the run in `running` so the cancel leaves it `cancelling` until the backend confirms.
    await svc.wired.stores.runs.transition(first.body.id, Transitions.claimed, null);
    await svc.wired.stores.runs.transition(first.body.id, Transitions.started, null);
    const cancel = await svc.admin(svc.request.post(`/api/v1/runs/${first.body.id}/cancel`)).send({ reason: 'Airflow task was killed', tryNumber: 1 });
    expect(cancel.status).toBe(202);
    expect(cancel.body).toMatchObject({ state: 'cancelling', cancelRequestedByTry: 1 });

    const next = await submit('tries/cancel', 2);
    expect(next.status).toBe(201);
    expect(next.body.id).not.toBe(first.body.id);
    expect(next.body.cancelRequestedByTry).toBeNull();
  });

  it('rerunIfFailed works when the first request under the key did not carry it', async () => {
    const first = await svc.admin(svc.request.post('/api/v1/runs')).set('Idempotency-Key', 'tries/late-rerun').send({ workflow: 'grocery-reorder' });
    expect(first.status).toBe(201);
    await svc.admin(svc.request.post(`/api/v1/runs/${first.body.id}/cancel`)).send({});
    const rerun = await svc.admin(svc.request.post('/api/v1/runs')).set('Idempotency-Key', 'tries/late-rerun').send({ workflow: 'grocery-reorder', rerunIfFailed: true });
    expect(rerun.status).toBe(201);
    expect(rerun.body.id).not.toBe(first.body.id);
    // Another body is still another request.
    const other = await svc.admin(svc.request.post('/api/v1/runs')).set('Idempotency-Key', 'tries/late-rerun').send({ workflow: 'grocery-reorder', rerunIfFailed: true, overrides: { timeoutSeconds: 5 } });
    expect(other.status).toBe(409);
  });

  it('a user cancel (no try number) leaves cancelRequestedByTry empty', async () => {
    const first = await submit('tries/user-cancel', 1);
    const cancel = await svc.admin(svc.request.post(`/api/v1/runs/${first.body.id}/cancel`)).send({ reason: 'from the UI' });
    expect(cancel.body).toMatchObject({ state: 'cancelled', cancelRequestedByTry: null });
  });

  it('consume and cancel refuse bad input and unknown runs, naming the field', async () => {
    const first = await submit('tries/bad', 1);
    const badTry = await svc.admin(svc.request.post(`/api/v1/runs/${first.body.id}/consume`)).send({ tryNumber: 'two' });
    expect(badTry.status).toBe(400);
    expect(badTry.body.error.field).toBe('tryNumber');
    const unknownField = await svc.admin(svc.request.post(`/api/v1/runs/${first.body.id}/consume`)).send({ try: 2 });
    expect(unknownField.status).toBe(400);
    const missing = await svc.admin(svc.request.post('/api/v1/runs/nosuchrun/consume')).send({});
    expect(missing.status).toBe(404);
    const viewer = await svc.tokenFor('viewer');
    const forbidden = await svc.request.post(`/api/v1/runs/${first.body.id}/consume`).set('Authorization', `Bearer ${viewer}`).send({});
    expect(forbidden.status).toBe(403);
    const run = await svc.admin(svc.request.get(`/api/v1/runs/${first.body.id}`));
    expect(run.body.consumedAt).toBeNull();
  });
});

describe.each(supportedDatabases())('model version tags on %s', (dbId) => {
  const { svc, t } = useTestService(dbId);

  it('PATCH merges tags into a version, keeps the others, replaces the description', async () => {
    const created = await svc.admin(svc.request.post('/api/v1/registry/models/tagged/versions')).send({ artifactUri: 'file:///tmp/m', tags: { team: 'ml', stage: 'dev' } });
    expect(created.status).toBe(201);
    const patched = await svc.admin(svc.request.patch('/api/v1/registry/models/tagged/versions/1')).send({ tags: { stage: 'prod', owner: 'dag' }, description: 'retrained nightly' });
    expect(patched.status).toBe(200);
    expect(patched.body.tags).toEqual({ team: 'ml', stage: 'prod', owner: 'dag' });
    expect(patched.body.description).toBe('retrained nightly');
    const read = await svc.admin(svc.request.get('/api/v1/registry/models/tagged/versions/1'));
    expect(read.body.tags).toEqual({ team: 'ml', stage: 'prod', owner: 'dag' });

    const concurrent = await Promise.all(
      Array.from({ length: 8 }, (_, i) => svc.admin(svc.request.patch('/api/v1/registry/models/tagged/versions/1')).send({ tags: { [`k${i}`]: String(i) } })),
    );
    expect(concurrent.map((r) => r.status)).toEqual(Array(8).fill(200));
    const after = await svc.admin(svc.request.get('/api/v1/registry/models/tagged/versions/1'));
    expect(Object.keys(after.body.tags).sort()).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'owner', 'stage', 'team']);
  });

  it('PATCH refuses an empty change, bad tags and unknown versions', async () => {
    await svc.admin(svc.request.post('/api/v1/registry/models/tagged2/versions')).send({ artifactUri: 'file:///tmp/m' });
    const empty = await svc.admin(svc.request.patch('/api/v1/registry/models/tagged2/versions/1')).send({});
    expect(empty.status).toBe(400);
    const badTag = await svc.admin(svc.request.patch('/api/v1/registry/models/tagged2/versions/1')).send({ tags: { a: 1 } });
    expect(badTag.status).toBe(400);
    expect(badTag.body.error.field).toBe('tags.a');
    const unknown = await svc.admin(svc.request.patch('/api/v1/registry/models/tagged2/versions/9')).send({ tags: { a: 'b' } });
    expect(unknown.status).toBe(404);
    const viewer = await svc.tokenFor('viewer');
    const forbidden = await svc.request.patch('/api/v1/registry/models/tagged2/versions/1').set('Authorization', `Bearer ${viewer}`).send({ tags: { a: 'b' } });
    expect(forbidden.status).toBe(403);
    const read = await svc.admin(svc.request.get('/api/v1/registry/models/tagged2/versions/1'));
    expect(read.body.tags).toEqual({});
  });
});

describe.each(supportedDatabases())('log cursors of outside readers on %s', (dbId) => {
  const { svc, t } = useTestService(dbId);

  it('a reader records how far it copied; the cursor only moves forward, per reader', async () => {
    const run = await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder' });
    const path = (reader: string) => `/api/v1/runs/${run.body.id}/log-cursors/${encodeURIComponent(reader)}`;
    const reader = 'airflow/d/t/r1/-1/try-2';
    expect((await svc.admin(svc.request.get(path(reader)))).body).toEqual({ reader, cursor: 0 });
    expect((await svc.admin(svc.request.put(path(reader))).send({ cursor: 1200 })).body).toEqual({ reader, cursor: 1200 });
    // A late write from an older copy of the reader does not move it back.
    expect((await svc.admin(svc.request.put(path(reader))).send({ cursor: 300 })).body.cursor).toBe(1200);
    const concurrent = await Promise.all([5000, 4000, 4500, 100].map((cursor) => svc.admin(svc.request.put(path('other'))).send({ cursor })));
    expect(concurrent.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect((await svc.admin(svc.request.get(path('other')))).body.cursor).toBe(5000);
    expect((await svc.admin(svc.request.get(path(reader)))).body.cursor).toBe(1200);
  });

  it('refuses bad cursors, bad readers, unknown runs and viewers writing', async () => {
    const run = await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder' });
    const negative = await svc.admin(svc.request.put(`/api/v1/runs/${run.body.id}/log-cursors/r`)).send({ cursor: -1 });
    expect(negative.status).toBe(400);
    expect(negative.body.error.field).toBe('cursor');
    const spaced = await svc.admin(svc.request.put(`/api/v1/runs/${run.body.id}/log-cursors/${encodeURIComponent('a b')}`)).send({ cursor: 1 });
    expect(spaced.status).toBe(400);
    expect(spaced.body.error.field).toBe('reader');
    const unknown = await svc.admin(svc.request.put('/api/v1/runs/nosuchrun/log-cursors/r')).send({ cursor: 1 });
    expect(unknown.status).toBe(404);
    const viewer = await svc.tokenFor('viewer');
    const forbidden = await svc.request.put(`/api/v1/runs/${run.body.id}/log-cursors/r`).set('Authorization', `Bearer ${viewer}`).send({ cursor: 1 });
    expect(forbidden.status).toBe(403);
    const read = await svc.request.get(`/api/v1/runs/${run.body.id}/log-cursors/r`).set('Authorization', `Bearer ${viewer}`);
    expect(read.body.cursor).toBe(0);
  });
});
