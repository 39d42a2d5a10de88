import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

/*
 * The response contract. Every test that starts the test service checks its real JSON success
 * responses against the OpenAPI document (tests/helpers/responseContract.ts); this file checks the
 * document documents every operation, that the check can fail, and walks the routes once.
 */

describe('the response contract', () => {
  let t: TestDatabase;
  let svc: TestService;
  let doc: { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }> }>> };
  beforeAll(async () => {
    t = await createTestDatabase('sqlite');
    svc = await startTestService(t.db, { dataDir: t.dataDir });
    doc = (await svc.admin(svc.request.get('/api/v1/openapi.json'))).body;
  });
  afterAll(async () => {
    await svc?.close();
    await t?.destroy();
  });

  it('documents the success body of every operation: a schema for JSON, bytes for files, nothing for 204', () => {
    const operations = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ at: `${method.toUpperCase()} ${path}`, op })));
    expect(operations.length).toBeGreaterThan(50);
    const undocumented = operations.filter(({ op }) =>
      Object.entries(op.responses)
        .filter(([status]) => status.startsWith('2') && status !== '204')
        .some(([, response]) => Object.values(response.content ?? {}).some((c) => !c.schema || Object.keys(c.schema).length === 0)),
    );
    expect(undocumented.map((o) => o.at)).toEqual([]);
    const runSchema = doc.paths['/api/v1/runs/{id}'].get.responses['200'].content!['application/json'].schema as { required: string[] };
    expect(runSchema.required).toEqual(expect.arrayContaining(['id', 'state', 'terminal', 'spec', 'url']));
  });

  it('a response that drifts from the document is caught, naming the field', async () => {
    const run = (await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder' })).body;
    expect(svc.contract.check('GET', '/api/v1/runs/{id}', 200, run)).toEqual([]);
    const { state: _state, ...missing } = run;
    expect(svc.contract.check('GET', '/api/v1/runs/{id}', 200, missing).join('\n')).toMatch(/must have required property 'state'/);
    expect(svc.contract.check('GET', '/api/v1/runs/{id}', 200, { ...run, leaseOwner: 'x' }).join('\n')).toMatch(/additional properties \(leaseOwner\)/);
    expect(svc.contract.check('GET', '/api/v1/runs/{id}', 200, { ...run, state: 'paused' }).join('\n')).toMatch(/\/state must be equal to one of the allowed values/);
    expect(svc.contract.check('GET', '/api/v1/nowhere', 200, {})).toEqual(['GET /api/v1/nowhere is not in the OpenAPI document']);
    await svc.admin(svc.request.post(`/api/v1/runs/${run.id}/cancel`)).send({});
  });

  it('what the service sends on a walk over the routes fits the document', async () => {
    const as = (r: ReturnType<typeof svc.request.get>) => svc.admin(r);
    const before = svc.contract.checked;
    const get = async (path: string) => {
      const res = await as(svc.request.get(`/api/v1${path}`));
      expect(res.status, path).toBe(200);
      return res.body;
    };
    for (const path of ['/runs', '/models', '/models/logistic-regression', '/models/logistic-regression/versions', '/datasets/grocery-reorder/versions/1', '/datasets', '/workflows', '/workflows/grocery-reorder', '/features', '/runtimes', '/registry/models', '/tokens', '/whoami', '/operators', '/schedules']) {
      await get(path);
    }
    const run = (await as(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder', overrides: { hyperparameters: { epochs: 1 } } })).body;
    expect((await as(svc.request.post('/api/v1/runs?dryRun=true')).send({ workflow: 'grocery-reorder' })).status).toBe(200);
    const done = await svc.waitForRun(run.id, 120_000);
    expect(done.state).toBe('succeeded');
    for (const path of [`/runs/${run.id}`, `/runs/${run.id}/metrics`, `/runs/${run.id}/artifacts`, `/runs/${run.id}/logs`, `/runs/${run.id}/log-cursors/reader-1`]) await get(path);
    await as(svc.request.put(`/api/v1/runs/${run.id}/log-cursors/reader-1`)).send({ cursor: 3 });
    const registered = (await as(svc.request.post('/api/v1/registry/models/contract-model/versions')).send({ runId: run.id, aliases: ['staging'] })).body;
    for (const path of ['/registry/models/contract-model', '/registry/models/contract-model/versions', `/registry/models/contract-model/versions/${registered.version}/lineage`, '/registry/models/contract-model/aliases/staging']) {
      await get(path);
    }
    const schedule = (await as(svc.request.post('/api/v1/schedules')).send({ name: 'contract-nightly', cron: '0 3 * * *', workflow: 'grocery-reorder' })).body;
    await get(`/schedules/${schedule.id}`);
    await as(svc.request.post(`/api/v1/schedules/${schedule.id}/pause`)).send();
    expect(svc.contract.checked - before).toBeGreaterThan(25);
    expect(svc.contract.violations).toEqual([]);
  }, 180_000);
});
