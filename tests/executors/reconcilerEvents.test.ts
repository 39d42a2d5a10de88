import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { defineModel, makeCodeRoot } from '../helpers/localRuns.ts';
import { Transitions } from '../../server/domain/index.ts';

const gone = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
};

/**
 * Between full sweeps the reconciler looks at a local run only when the executor reports that its
 * process exited. A training process that exits before its launch is recorded (a fast failure, a
 * no-op) reports a run that is still launching; that report must not be used up by a pass that
 * cannot judge the run, or the run stays "running" until the next full sweep. The real local
 * executor and the real stores; the interleaving (exit event, pass, then the launch recorded) is
 * the one a fast process produces, made deterministic by driving each step.
 */
describe.each(supportedDatabases())('reconciler and local exit events on %s', (dbId) => {
  let t: TestDatabase;
  let svc: TestService;
  let code: ReturnType<typeof makeCodeRoot>;
  beforeAll(async () => {
    code = makeCodeRoot({ 'quick/train.py': 'print("done")\n' });
    t = await createTestDatabase(dbId);
    // Full sweeps far apart: only the passes between them are under test.
    svc = await startTestService(t.db, { dataDir: t.dataDir, env: { GRIFFIN_CODE_ROOT: code.root, GRIFFIN_RECONCILE_FULL_SWEEP_MS: '3600000' }, loadExamples: false });
  });
  afterAll(async () => {
    await svc.close();
    await t.destroy();
    code.destroy();
  });

  it('a process that exits while its run is still launching is judged by the pass after the launch is recorded', async () => {
    const api = async (method: string, route: string, body?: unknown) => {
      const res = await svc.admin(svc.request[method.toLowerCase() as 'post'](route)).send(body as object);
      return { status: res.status, body: res.body };
    };
    const spec = await defineModel(api, 'quick', 'python3 train.py');
    const submitted = await api('POST', '/api/v1/runs', { spec });
    expect(submitted.status).toBe(201);
    const { wired } = svc;
    await wired.reconciler.sweepAll(); // the sweep is behind us; what follows are passes between sweeps

    const lease = new Date(Date.now() + 60_000).toISOString();
    const [claimed] = await wired.stores.runs.claimQueued(wired.config.instanceId, lease, 1, ['local']);
    expect(claimed.id).toBe(submitted.body.id);
    const ref = await wired.executors.get('local').launch({ run: claimed, env: wired.runs.environment(claimed) });
    const deadline = Date.now() + 30_000;
    while (!(fs.existsSync(String(ref.exitFile)) && gone(Number(ref.pid)))) {
      if (Date.now() > deadline) throw new Error('the training process did not exit');
      await new Promise((r) => setTimeout(r, 20));
    }

    // The exit was reported while the run is launching: this pass sees it launching.
    await wired.reconciler.pass();
    expect((await wired.stores.runs.get(claimed.id))!.state).toBe('launching');
    // The launch is recorded (as the launcher does once launch() returns) ...
    await wired.stores.runs.transition(claimed.id, Transitions.started, 'started on local', { backendRef: ref, leaseOwner: null, leaseExpiresAt: null, startedAt: new Date().toISOString() });
    // ... and the next pass between sweeps ends the run, without waiting for a full sweep.
    await wired.reconciler.pass();
    const run = await wired.stores.runs.get(claimed.id);
    expect(run!.state, run!.reason ?? '').toBe('succeeded');
  });
});
