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
