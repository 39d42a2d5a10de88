import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../server/config.ts';
import { createLogger } from '../../server/logger.ts';
import { seedCatalog } from '../../server/services/seed.ts';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, useTestService, type TestService } from '../helpers/service.ts';

const quiet = createLogger('silent');

describe.each(supportedDatabases())('hyperparameter keys the model does not declare on %s', (dbId) => {
  const { svc, t } = useTestService(dbId);

  it('a typo in an override is a 422 naming the key and suggesting the declared one; nothing is stored', async () => {
    const before = (await svc.admin(svc.request.get('/api/v1/runs?limit=500'))).body.items.length;
    const res = await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder', overrides: { hyperparameters: { epoch: 3 } } });
    expect(res.status).toBe(422);
    expect(res.body.error.field).toBe('overrides.hyperparameters.epoch');
    expect(res.body.error.message).toContain('did you mean "epochs"?');
    const far = await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder', overrides: { hyperparameters: { optimizer: 'adam' } } });
    expect(far.status).toBe(422);
    expect(far.body.error.message).not.toContain('did you mean');
    expect(far.body.error.message).toContain('learning_rate');
    expect((await svc.admin(svc.request.get('/api/v1/runs?limit=500'))).body.items.length).toBe(before);
    const ok = await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder', overrides: { hyperparameters: { epochs: 3 } } });
    expect(ok.status).toBe(201);
    expect(ok.body.spec.hyperparameters.epochs).toBe(3);
  });

  it('the same holds for a workflow, an inline spec and a schedule', async () => {
    const workflow = await svc.admin(svc.request.post('/api/v1/workflows')).send({ name: 'typo-wf', model: 'logistic-regression', dataset: 'grocery-reorder', runtime: 'python3', hyperparameters: { learning_rat: 0.1 } });
    expect(workflow.status).toBe(422);
    expect(workflow.body.error.field).toBe('hyperparameters.learning_rat');
    expect(workflow.body.error.message).toContain('"learning_rate"');
    const inline = await svc.admin(svc.request.post('/api/v1/runs')).send({ spec: { model: 'logistic-regression', dataset: 'grocery-reorder', runtime: 'python3', hyperparameters: { batchsize: 4 } } });
    expect(inline.status).toBe(422);
    expect(inline.body.error.field).toBe('spec.hyperparameters.batchsize');
    expect(inline.body.error.message).toContain('"batch_size"');
    const schedule = await svc.admin(svc.request.post('/api/v1/schedules')).send({ name: 'typo-nightly', workflow: 'grocery-reorder', cron: '0 3 * * *', overrides: { hyperparameters: { epoch: 2 } } });
    expect(schedule.status).toBe(422);
    expect(schedule.body.error.field).toBe('overrides.hyperparameters.epoch');
  });

  it('a model without declared hyperparameters accepts any key, as before', async () => {
    const model = await svc.admin(svc.request.post('/api/v1/models')).send({ name: 'schemaless', framework: 'python-stdlib', codeUri: 'examples/grocery-reorder', entrypoint: 'python3 train.py' });
    expect(model.status).toBe(201);
    const run = await svc.admin(svc.request.post('/api/v1/runs')).send({ spec: { model: 'schemaless', dataset: 'grocery-reorder', runtime: 'python3', hyperparameters: { anything: 1 } } });
    expect(run.status).toBe(201);
  });
});

