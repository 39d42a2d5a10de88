import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { supportedDatabases } from '../helpers/databases.ts';
import { ADMIN_TOKEN, useTestService } from '../helpers/service.ts';
import fs from 'node:fs';
import path from 'node:path';

describe.each(supportedDatabases())('run submission on %s', (dbId) => {
  const { svc, t } = useTestService(dbId);

  it('a follower of an ended run gets its whole log byte for byte, however long, and the stream ends', async () => {
    const run = (await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder' })).body;
    await svc.admin(svc.request.post(`/api/v1/runs/${run.id}/cancel`)).send({});
    // Longer than a follower reads at once, with multi-byte characters across every read's edge.
    const text = Array.from({ length: 6000 }, (_, i) => `step ${i} ✓ précision ${'é'.repeat(i % 97)}\n`).join('') + 'last line without a newline ✓';
    const logFile = path.join(t.dataDir, 'runs', run.id, 'output.log');
    fs.mkdirSync(path.dirname(logFile), { recursive: true });
    fs.writeFileSync(logFile, text);
    const followed = await fetch(`${svc.baseUrl}/api/v1/runs/${run.id}/logs?follow=true`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(followed.status).toBe(200);
    expect(Buffer.from(await followed.arrayBuffer()).equals(Buffer.from(text, 'utf8'))).toBe(true);
    const fromCursor = await fetch(`${svc.baseUrl}/api/v1/runs/${run.id}/logs?follow=true&cursor=100000`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(Buffer.from(await fromCursor.arrayBuffer()).equals(Buffer.from(text, 'utf8').subarray(100000))).toBe(true);
  });

  it('201 with id, state, url; the same Idempotency-Key and body returns the same run (200); another body is 409', async () => {
    const first = await svc.admin(svc.request.post('/api/v1/runs')).set('Idempotency-Key', 'same-1').send({ workflow: 'grocery-reorder' });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ state: 'queued', terminal: false, workflow: { name: 'grocery-reorder', version: 1 }, trigger: 'http' });
    expect(first.body.url).toBe(`${svc.baseUrl}/runs/${first.body.id}`);
    const again = await svc.admin(svc.request.post('/api/v1/runs')).set('Idempotency-Key', 'same-1').send({ workflow: 'grocery-reorder' });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    const other = await svc.admin(svc.request.post('/api/v1/runs')).set('Idempotency-Key', 'same-1').send({ workflow: 'grocery-reorder', overrides: { timeoutSeconds: 5 } });
    expect(other.status).toBe(409);
    expect(other.body.error).toMatchObject({ code: 'conflict', field: 'Idempotency-Key' });
  });

  it('a metric batch sent again under its batchId is stored once; a bad batchId is a 400 naming it', async () => {
    const run = (await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder' })).body;
    const batch = { batchId: 'rep-1', metrics: [{ key: 'loss', value: 0.5, step: 1 }, { key: 'loss', value: 0.4, step: 2 }] };
    const first = await svc.admin(svc.request.post(`/api/v1/runs/${run.id}/metrics`)).send(batch);
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ accepted: 2, duplicate: false });
    const again = await svc.admin(svc.request.post(`/api/v1/runs/${run.id}/metrics`)).send(batch);
    expect(again.status).toBe(201);
    expect(again.body).toEqual({ accepted: 2, duplicate: true });
    const points = (await svc.admin(svc.request.get(`/api/v1/runs/${run.id}/metrics`))).body.items;
    expect(points.map((p: { step: number }) => p.step)).toEqual([1, 2]);
    const bad = await svc.admin(svc.request.post(`/api/v1/runs/${run.id}/metrics`)).send({ ...batch, batchId: 'has spaces' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe('batchId');
    await svc.admin(svc.request.post(`/api/v1/runs/${run.id}/cancel`)).send({});
    // An ended run takes no more points, even under a new batch id; a run that never was is a 404.
    const late = await svc.admin(svc.request.post(`/api/v1/runs/${run.id}/metrics`)).send({ batchId: 'rep-2', metrics: [{ key: 'loss', value: 0.1, step: 3 }] });
    expect(late.status).toBe(409);
    expect(late.body.error).toMatchObject({ code: 'conflict', field: 'id' });
    expect(late.body.error.message).toMatch(/has ended \(cancelled\)/);
    expect((await svc.admin(svc.request.get(`/api/v1/runs/${run.id}/metrics`))).body.items).toHaveLength(2);
    const nowhere = await svc.admin(svc.request.post('/api/v1/runs/trunnowhere00/metrics')).send({ metrics: [{ key: 'loss', value: 0.1, step: 1 }] });
    expect(nowhere.status).toBe(404);
    expect(nowhere.body.error.field).toBe('id');
  });

  it('an Airflow retry (same body, higher try number) re-attaches to the run instead of conflicting', async () => {
    const body = (tryNumber: number) => ({ workflow: 'grocery-reorder', trigger: 'airflow', airflow: { dagId: 'd', dagRunId: 'r1', taskId: 't', tryNumber } });
    const first = await svc.admin(svc.request.post('/api/v1/runs')).set('Idempotency-Key', 'airflow/d/t/r1/-1').send(body(1));
    const retry = await svc.admin(svc.request.post('/api/v1/runs')).set('Idempotency-Key', 'airflow/d/t/r1/-1').send(body(2));
    expect(first.status).toBe(201);
    expect(retry.status).toBe(200);
    expect(retry.body.id).toBe(first.body.id);
  });

  it('50 concurrent POSTs with one Idempotency-Key leave exactly one run', async () => {
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => svc.admin(svc.request.post('/api/v1/runs')).set('Idempotency-Key', 'burst-key').send({ workflow: 'grocery-reorder' })),
    );
    expect(responses.map((r) => r.status).filter((s) => s !== 200 && s !== 201)).toEqual([]);
    expect(responses.filter((r) => r.status === 201)).toHaveLength(1);
    expect(new Set(responses.map((r) => r.body.id)).size).toBe(1);
    const listed = await svc.admin(svc.request.get('/api/v1/runs?idempotencyKey=burst-key'));
    expect(listed.body.items).toHaveLength(1);
  });

  it('rerunIfFailed starts a new run under the same key only after a failure', async () => {
    const body = { workflow: 'grocery-reorder', rerunIfFailed: true };
    const first = await svc.admin(svc.request.post('/api/v1/runs')).set('Idempotency-Key', 'rerun-1').send(body);
    const same = await svc.admin(svc.request.post('/api/v1/runs')).set('Idempotency-Key', 'rerun-1').send(body);
    expect(same.body.id).toBe(first.body.id);
    await svc.admin(svc.request.post(`/api/v1/runs/${first.body.id}/cancel`)).send({ reason: 'test' });
    const after = await svc.admin(svc.request.post('/api/v1/runs')).set('Idempotency-Key', 'rerun-1').send(body);
    expect(after.status).toBe(201);
    expect(after.body.id).not.toBe(first.body.id);
  });

  it('bad input gets a 4xx naming the problem and stores nothing', async () => {
    const before = (await svc.admin(svc.request.get('/api/v1/runs?limit=500'))).body.items.length;
    const cases: Array<[unknown, number, string | undefined]> = [
      [{ workflow: 'no-such-workflow' }, 404, 'workflow'],
      [{ workflow: 'grocery-reorder', overrides: { timeoutSeconds: 'soon' } }, 400, 'overrides.timeoutSeconds'],
      [{ workflow: 'grocery-reorder', overrides: { hyperparameters: { learning_rate: -1 } } }, 400, 'overrides.hyperparameters.learning_rate'],
      [{ workflow: 'grocery-reorder', overrides: { datasetVersion: 99 } }, 404, 'overrides.datasetVersion'],
      [{ workflow: 'grocery-reorder', overrides: { backend: 'ray' } }, 422, 'overrides.backend'],
      [{ workflow: 'grocery-reorder', surprise: true }, 400, undefined],
      [{}, 400, 'workflow'],
      [{ workflow: 'Bad Name!' }, 400, 'workflow'],
    ];
    for (const [body, status, field] of cases) {
      const res = await svc.admin(svc.request.post('/api/v1/runs')).send(body as object);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.body.error.message.length).toBeGreaterThan(5);
      if (field) expect(res.body.error.field, JSON.stringify(body)).toBe(field);
    }
    const malformed = await svc.admin(svc.request.post('/api/v1/runs')).set('Content-Type', 'application/json').send('{"workflow": ');
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.message).toMatch(/not valid JSON/);
    const huge = await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder', overrides: { hyperparameters: { blob: 'x'.repeat(2 * 1024 * 1024) } } });
    expect(huge.status).toBe(413);
    expect((await svc.admin(svc.request.get('/api/v1/runs?limit=500'))).body.items.length).toBe(before);
  });

  it('dry run returns what the backend would run and creates nothing', async () => {
    const before = (await svc.admin(svc.request.get('/api/v1/runs?limit=500'))).body.items.length;
    const res = await svc.admin(svc.request.post('/api/v1/runs?dryRun=true')).send({ workflow: 'grocery-reorder' });
    expect(res.status).toBe(200);
    expect(res.body.backend).toBe('local');
    expect(res.body.request.command.join(' ')).toContain('train.py');
    expect(res.body.request.env.GRIFFIN_RUN_TOKEN).toBe('[redacted]');
    expect((await svc.admin(svc.request.get('/api/v1/runs?limit=500'))).body.items.length).toBe(before);
  });

  it('cancel of a queued run is immediate, and a second cancel of an ended run is a 409', async () => {
    const run = await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder' });
    const cancelled = await svc.admin(svc.request.post(`/api/v1/runs/${run.body.id}/cancel`)).send({});
    expect(cancelled.status).toBe(202);
    expect(cancelled.body.state).toBe('cancelled');
    const again = await svc.admin(svc.request.post(`/api/v1/runs/${run.body.id}/cancel`)).send({});
    expect(again.status).toBe(409);
    expect((await svc.admin(svc.request.get('/api/v1/runs/nosuchrun000'))).status).toBe(404);
  });

  it('lists and filters runs by state, workflow and DAG', async () => {
    await svc.admin(svc.request.post('/api/v1/runs')).send({
      workflow: 'grocery-reorder',
      trigger: 'airflow',
      airflow: { dagId: 'nightly', dagRunId: 'manual__1', taskId: 'train', tryNumber: 1 },
    });
    const byDag = await svc.admin(svc.request.get('/api/v1/runs?dagId=nightly'));
    expect(byDag.body.items).toHaveLength(1);
    expect(byDag.body.items[0]).toMatchObject({ trigger: 'airflow', airflow: { dagId: 'nightly', taskId: 'train', mapIndex: -1 } });
    const cancelled = await svc.admin(svc.request.get('/api/v1/runs?state=cancelled'));
    expect(cancelled.body.items.every((r: { state: string }) => r.state === 'cancelled')).toBe(true);
    expect((await svc.admin(svc.request.get('/api/v1/runs?state=bogus'))).status).toBe(400);
  });

  it('include=latestMetrics gives each listed run the last value of each metric, as the OpenAPI document describes', async () => {
    const submit = async () => (await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder', overrides: { hyperparameters: { learning_rate: 0.1 } } })).body;
    const [a, b, quiet] = [await submit(), await submit(), await submit()];
    const post = (id: string, metrics: unknown[]) => svc.admin(svc.request.post(`/api/v1/runs/${id}/metrics`)).send({ metrics });
    // Step 3 written before step 2: "last" is the highest step, not the latest write.
    expect((await post(a.id, [{ key: 'val_loss', value: 0.3, step: 3 }, { key: 'val_loss', value: 0.5, step: 2 }, { key: 'auc', value: 0.81, step: 3 }])).status).toBe(201);
    expect((await post(b.id, [{ key: 'val_loss', value: 0.7, step: 1 }, { key: 'val_loss', value: 0.6, step: 1 }])).status).toBe(201);

    const viewer = await svc.tokenFor('viewer');
    const listed = await svc.request.get(`/api/v1/runs?workflow=grocery-reorder&include=latestMetrics&limit=500`).set('Authorization', `Bearer ${viewer}`);
    expect(listed.status).toBe(200);
    const byId = new Map(listed.body.items.map((r: { id: string }) => [r.id, r]));
    expect((byId.get(a.id) as any).latestMetrics).toMatchObject({ val_loss: { value: 0.3, step: 3 }, auc: { value: 0.81, step: 3 } });
    // Two points at one step: the one written last.
    expect((byId.get(b.id) as any).latestMetrics).toMatchObject({ val_loss: { value: 0.6, step: 1 } });
    expect(Object.keys((byId.get(b.id) as any).latestMetrics)).toEqual(['val_loss']);
    expect((byId.get(quiet.id) as any).latestMetrics).toEqual({});
    expect((byId.get(a.id) as any).spec.hyperparameters.learning_rate).toBe(0.1);

    const doc = (await svc.admin(svc.request.get('/api/v1/openapi.json'))).body;
    const schema = doc.paths['/api/v1/runs'].get.responses['200'].content['application/json'].schema;
    expect(schema.properties.items.items.properties.latestMetrics).toBeDefined();
    const validate = new Ajv2020({ strict: false, validateFormats: false }).compile(schema);
    expect(validate(listed.body), JSON.stringify(validate.errors)).toBe(true);

    // Without include the list stays as it was: no metric reads.
    const plain = await svc.admin(svc.request.get('/api/v1/runs?workflow=grocery-reorder'));
    expect(plain.body.items.every((r: object) => !('latestMetrics' in r))).toBe(true);
    const bad = await svc.admin(svc.request.get('/api/v1/runs?include=metrics'));
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ field: 'include' });
    expect(bad.body.error.message).toContain('latestMetrics');
    expect((await svc.request.get('/api/v1/runs?include=latestMetrics')).status).toBe(401);
    for (const run of [a, b, quiet]) await svc.admin(svc.request.post(`/api/v1/runs/${run.id}/cancel`)).send({});
  });
});
