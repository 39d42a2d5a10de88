import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, supportedDatabases, type DatabaseId, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { startServiceProcess, type ServiceProcess } from '../helpers/process.ts';
import { defineModel, makeCodeRoot, makeWorkRoot } from '../helpers/localRuns.ts';

type Api = (method: string, route: string, body?: unknown) => Promise<{ status: number; body: any }>;

const SLEEP = 'import time\nprint("working", flush=True)\ntime.sleep(1.5)\nprint("done", flush=True)\n';
const HOLD_REASON = 'waiting for queue solo: 1 of 1 running';

/**
 * Three short local runs in a queue of maxConcurrentRuns 1, submitted at once through `apis` in
 * turn: all succeed, their running intervals never overlap, and each run that waited said so.
 * The host would run four local runs at once, so only the queue keeps them apart.
 */
async function threeRunsOneAtATime(apis: Api[]): Promise<void> {
  const api = apis[0];
  const spec = await defineModel(api, 'sleeper', 'python sleep.py');
  expect((await api('PUT', '/api/v1/queues/solo', { maxConcurrentRuns: 1 })).status).toBe(201);
  const ids: string[] = [];
  for (let i = 0; i < 3; i += 1) {
    const res = await apis[i % apis.length]('POST', '/api/v1/runs', { spec: { ...spec, queue: 'solo' } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    ids.push(res.body.id);
  }
  const reasonsWhileQueued = new Map<string, Set<string>>(ids.map((id) => [id, new Set()]));
  const deadline = Date.now() + 120_000;
  let runs: any[] = [];
  for (;;) {
    runs = await Promise.all(ids.map(async (id) => (await api('GET', `/api/v1/runs/${id}`)).body));
    for (const run of runs) if (run.state === 'queued' && run.reason) reasonsWhileQueued.get(run.id)!.add(run.reason);
    const running = runs.filter((r) => ['launching', 'running', 'cancelling'].includes(r.state));
    expect(running.length, 'runs of queue solo in flight at once').toBeLessThanOrEqual(1);
    if (runs.every((r) => r.terminal)) break;
    if (Date.now() > deadline) throw new Error(`runs not finished: ${runs.map((r) => `${r.id} ${r.state} ${r.reason}`).join('; ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(runs.map((r) => r.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
  expect(runs.map((r) => r.queue)).toEqual(['solo', 'solo', 'solo']);
  const intervals = runs.map((r) => ({ id: r.id, start: Date.parse(r.startedAt), end: Date.parse(r.finishedAt) })).sort((a, b) => a.start - b.start);
  for (let i = 1; i < intervals.length; i += 1) {
    expect(intervals[i].start, `${intervals[i].id} started before ${intervals[i - 1].id} finished`).toBeGreaterThanOrEqual(intervals[i - 1].end);
  }
  // The first to run may never have waited; the two after it did, and said which queue held them.
  const waited = intervals.slice(1).map((i) => i.id);
  for (const id of waited) expect([...reasonsWhileQueued.get(id)!]).toContain(HOLD_REASON);
  // Launched, the run no longer says it waits.
  for (const run of runs) expect(run.reason ?? '').not.toMatch(/waiting for queue/);
}

/**
 * One service with workers on `dbId`, running local runs of a "sleeper" model whose script is
 * `script`, with `slots` local slots; closed with everything it made after the describe block.
 */
function useLocalService(dbId: DatabaseId, script: string, slots: number): () => Promise<Api> {
  let t: TestDatabase | undefined;
  let svc: TestService | undefined;
  const code = makeCodeRoot({ 'sleeper/sleep.py': script, 'sleeper/data.csv': 'x\n1\n' });
  const work = makeWorkRoot();
  afterAll(async () => {
    await svc?.close();
    await t?.destroy();
    code.destroy();
    work.destroy();
  });
  return async () => {
    t = await createTestDatabase(dbId);
    const started = await startTestService(t.db, { dataDir: t.dataDir, loadExamples: false, startWorkers: true, env: { GRIFFIN_CODE_ROOT: code.root, GRIFFIN_LOCAL_WORK_DIR: work.dir, GRIFFIN_MAX_LOCAL_RUNS: String(slots) } });
    svc = started;
    return async (method, route, body) => {
      const res = await started.admin((started.request as any)[method.toLowerCase()](route)).send(body as object);
      return { status: res.status, body: res.body };
    };
  };
}

describe.each(supportedDatabases())('a queue of one run at a time, one service on %s', (dbId) => {
  const start = useLocalService(dbId, SLEEP, 4);

  it('three runs never overlap, and the waiting ones name the queue in their reason', { timeout: 180_000 }, async () => {
    await threeRunsOneAtATime([await start()]);
  });
});

describe.runIf(supportedDatabases().includes('postgres'))('a queue of one run at a time, two replicas on one PostgreSQL database', () => {
  let t: TestDatabase;
  const replicas: ServiceProcess[] = [];
  const code = makeCodeRoot({ 'sleeper/sleep.py': SLEEP, 'sleeper/data.csv': 'x\n1\n' });
  const work = makeWorkRoot();
  afterEach(async () => {
    for (const r of replicas.splice(0)) await r.stop('SIGTERM');
    await t?.destroy();
    code.destroy();
    work.destroy();
  });

  it('three runs submitted through both replicas never overlap, and the waiting ones name the queue', { timeout: 240_000 }, async () => {
    t = await createTestDatabase('postgres');
    // Two processes of one host: one database, one data directory, each with its own dispatcher.
    const env = {
      GRIFFIN_DATABASE_URL: t.url!,
      GRIFFIN_DATA_DIR: t.dataDir,
      GRIFFIN_CODE_ROOT: code.root,
      GRIFFIN_LOCAL_WORK_DIR: work.dir,
      GRIFFIN_MAX_LOCAL_RUNS: '4',
      GRIFFIN_LOAD_EXAMPLES: 'false',
      GRIFFIN_SECRET: 'shared-by-both-replicas',
      GRIFFIN_DISPATCH_INTERVAL_MS: '50',
    };
    replicas.push(await startServiceProcess({ ...env, GRIFFIN_INSTANCE_ID: 'replica-a' }));
    replicas.push(await startServiceProcess({ ...env, GRIFFIN_INSTANCE_ID: 'replica-b' }));
    await threeRunsOneAtATime(replicas.map((r) => (method: string, route: string, body?: unknown) => r.api(method, route, body)));
    // Each run was claimed once, by one replica or the other.
    const claims = await t.db('run_events').where('reason', 'like', 'claimed by replica-%').select('run_id');
    expect(claims.map((c) => c.run_id).sort()).toEqual([...new Set(claims.map((c) => c.run_id))].sort());
    expect(claims).toHaveLength(3);
  });
});

describe('a host with no free local slot', () => {
  const start = useLocalService('sqlite', 'import time\ntime.sleep(8)\n', 2);

  it('a run its queue has room for says it waits for a local slot, not for its queue, and then runs', { timeout: 180_000 }, async () => {
    const api = await start();
    const spec = await defineModel(api, 'sleeper', 'python sleep.py');
    const watch = async (id: string, until: (run: any) => boolean) => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const run = (await api('GET', `/api/v1/runs/${id}`)).body;
        if (until(run)) return run;
        if (Date.now() > deadline) throw new Error(`run ${id} is ${run.state} (${run.reason})`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    // Two slots. A queue of one holds the second of its runs, and says so ...
    expect((await api('PUT', '/api/v1/queues/narrow', { maxConcurrentRuns: 1 })).status).toBe(201);
    const first = (await api('POST', '/api/v1/runs', { spec: { ...spec, queue: 'narrow' } })).body;
    await watch(first.id, (run) => run.state === 'running');
    const held = (await api('POST', '/api/v1/runs', { spec: { ...spec, queue: 'narrow' } })).body;
    await watch(held.id, (run) => run.reason === 'waiting for queue narrow: 1 of 1 running');
    // ... a run of another queue takes the host's other slot, then the queue gets room: what holds
    // the run now is the host, and its reason says that instead of blaming the queue.
    const other = (await api('POST', '/api/v1/runs', { spec })).body;
    await watch(other.id, (run) => run.state === 'running');
    expect((await api('PUT', '/api/v1/queues/narrow', { maxConcurrentRuns: 5 })).status).toBe(200);
    const waiting = await watch(held.id, (run) => run.state !== 'queued' || /^waiting for a free local slot/.test(run.reason ?? ''));
    expect(waiting.state).toBe('queued');
    expect(waiting.reason).toBe('waiting for a free local slot: all 2 on this host are in use (GRIFFIN_MAX_LOCAL_RUNS)');
    const done = await watch(held.id, (run) => run.terminal);
    expect(done.state).toBe('succeeded');
  });
});
