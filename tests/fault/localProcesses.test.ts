import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { startServiceProcess } from '../helpers/process.ts';
import { defineModel, groupPids, makeCodeRoot, makeWorkRoot } from '../helpers/localRuns.ts';
import { databaseEnv, useProcessSuite } from '../helpers/faults.ts';

/**
 * Process truth for the local executor: a run is over only when its process group is gone, and
 * GRIFFIN_MAX_LOCAL_RUNS holds for the host, whatever dies and however many replicas share it.
 */
const STUBBORN = `
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *a: print("ignoring SIGTERM", flush=True))
print("ready", flush=True)
while True:
    time.sleep(0.05)
`;
const SLEEPER = `
import sys, time
print("ready", flush=True)
time.sleep(float(sys.argv[1]))
`;
const GRACE_SECONDS = 2;

const code = makeCodeRoot({
  'stubborn/train.py': STUBBORN,
  'stubborn/data.csv': 'x\n1\n',
  'sleeper/train.py': SLEEPER,
  'sleeper/data.csv': 'x\n1\n',
});
const work = makeWorkRoot();
afterAll(() => {
  code.destroy();
  work.destroy();
});

describe('local process groups', () => {
  let t: TestDatabase;
  let svc: TestService;
  let api: (method: string, route: string, body?: unknown) => Promise<{ status: number; body: any }>;
  const specs: Record<string, Record<string, unknown>> = {};

  beforeAll(async () => {
    t = await createTestDatabase('sqlite');
    svc = await startTestService(t.db, {
      dataDir: t.dataDir,
      startWorkers: true,
      loadExamples: false,
      env: { GRIFFIN_CODE_ROOT: code.root, GRIFFIN_LOCAL_WORK_DIR: work.dir, GRIFFIN_KILL_GRACE_SECONDS: String(GRACE_SECONDS) },
    });
    api = async (method, route, body) => {
      const res = await svc.admin((svc.request as any)[method.toLowerCase()](route)).send(body as object | undefined);
      return { status: res.status, body: res.body };
    };
    specs.stubborn = await defineModel(api, 'stubborn', 'python train.py');
    specs.sleeper = await defineModel(api, 'sleeper', 'python train.py 60');
  });
  afterAll(async () => {
    await svc?.close();
    await t?.destroy();
  });

  /** Submits, waits until the training process printed "ready", and answers the run with its process group's members. */
  const startReady = async (spec: Record<string, unknown>) => {
    const { body } = await api('POST', '/api/v1/runs', { spec });
    for (;;) {
      const run = (await api('GET', `/api/v1/runs/${body.id}`)).body;
      const log = (await api('GET', `/api/v1/runs/${body.id}/logs`)).body.text as string;
      if (run.state === 'running' && log.includes('ready')) return { run, pgid: run.backendRef.pid as number, members: groupPids(run.backendRef.pid) };
      if (run.terminal) throw new Error(`run ${body.id} ended: ${run.reason}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  /** Polls the run until it is terminal; records whether its group still had members when it first looked terminal. */
  const watchToEnd = async (id: string, pgid: number) => {
    const seen: string[] = [];
    let aliveWhileCancelling = 0;
    for (;;) {
      const run = (await api('GET', `/api/v1/runs/${id}`)).body;
      if (seen.at(-1) !== run.state) seen.push(run.state);
      const alive = groupPids(pgid);
      if (run.terminal) return { run, seen, survivorsAtEnd: alive, aliveWhileCancelling };
      if (run.state === 'cancelling' && alive.length) aliveWhileCancelling += 1;
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it('cancel of a process that traps SIGTERM: the group is killed after the grace period, and only then is the run cancelled', { timeout: 60_000 }, async () => {
    const { run, pgid, members } = await startReady(specs.stubborn);
    expect(members.length).toBeGreaterThanOrEqual(2); // the wrapper shell and python
    expect((await api('POST', `/api/v1/runs/${run.id}/cancel`, { reason: 'not needed' })).status).toBe(202);
    const end = await watchToEnd(run.id, pgid);
    expect(end.run.state).toBe('cancelled');
    expect(end.survivorsAtEnd).toEqual([]);
    // It really ignored SIGTERM, and the run stayed cancelling while it lived on.
    expect((await api('GET', `/api/v1/runs/${run.id}/logs`)).body.text).toContain('ignoring SIGTERM');
    expect(end.aliveWhileCancelling).toBeGreaterThan(0);
    for (const pid of members) expect(groupPids(pgid)).not.toContain(pid);
  });

  it('the wrapper shell killed with SIGKILL: its process group is stopped and the run fails with a reason', { timeout: 60_000 }, async () => {
    const { run, pgid, members } = await startReady(specs.stubborn);
    const python = members.filter((pid) => pid !== pgid);
    expect(python.length).toBeGreaterThan(0);
    process.kill(pgid, 'SIGKILL'); // the wrapper only: the group leader
    const end = await watchToEnd(run.id, pgid);
    expect(end.run.state).toBe('failed');
    expect(end.run.reason).toMatch(/wrapper shell .* died .* process group was stopped/);
    expect(end.survivorsAtEnd).toEqual([]);
  });
});

describe.each(supportedDatabases())('GRIFFIN_MAX_LOCAL_RUNS across two service processes on one data dir (%s)', (dbId) => {
  const { started: services, database } = useProcessSuite();

  it('never more than 2 training processes at once on the host, also when a wrapper shell dies', { timeout: 120_000 }, async () => {
    const t = await database(dbId);
    const env = {
      ...databaseEnv(t),
      GRIFFIN_CODE_ROOT: code.root,
      GRIFFIN_LOCAL_WORK_DIR: work.dir,
      GRIFFIN_LOAD_EXAMPLES: 'false',
      GRIFFIN_MAX_LOCAL_RUNS: '2',
      GRIFFIN_DISPATCH_INTERVAL_MS: '50',
      GRIFFIN_LOG_LEVEL: 'warn',
    };
    services.push(await startServiceProcess(env));
    services.push(await startServiceProcess(env));
    const [a, b] = services;
    const spec = await defineModel(a.api.bind(a), 'sleeper', 'python train.py 3');
    const marker = `sleeper-${dbId}-${Date.now()}`;
    const ids: string[] = [];
    for (let i = 0; i < 6; i += 1) {
      const via = i % 2 ? a : b;
      // Both processes write to one SQLite file: each submission must wait its turn, never fail.
      const posted = await via.api('POST', '/api/v1/runs', { spec: { ...spec, hyperparameters: { marker } } });
      expect(posted.status, JSON.stringify(posted.body)).toBe(201);
      ids.push(posted.body.id);
    }
    let most = 0;
    let killedWrapperOf: string | undefined;
    for (;;) {
      // Training processes of this test: python running train.py with this test's runs' work dirs.
      const ps = execFileSync('ps', ['-eo', 'pid,args']).toString().split('\n');
      const training = ps.filter((l) => / train\.py 3$/.test(l) && !l.includes('/bin/sh'));
      most = Math.max(most, training.length);
      const runs = await Promise.all(ids.map(async (id) => (await a.api('GET', `/api/v1/runs/${id}`)).body));
      // Once, kill a wrapper shell from outside: its slot must not free up while its python lives.
      const victim = runs.find((r) => r.state === 'running' && r.backendRef?.pid && groupPids(r.backendRef.pid).length >= 2);
      if (!killedWrapperOf && victim) {
        killedWrapperOf = victim.id;
        process.kill(victim.backendRef.pid, 'SIGKILL');
      }
      if (runs.every((r) => r.terminal)) {
        expect(killedWrapperOf).toBeDefined();
        for (const r of runs) expect(r.state, r.id).toBe(r.id === killedWrapperOf ? 'failed' : 'succeeded');
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(most).toBe(2);
  });
});