describe.each(supportedDatabases())('loading the examples again on %s', (dbId) => {
  let t: TestDatabase;
  let svc: TestService;
  let examplesDir: string;
  const exampleFile = () => path.join(examplesDir, 'grocery-reorder', 'griffin.json');
  const reload = () => seedCatalog(svc.wired.catalog, svc.wired.stores.catalog, { examplesDir, loadExamples: true }, quiet);
  const latestWorkflow = async () => (await svc.admin(svc.request.get('/api/v1/workflows/grocery-reorder'))).body;

  beforeAll(async () => {
    // A copy of the shipped example, so the test can change "the example file".
    examplesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'griffin-examples-'));
    fs.mkdirSync(path.join(examplesDir, 'grocery-reorder'));
    fs.copyFileSync(path.join(PROJECT_ROOT, 'examples', 'grocery-reorder', 'griffin.json'), exampleFile());
    t = await createTestDatabase(dbId);
    svc = await startTestService(t.db, { dataDir: t.dataDir, loadExamples: false });
    await reload();
  });
  afterAll(async () => {
    await svc.close();
    await t.destroy();
    fs.rmSync(examplesDir, { recursive: true, force: true });
  });

  it("a restart leaves a user's newer version of an example workflow latest", async () => {
    const first = await latestWorkflow();
    expect(first.version).toBe(1);
    const { name: _n, version: _v, createdAt: _c, ...spec } = first;
    const mine = await svc.admin(svc.request.post('/api/v1/workflows')).send({ ...spec, name: 'grocery-reorder', hyperparameters: { ...first.hyperparameters, epochs: 12 } });
    expect(mine.status).toBe(201);
    expect(mine.body.version).toBe(2);

    await reload(); // the next start
    await reload();
    const after = await latestWorkflow();
    expect(after.version).toBe(2);
    expect(after.hyperparameters.epochs).toBe(12);

    // Even when the example file itself changes, the user's version stays latest.
    const file = JSON.parse(fs.readFileSync(exampleFile(), 'utf8'));
    file.workflows[0].hyperparameters = { ...file.workflows[0].hyperparameters, epochs: 9 };
    fs.writeFileSync(exampleFile(), JSON.stringify(file));
    await reload();
    expect((await latestWorkflow()).version).toBe(2);
  });

  it('an example file that changed updates the definitions nobody edited since', async () => {
    const file = JSON.parse(fs.readFileSync(exampleFile(), 'utf8'));
    const model = file.models[0];
    const before = (await svc.admin(svc.request.get(`/api/v1/models/${model.name}`))).body.version;
    model.description = `${model.description} (revised)`;
    fs.writeFileSync(exampleFile(), JSON.stringify(file));
    await reload();
    const updated = (await svc.admin(svc.request.get(`/api/v1/models/${model.name}`))).body;
    expect(updated.version).toBe(before + 1);
    expect(updated.description).toContain('(revised)');
    await reload(); // unchanged since: no new version
    expect((await svc.admin(svc.request.get(`/api/v1/models/${model.name}`))).body.version).toBe(before + 1);
  });
});

describe.each(supportedDatabases())('a workflow version on a backend this server has not configured, on %s', (dbId) => {
  let t: TestDatabase;
  let svc: TestService;
  // A default server: local only (no GRIFFIN_RAY_ADDRESS, no GRIFFIN_KUBERNETES).
  beforeAll(async () => {
    t = await createTestDatabase(dbId);
    svc = await startTestService(t.db, { dataDir: t.dataDir });
  });
  afterAll(async () => {
    await svc.close();
    await t.destroy();
  });
  const spec = { model: 'logistic-regression', dataset: 'grocery-reorder', runtime: 'python3' };
  const versions = async (name: string) => (await svc.admin(svc.request.get(`/api/v1/workflows?name=${name}&limit=500`))).body.items.length;

  it('GET /backends says which backends are configured and what to set for the others, to any signed-in role', async () => {
    const viewer = await svc.tokenFor('viewer');
    const res = await svc.request.get('/api/v1/backends').set('Authorization', `Bearer ${viewer}`);
    expect(res.status).toBe(200);
    const byName = Object.fromEntries(res.body.items.map((b: { name: string }) => [b.name, b]));
    expect(byName.local).toEqual({ name: 'local', configured: true, hint: null });
    expect(byName.ray).toMatchObject({ configured: false, hint: expect.stringContaining('GRIFFIN_RAY_ADDRESS') });
    expect(byName.kubernetes).toMatchObject({ configured: false, hint: expect.stringContaining('GRIFFIN_KUBERNETES') });
    expect(byName.kuberay.configured).toBe(false);
    expect((await svc.request.get('/api/v1/backends')).status).toBe(401);
  });

  it('saving one is a 422 naming `backend` with the hint and the way to force it; nothing is stored', async () => {
    const res = await svc.admin(svc.request.post('/api/v1/workflows')).send({ ...spec, name: 'on-ray', backend: 'ray' });
    expect(res.status).toBe(422);
    expect(res.body.error.field).toBe('backend');
    expect(res.body.error.message).toContain('the ray backend is not configured on this server');
    expect(res.body.error.message).toContain('GRIFFIN_RAY_ADDRESS');
    expect(res.body.error.message).toContain('?force=true');
    expect(await versions('on-ray')).toBe(0);
    // A new version of an existing workflow is refused the same way, and the latest stays latest.
    const latest = (await svc.admin(svc.request.get('/api/v1/workflows/grocery-reorder'))).body.version;
    const moved = await svc.admin(svc.request.post('/api/v1/workflows')).send({ ...spec, name: 'grocery-reorder', backend: 'kubernetes' });
    expect(moved.status).toBe(422);
    expect((await svc.admin(svc.request.get('/api/v1/workflows/grocery-reorder'))).body.version).toBe(latest);
  });

  it('?force=true saves it with a warning in the answer; the version is latest and its runs are refused with the same hint', async () => {
    const res = await svc.admin(svc.request.post('/api/v1/workflows?force=true')).send({ ...spec, name: 'on-kubernetes', backend: 'kubernetes' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: 'on-kubernetes', version: 1, backend: 'kubernetes' });
    expect(res.body.warnings).toEqual([expect.stringContaining('the kubernetes backend is not configured on this server')]);
    // The warning belongs to the answer, not to the stored version.
    const stored = (await svc.admin(svc.request.get('/api/v1/workflows/on-kubernetes'))).body;
    expect(stored.version).toBe(1);
    expect(stored.warnings).toBeUndefined();
    const run = await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'on-kubernetes' });
    expect(run.status).toBe(422);
    expect(run.body.error.message).toContain('GRIFFIN_KUBERNETES');
  });

  it('a configured backend needs no force and carries no warning; a bad force value is a 400 naming it; a viewer may not save', async () => {
    const ok = await svc.admin(svc.request.post('/api/v1/workflows')).send({ ...spec, name: 'on-local', backend: 'local' });
    expect(ok.status).toBe(201);
    expect(ok.body.warnings).toBeUndefined();
    const bad = await svc.admin(svc.request.post('/api/v1/workflows?force=yes')).send({ ...spec, name: 'on-ray', backend: 'ray' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe('force');
    const viewer = await svc.tokenFor('viewer');
    const denied = await svc.request.post('/api/v1/workflows?force=true').set('Authorization', `Bearer ${viewer}`).send({ ...spec, name: 'on-ray', backend: 'ray' });
    expect(denied.status).toBe(403);
    expect(await versions('on-ray')).toBe(0);
  });

  it('the examples still load on a default server, the ray one included', async () => {
    const sweep = await svc.admin(svc.request.get('/api/v1/workflows/grocery-reorder-sweep'));
    expect(sweep.status).toBe(200);
    expect(sweep.body.backend).toBe('ray');
  });

  it('the OpenAPI document carries the force parameter and the backends route', async () => {
    const doc = (await svc.request.get('/api/v1/openapi.json')).body;
    const post = doc.paths['/api/v1/workflows'].post;
    expect(post.parameters).toContainEqual(expect.objectContaining({ name: 'force', in: 'query', required: false }));
    expect(post.summary).toContain('?force=true');
    expect(doc.paths['/api/v1/backends'].get['x-griffin-role']).toBe('viewer');
  });
});

