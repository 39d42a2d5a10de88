import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { startServiceProcess, type ServiceProcess } from '../helpers/process.ts';

/*
 * Cron schedules end to end: real timers, real claims in the database, real runs. Schedules fire
 * every second so that each test needs only a few seconds of wall time.
 */

type Api = (method: string, route: string, body?: unknown) => Promise<{ status: number; body: any }>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function allFirings(api: Api, schedule: string): Promise<any[]> {
  const out: any[] = [];
  let token: string | null = null;
  do {
    const res: { body: any } = await api('GET', `/api/v1/schedules/${schedule}/firings?limit=500${token ? `&pageToken=${token}` : ''}`);
    out.push(...res.body.items);
    token = res.body.nextPageToken;
  } while (token);
  return out.reverse(); // oldest first
}

async function runsOf(api: Api, scheduleId: string): Promise<any[]> {
  const res = await api('GET', '/api/v1/runs?trigger=schedule&limit=500');
  return res.body.items.filter((r: any) => r.schedule?.id === scheduleId);
}

/** Whole seconds, consecutive: one firing per tick, none lost in between. */
function expectConsecutiveSeconds(times: string[]): void {
  for (const time of times) expect(time).toMatch(/:\d\d\.000Z$/);
  for (let i = 1; i < times.length; i += 1) expect(Date.parse(times[i]) - Date.parse(times[i - 1]), `${times[i - 1]} -> ${times[i]}`).toBe(1000);
}

const inProcessApi =
  (svc: TestService): Api =>
  async (method, route, body) => {
    const req = svc.admin(svc.request[method.toLowerCase() as 'get' | 'post'](route));
    const res = body === undefined ? await req : await req.send(body as object);
    return { status: res.status, body: res.body };
  };

