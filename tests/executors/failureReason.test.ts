import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

/** A failed run's reason says why, from its log, for the real local executor and real Python. */
describe.each(supportedDatabases())('the reason of a failed run on %s', (dbId) => {
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

  const runWith = async (entrypoint: string) => {
    const spec = { model: 'logistic-regression', dataset: 'grocery-reorder', runtime: 'python3', entrypoint };
    const res = await svc.admin(svc.request.post('/api/v1/runs')).send({ spec });
    expect(res.status).toBe(201);
    return svc.waitForRun(res.body.id);
  };

  it("carries the exception line of a Python traceback, and the UI's run view shows it", async () => {
    const run = await runWith(`python3 -c "import sys; print('loading'); raise ValueError('x-123: the label column is missing')"`);
    expect(run.state).toBe('failed');
    expect(run.reason).toMatch(/exited with code 1/);
    expect(run.reason).toContain('ValueError: x-123: the label column is missing');
  });

  it('carries the last line written when there is no traceback', async () => {
    const run = await runWith(`python3 -c "import sys; print('step 1'); print('error: cannot open data.csv', file=sys.stderr); sys.exit(3)"`);
    expect(run.state).toBe('failed');
    expect(run.reason).toMatch(/exited with code 3/);
    expect(run.reason).toContain('error: cannot open data.csv');
  });
});