describe('validation messages are plain sentences, not zod text', () => {
  let t: TestDatabase;
  let svc: TestService;
  beforeAll(async () => {
    t = await createTestDatabase('sqlite');
    svc = await startTestService(t.db, { dataDir: t.dataDir });
  });
  afterAll(async () => {
    await svc.close();
    await t.destroy();
  });
  const spec = { name: 'plain', model: 'logistic-regression', dataset: 'grocery-reorder', runtime: 'python3' };

  it.each([
    [{ ...spec, name: '' }, 'name', 'name: must not be empty'],
    [{ ...spec, timeoutSeconds: -5 }, 'timeoutSeconds', 'timeoutSeconds: must be greater than 0'],
    [{ ...spec, timeoutSeconds: 'soon' }, 'timeoutSeconds', 'timeoutSeconds: must be a number, not text'],
    [{ name: 'plain', model: 'logistic-regression', dataset: 'grocery-reorder' }, 'runtime', 'runtime: is required'],
    [{ ...spec, backend: 'mars' }, 'backend', 'backend: must be one of: "local", "ray", "kubernetes", "kuberay"'],
    [{ ...spec, epochs: 3 }, 'epochs', 'epochs: is not a field of this request (check its spelling)'],
    // A message the schema words itself is kept as it is.
    [{ ...spec, name: 'Not A Name' }, 'name', 'name: must be lowercase letters'],
  ])('%j is a 400 naming %s: "%s"', async (body, field, message) => {
    const res = await svc.admin(svc.request.post('/api/v1/workflows')).send(body);
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe(field);
    expect(res.body.error.message.startsWith(message)).toBe(true);
    expect(res.body.error.message).not.toMatch(/Too small|Too big|Invalid input|expected \w+, received|Unrecognized/);
  });

  it('a whole number field given a fraction says so, in an override too', async () => {
    const res = await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder', overrides: { timeoutSeconds: 1.5 } });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ field: 'overrides.timeoutSeconds', message: 'overrides.timeoutSeconds: must be a whole number' });
  });
});
