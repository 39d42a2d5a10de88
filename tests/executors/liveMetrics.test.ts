import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { defineModel, makeCodeRoot, makeWorkRoot } from '../helpers/localRuns.ts';

/** One point a second through griffin_run, for up to two minutes (the test cancels it). */
const TICKER = `
import time
import griffin_run as g
for step in range(120):
    g.log_metric("tick", float(step), step=step)
    time.sleep(1)
`;

const code = makeCodeRoot({ 'ticker/train.py': TICKER, 'ticker/data.csv': 'x\n1\n' });
const work = makeWorkRoot();

/**
 * Live metrics: with the real local executor and the stdlib helper, a point logged once a second is
 * readable through the API within 3 s of being logged, while the run is still running; and a
 * cancel (SIGTERM) still delivers the points logged before it.
 */
describe('metrics arrive while the run trains', () => {
  let t: TestDatabase;
  let svc: TestService;
  beforeAll(async () => {
    t = await createTestDatabase('sqlite');
    svc = await startTestService(t.db, { dataDir: t.dataDir, startWorkers: true, loadExamples: false, env: { GRIFFIN_CODE_ROOT: code.root, GRIFFIN_LOCAL_WORK_DIR: work.dir } });
  });
  afterAll(async () => {
    await svc?.close();
    await t?.destroy();
    code.destroy();
    work.destroy();
  });

  it('a point logged once a second is readable within 3 s while the run is running', async () => {
    const api = async (method: string, route: string, body?: unknown) => {
      const res = await svc.admin((svc.request as any)[method.toLowerCase()](route)).send(body as object | undefined);
      return { status: res.status, body: res.body };
    };
    const spec = await defineModel(api, 'ticker', 'python train.py');
    const submitted = await api('POST', '/api/v1/runs', { spec, trigger: 'http' });
    expect(submitted.status).toBe(201);
    const id = submitted.body.id as string;

    // The lag of each point: when this reader first saw it, minus the time the process logged it.
    const lags = new Map<number, number>();
    const deadline = Date.now() + 60_000;
    while (lags.size < 4 && Date.now() < deadline) {
      const [points, run] = await Promise.all([api('GET', `/api/v1/runs/${id}/metrics?key=tick`), api('GET', `/api/v1/runs/${id}`)]);
      const seenAt = Date.now();
      expect(run.body.terminal, `run ended early: ${run.body.reason}`).toBe(false);
      if (run.body.state === 'running') {
        for (const p of points.body.items as Array<{ step: number; timestamp: string }>) {
          if (p.step >= 1 && !lags.has(p.step)) lags.set(p.step, seenAt - Date.parse(p.timestamp));
        }
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(lags.size).toBeGreaterThanOrEqual(4);
    // Step 0 is left out: it may have been logged before this reader first looked.
    for (const [step, lag] of lags) expect(lag, `step ${step}`).toBeLessThanOrEqual(3000);

    expect((await api('POST', `/api/v1/runs/${id}/cancel`, { reason: 'test done' })).status).toBe(202);
    const ended = await svc.waitForRun(id, 60_000);
    expect(ended.state).toBe('cancelled');
    const steps = ((await api('GET', `/api/v1/runs/${id}/metrics?key=tick`)).body.items as Array<{ step: number }>).map((p) => p.step);
    expect(steps).toEqual([...Array(steps.length).keys()]);
    expect(Math.max(...steps)).toBeGreaterThanOrEqual(Math.max(...lags.keys()));
  });
});