describe('cron schedules', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  /** The real app on SQLite with only the scheduler running: fired runs stay queued and cost nothing. */
  async function schedulerOnly(t: TestDatabase): Promise<TestService> {
    const svc = await startTestService(t.db, { dataDir: t.dataDir, env: { GRIFFIN_SCHEDULE_SYNC_MS: '200' } });
    svc.wired.scheduler.start();
    return svc;
  }

  it('a schedule firing every second creates one run per second, each linked to its firing', async () => {
    const t = await createTestDatabase('sqlite');
    cleanups.push(() => t.destroy());
    const svc = await schedulerOnly(t);
    cleanups.push(() => svc.close());
    const api = inProcessApi(svc);

    const s = (await api('POST', '/api/v1/schedules', { name: 'every-second', cron: '* * * * * *', workflow: 'grocery-reorder', overlapPolicy: 'allow' })).body;
    await waitUntil('four firings', async () => (await allFirings(api, s.id)).filter((f) => f.outcome === 'submitted').length >= 4);
    expect((await api('POST', `/api/v1/schedules/${s.id}/pause`)).body.enabled).toBe(false);
    await waitUntil('no firing in progress', async () => (await allFirings(api, s.id)).every((f) => f.outcome !== 'pending'));

    const firings = await allFirings(api, s.id);
    expect(firings.every((f) => f.outcome === 'submitted')).toBe(true);
    expectConsecutiveSeconds(firings.map((f) => f.scheduledAt));
    const runs = await runsOf(api, s.id);
    expect(runs).toHaveLength(firings.length);
    const runById = new Map(runs.map((r) => [r.id, r]));
    for (const firing of firings) {
      const run = runById.get(firing.runId);
      expect(run, firing.scheduledAt).toBeDefined();
      expect(run.trigger).toBe('schedule');
      expect(run.schedule).toMatchObject({ id: s.id, name: 'every-second', scheduledAt: firing.scheduledAt, firingId: firing.id });
      expect(run.idempotencyKey).toBe(`schedule:${s.id}:${firing.scheduledAt}`);
    }
  });

  it('two Griffin processes on one PostgreSQL database fire each tick exactly once', async () => {
    const t = await createTestDatabase('postgres');
    cleanups.push(() => t.destroy());
    const env = (name: string) => ({
      GRIFFIN_DATABASE_URL: t.url!,
      GRIFFIN_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), `griffin-replica-${name}-`)),
      GRIFFIN_SECRET: 'shared-secret-of-both-replicas-0123456789',
      GRIFFIN_INSTANCE_ID: `replica-${name}`,
      GRIFFIN_SCHEDULE_SYNC_MS: '200',
      GRIFFIN_MAX_LOCAL_RUNS: '20',
      GRIFFIN_LOG_LEVEL: 'warn',
    });
    // Seed the catalog and the admin token once, so the two replicas can start side by side.
    await (await startTestService(t.db, { dataDir: t.dataDir })).close();
    const started = await Promise.allSettled([startServiceProcess(env('a')), startServiceProcess(env('b'))]);
    for (const p of started) if (p.status === 'fulfilled') cleanups.push(() => p.value.stop('SIGKILL'));
    const [a, b]: ServiceProcess[] = started.map((p) => {
      if (p.status === 'rejected') throw p.reason;
      return p.value;
    });

    // Created through one replica, paused through the other: both follow the shared table.
    const s = (await a.api('POST', '/api/v1/schedules', { name: 'replicated', cron: '* * * * * *', workflow: 'grocery-reorder', overlapPolicy: 'allow', overrides: { hyperparameters: { epochs: 1 } } })).body;
    expect(s.id).toBeDefined();
    await waitUntil('five firings', async () => (await allFirings(b.api, s.id)).filter((f) => f.outcome === 'submitted').length >= 5);
    expect((await b.api('POST', `/api/v1/schedules/${s.id}/pause`)).body.enabled).toBe(false);
    const pausedAt = new Date().toISOString();
    await sleep(1200);

    const firings = await allFirings(a.api, s.id);
    expect(firings.every((f) => f.outcome === 'submitted')).toBe(true);
    expectConsecutiveSeconds(firings.map((f) => f.scheduledAt));
    expect(firings.filter((f) => f.scheduledAt > pausedAt)).toEqual([]);
    // Exactly one run per scheduled time, counted from the runs themselves.
    const perTick = new Map<string, number>();
    for (const run of await runsOf(a.api, s.id)) perTick.set(run.schedule.scheduledAt, (perTick.get(run.schedule.scheduledAt) ?? 0) + 1);
    expect([...perTick.keys()].sort()).toEqual(firings.map((f) => f.scheduledAt));
    expect([...perTick.values()].every((n) => n === 1)).toBe(true);
    expect(new Set(firings.map((f) => f.claimedBy)).size).toBeGreaterThanOrEqual(1);
    for (const f of firings) expect(['replica-a', 'replica-b']).toContain(f.claimedBy);
  });

  it('with overlap policy skip, no second run starts while the first is active, and each skipped firing says why', async () => {
    const t = await createTestDatabase('sqlite');
    cleanups.push(() => t.destroy());
    const svc = await startTestService(t.db, { dataDir: t.dataDir, startWorkers: true, env: { GRIFFIN_SCHEDULE_SYNC_MS: '200', GRIFFIN_MAX_LOCAL_RUNS: '8' } });
    cleanups.push(() => svc.close());
    const api = inProcessApi(svc);

    const s = (
      await api('POST', '/api/v1/schedules', {
        name: 'long-runs',
        cron: '* * * * * *',
        workflow: 'grocery-reorder',
        overlapPolicy: 'skip',
        catchUpPolicy: 'skip',
        overrides: { hyperparameters: { sleep_per_epoch: 5 } },
      })
    ).body;
    const first = await waitUntil('the first run to be running', async () => {
      const [run] = await runsOf(api, s.id);
      return run?.state === 'running' ? run : undefined;
    });
    await waitUntil('two firings skipped while it runs', async () => {
      const after = (await allFirings(api, s.id)).filter((f) => f.kind === 'scheduled' && f.outcome === 'skipped' && f.reason.includes('still running'));
      return after.length >= 2;
    });
    await api('POST', `/api/v1/schedules/${s.id}/pause`);
    await waitUntil('no firing in progress', async () => (await allFirings(api, s.id)).every((f) => f.outcome !== 'pending'));

    const runs = await runsOf(api, s.id);
    expect(runs.map((r) => r.id)).toEqual([first.id]);
    expect((await api('GET', `/api/v1/runs/${first.id}`)).body.terminal).toBe(false);
    const firings = await allFirings(api, s.id);
    expect(firings.filter((f) => f.outcome === 'submitted').map((f) => f.runId)).toEqual([first.id]);
    for (const skipped of firings.filter((f) => f.kind === 'scheduled' && f.outcome === 'skipped')) {
      expect(skipped.runId).toBeNull();
      expect(skipped.reason).toMatch(new RegExp(`^the previous run ${first.id} of this schedule is still (queued|launching|running) \\(overlap policy skip\\)$`));
    }
    await api('POST', `/api/v1/runs/${first.id}/cancel`, { reason: 'test over' });
    await svc.waitForRun(first.id);
  });

  it('a paused schedule does not fire; resuming it follows the catch-up policy', async () => {
    const t = await createTestDatabase('sqlite');
    cleanups.push(() => t.destroy());
    const svc = await schedulerOnly(t);
    cleanups.push(() => svc.close());
    const api = inProcessApi(svc);
    const base = { cron: '* * * * * *', workflow: 'grocery-reorder', overlapPolicy: 'allow' };
    const once = (await api('POST', '/api/v1/schedules', { ...base, name: 'resume-run-once', catchUpPolicy: 'run_once' })).body;
    const skip = (await api('POST', '/api/v1/schedules', { ...base, name: 'resume-skip', catchUpPolicy: 'skip' })).body;
    // Created paused: nothing was expected of it before it was first turned on, so nothing to catch up.
    const fresh = (await api('POST', '/api/v1/schedules', { ...base, name: 'created-paused', catchUpPolicy: 'run_once', enabled: false })).body;
    for (const s of [once, skip]) await waitUntil('a firing', async () => (await allFirings(api, s.id)).some((f) => f.outcome === 'submitted'));

    for (const s of [once, skip]) await api('POST', `/api/v1/schedules/${s.id}/pause`);
    const pausedAt = new Date().toISOString();
    await sleep(2500);
    const resumedAt = new Date().toISOString();
    for (const s of [once, skip, fresh]) await api('POST', `/api/v1/schedules/${s.id}/resume`);

    for (const [s, outcome] of [
      [once, 'submitted'],
      [skip, 'skipped'],
    ] as const) {
      const catchUp = await waitUntil(`the catch-up of ${s.name}`, async () => (await allFirings(api, s.id)).find((f) => f.kind === 'catch_up' && f.outcome !== 'pending'));
      const firings = await allFirings(api, s.id);
      // While paused nothing fired; afterwards one catch-up firing stands for the missed fire times.
      expect(firings.filter((f) => f.kind === 'scheduled' && f.scheduledAt > pausedAt && f.scheduledAt <= resumedAt)).toEqual([]);
      expect(firings.filter((f) => f.kind === 'catch_up')).toHaveLength(1);
      expect(catchUp.scheduledAt > pausedAt).toBe(true);
      expect(catchUp.outcome).toBe(outcome);
      expect(catchUp.reason).toMatch(/missed \d+ fire times from .* to .* while it could not fire/);
      if (outcome === 'submitted') {
        expect(catchUp.reason).toMatch(/catch-up policy run_once/);
        const run = (await api('GET', `/api/v1/runs/${catchUp.runId}`)).body;
        expect(run.schedule).toMatchObject({ id: s.id, scheduledAt: catchUp.scheduledAt, kind: 'catch_up' });
      } else {
        expect(catchUp.runId).toBeNull();
        expect(catchUp.reason).toMatch(/not run \(catch-up policy skip\)/);
        expect((await runsOf(api, s.id)).filter((r) => r.schedule.scheduledAt > pausedAt && r.schedule.scheduledAt <= catchUp.scheduledAt)).toEqual([]);
      }
      // And it fires live again after the resume.
      await waitUntil('a live firing after the resume', async () => (await allFirings(api, s.id)).some((f) => f.kind === 'scheduled' && f.scheduledAt > resumedAt && f.outcome === 'submitted'));
    }
    const freshFirings = await allFirings(api, fresh.id);
    expect(freshFirings.filter((f) => f.kind === 'scheduled' && f.outcome === 'submitted').length).toBeGreaterThan(0);
    expect(freshFirings.filter((f) => f.scheduledAt <= resumedAt)).toEqual([]);
  });

  it('after the service was down across several fire times, starting it again follows the catch-up policy', async () => {
    const t = await createTestDatabase('sqlite');
    cleanups.push(() => t.destroy());
    const first = await schedulerOnly(t);
    const api1 = inProcessApi(first);
    const base = { cron: '* * * * * *', workflow: 'grocery-reorder', overlapPolicy: 'allow' };
    const once = (await api1('POST', '/api/v1/schedules', { ...base, name: 'down-run-once', catchUpPolicy: 'run_once' })).body;
    const skip = (await api1('POST', '/api/v1/schedules', { ...base, name: 'down-skip', catchUpPolicy: 'skip' })).body;
    for (const s of [once, skip]) await waitUntil('a firing', async () => (await allFirings(api1, s.id)).some((f) => f.outcome === 'submitted'));
    await first.close();
    const downAt = new Date().toISOString();
    await sleep(3000);

    // A new service instance on the same database: fresh wiring, a scheduler with no memory.
    const second = await schedulerOnly(t);
    cleanups.push(() => second.close());
    const upAt = new Date().toISOString();
    const api2 = inProcessApi(second);
    for (const s of [once, skip]) {
      const catchUp = await waitUntil(`the catch-up of ${s.name}`, async () => (await allFirings(api2, s.id)).find((f) => f.kind === 'catch_up' && f.outcome !== 'pending'));
      const firings = await allFirings(api2, s.id);
      expect(firings.filter((f) => f.kind === 'catch_up')).toHaveLength(1);
      expect(firings.filter((f) => f.kind === 'scheduled' && f.scheduledAt > downAt && f.scheduledAt < upAt)).toEqual([]);
      expect(catchUp.scheduledAt > downAt).toBe(true);
      const missed = Number(/missed (\d+) fire times/.exec(catchUp.reason)?.[1]);
      expect(missed).toBeGreaterThanOrEqual(3);
      if (s === once) {
        expect(catchUp).toMatchObject({ outcome: 'submitted' });
        expect((await api2('GET', `/api/v1/runs/${catchUp.runId}`)).body.schedule.kind).toBe('catch_up');
      } else {
        expect(catchUp).toMatchObject({ outcome: 'skipped', runId: null });
      }
      // The missed fire times made at most the one catch-up run.
      const downRuns = (await runsOf(api2, s.id)).filter((r) => r.schedule.scheduledAt > downAt && r.schedule.scheduledAt <= catchUp.scheduledAt);
      expect(downRuns.map((r) => r.schedule.kind)).toEqual(s === once ? ['catch_up'] : []);
    }
  });
});
