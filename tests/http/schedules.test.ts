import { describe, expect, it } from 'vitest';

import { useTestService } from '../helpers/service.ts';

/** The schedules API on the real app (SQLite); workers are not started, so runs stay queued. */
describe('schedules API', () => {
  const { svc } = useTestService('sqlite');

  const post = (path: string, body?: object) => svc.admin(svc.request.post(`/api/v1${path}`)).send(body ?? {});
  const get = (path: string) => svc.admin(svc.request.get(`/api/v1${path}`));
  const nightly = { name: 'nightly', cron: '30 2 * * *', timezone: 'Europe/Berlin', workflow: 'grocery-reorder', overrides: { hyperparameters: { epochs: 2 } } };

  it('rejects a bad cron expression or time zone with a 400 naming the field, and stores nothing', async () => {
    const cases: Array<[object, number, string, RegExp?]> = [
      [{ ...nightly, cron: '61 * * * *' }, 400, 'cron', /61 .*minute/],
      [{ ...nightly, cron: '* * * *' }, 400, 'cron', /5 fields/],
      [{ ...nightly, cron: '0 0 1 * 1' }, 400, 'cron', /day of month or the day of week/],
      [{ ...nightly, cron: '0 0 30 2 *' }, 400, 'cron', /impossible/],
      [{ ...nightly, timezone: 'Mars/Olympus_Mons' }, 400, 'timezone', /IANA/],
      [{ ...nightly, timezone: 'GMT+25' }, 400, 'timezone', /IANA/],
      [{ ...nightly, overlapPolicy: 'never' }, 400, 'overlapPolicy'],
      [{ ...nightly, catchUpPolicy: 'all' }, 400, 'catchUpPolicy'],
      [{ ...nightly, maxConcurrentRuns: 0 }, 400, 'maxConcurrentRuns'],
      [{ ...nightly, workflow: 'no-such-workflow' }, 404, 'workflow'],
      [{ ...nightly, overrides: { hyperparameters: { learning_rate: -1 } } }, 400, 'overrides.hyperparameters.learning_rate'],
      [{ ...nightly, name: 'Nightly Run' }, 400, 'name'],
    ];
    for (const [body, status, field, message] of cases) {
      const res = await post('/schedules', body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.body.error.field, JSON.stringify(body)).toBe(field);
      if (message) expect(res.body.error.message).toMatch(message);
    }
    expect((await get('/schedules')).body.items).toEqual([]);
  });

  it('creates, reads (by id or name), lists, edits and deletes a schedule; shows the next fire times in its time zone', async () => {
    const created = await post('/schedules', nightly);
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe(`/api/v1/schedules/${created.body.id}`);
    expect(created.body).toMatchObject({
      ...nightly,
      enabled: true,
      overlapPolicy: 'skip',
      catchUpPolicy: 'run_once',
      maxConcurrentRuns: null,
      lastFiredAt: null,
    });
    const next: string[] = created.body.nextFireTimes;
    expect(next).toHaveLength(5);
    const berlin = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit' });
    for (const time of next) expect(berlin.format(new Date(time))).toBe('02:30');
    expect([...next].sort()).toEqual(next);
    expect(Date.parse(next[0])).toBeGreaterThan(Date.now());

    expect((await get(`/schedules/nightly?next=12`)).body.nextFireTimes).toHaveLength(12);
    expect((await get(`/schedules/${created.body.id}`)).body.name).toBe('nightly');
    expect((await post('/schedules', nightly)).status).toBe(409);

    const patched = await svc.admin(svc.request.patch('/api/v1/schedules/nightly')).send({ cron: '0 */6 * * *', timezone: 'UTC', maxConcurrentRuns: 2 });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ cron: '0 */6 * * *', timezone: 'UTC', maxConcurrentRuns: 2, workflow: 'grocery-reorder' });
    for (const time of patched.body.nextFireTimes) expect(time).toMatch(/T(00|06|12|18):00:00.000Z$/);
    expect((await svc.admin(svc.request.patch('/api/v1/schedules/nightly')).send({ cron: 'every day' })).body.error.field).toBe('cron');

    const replaced = await svc.admin(svc.request.put('/api/v1/schedules/nightly')).send({ ...nightly, cron: '0 1 * * *', timezone: 'UTC' });
    expect(replaced.body).toMatchObject({ cron: '0 1 * * *', maxConcurrentRuns: null });

    const listed = await get('/schedules');
    expect(listed.body.items.map((s: { name: string }) => s.name)).toEqual(['nightly']);

    expect((await svc.admin(svc.request.delete('/api/v1/schedules/nightly'))).status).toBe(204);
    expect((await get('/schedules/nightly')).status).toBe(404);
  });

  it('viewers read, editors change', async () => {
    const viewer = await svc.tokenFor('viewer');
    const editor = await svc.tokenFor('editor');
    const created = await svc.request.post('/api/v1/schedules').set('Authorization', `Bearer ${editor}`).send({ ...nightly, name: 'by-editor' });
    expect(created.status).toBe(201);
    expect((await svc.request.get('/api/v1/schedules/by-editor').set('Authorization', `Bearer ${viewer}`)).status).toBe(200);
    expect((await svc.request.post('/api/v1/schedules/by-editor/pause').set('Authorization', `Bearer ${viewer}`)).status).toBe(403);
    expect((await svc.request.get('/api/v1/schedules')).status).toBe(401);
  });

  it('"trigger now" submits a run linked to its firing; the overlap policy skips while that run is active, and says why', async () => {
    const s = (await post('/schedules', { ...nightly, name: 'trigger-me' })).body;
    const first = await post(`/schedules/${s.id}/trigger`);
    expect(first.status).toBe(201);
    const { firing, run } = first.body;
    expect(firing).toMatchObject({ scheduleId: s.id, kind: 'manual', outcome: 'submitted', runId: run.id, runUrl: `${svc.baseUrl}/runs/${run.id}` });
    expect(run).toMatchObject({
      trigger: 'schedule',
      state: 'queued',
      idempotencyKey: `schedule:${s.id}:${firing.scheduledAt}`,
      schedule: { id: s.id, name: 'trigger-me', scheduledAt: firing.scheduledAt, firingId: firing.id },
      spec: { hyperparameters: { epochs: 2 } },
    });

    const second = await post(`/schedules/${s.id}/trigger`);
    expect(second.body.run).toBeNull();
    expect(second.body.firing).toMatchObject({ outcome: 'skipped', runId: null });
    expect(second.body.firing.reason).toBe(`the previous run ${run.id} of this schedule is still queued (overlap policy skip)`);

    const history = (await get(`/schedules/${s.id}/firings`)).body.items;
    expect(history.map((f: { outcome: string }) => f.outcome)).toEqual(['skipped', 'submitted']);
    expect(history[1]).toMatchObject({ runId: run.id, runState: 'queued' });
    expect((await get(`/runs?trigger=schedule`)).body.items.map((r: { id: string }) => r.id)).toContain(run.id);
  });

  it('allow respects maxConcurrentRuns; cancel_previous cancels the active runs first', async () => {
    const s = (await post('/schedules', { ...nightly, name: 'crowded', overlapPolicy: 'allow', maxConcurrentRuns: 2 })).body;
    const a = (await post(`/schedules/${s.id}/trigger`)).body;
    const b = (await post(`/schedules/${s.id}/trigger`)).body;
    expect([a.firing.outcome, b.firing.outcome]).toEqual(['submitted', 'submitted']);
    const c = (await post(`/schedules/${s.id}/trigger`)).body;
    expect(c.firing.outcome).toBe('skipped');
    expect(c.firing.reason).toMatch(/2 runs of this schedule are active .* maxConcurrentRuns is 2/);

    const d = (await post(`/schedules/${s.id}/trigger?overlapPolicy=cancel_previous`)).body;
    expect(d.firing.outcome).toBe('submitted');
    expect(d.firing.reason).toMatch(/cancelled the previous runs .* \(overlap policy cancel_previous\)/);
    for (const previous of [a.run.id, b.run.id]) expect((await get(`/runs/${previous}`)).body.state).toBe('cancelled');
    expect((await get(`/runs/${d.run.id}`)).body.state).toBe('queued');
  });

  it('pause stops the fire times and resume brings them back; a paused schedule can still be triggered', async () => {
    const s = (await post('/schedules', { ...nightly, name: 'pausable', overlapPolicy: 'allow' })).body;
    const paused = await post(`/schedules/${s.id}/pause`);
    expect(paused.body).toMatchObject({ enabled: false, nextFireTimes: [] });
    expect((await post(`/schedules/${s.id}/pause`)).body.enabled).toBe(false);
    expect((await post(`/schedules/${s.id}/trigger`)).body.firing.outcome).toBe('submitted');
    const resumed = await post(`/schedules/${s.id}/resume`);
    expect(resumed.body.enabled).toBe(true);
    expect(resumed.body.nextFireTimes).toHaveLength(5);
    expect((await get('/schedules?enabled=false')).body.items.map((x: { name: string }) => x.name)).not.toContain('pausable');
  });

  it('a firing left pending by a replica that died is finished by another, without a second run', async () => {
    const s = (await post('/schedules', { ...nightly, name: 'orphaned', overlapPolicy: 'allow' })).body;
    const claim = (scheduledAt: string) =>
      svc.wired.scheduleStore.claimFiring({ scheduleId: s.id, scheduledAt, kind: 'scheduled', claimedBy: 'dead-replica', expect: { cron: nightly.cron, timezone: nightly.timezone } });
    const before = (await claim('2026-11-20T01:30:00.000Z'))!;
    const after = (await claim('2026-11-21T01:30:00.000Z'))!;
    // The second one died after submitting its run but before recording it.
    const submitted = await svc.wired.runs.submit({ workflow: nightly.workflow, overrides: nightly.overrides, trigger: 'schedule', rerunIfFailed: false }, `schedule:${s.id}:${after.scheduledAt}`);
    expect(await svc.wired.schedules.recoverStale(new Date(Date.now() - 60_000))).toBe(0);
    expect(await svc.wired.schedules.recoverStale(new Date(Date.now() + 1000))).toBe(2);
    const history = (await get(`/schedules/${s.id}/firings`)).body.items;
    expect(history.map((f: { outcome: string }) => f.outcome)).toEqual(['submitted', 'submitted']);
    expect(history[0].runId).toBe(submitted.run.id);
    expect(history[1].runId).not.toBe(submitted.run.id);
    expect(history[1].claimedBy).not.toBe('dead-replica');
    expect(before.id).toBe(history[1].id);
    expect((await get(`/runs?idempotencyKey=schedule:${s.id}:${after.scheduledAt}`)).body.items).toHaveLength(1);
    expect(await svc.wired.schedules.recoverStale(new Date(Date.now() + 1000))).toBe(0);
  });

  it('publishes the schedule routes in the OpenAPI document', async () => {
    const doc = (await get('/openapi.json')).body;
    for (const path of ['/api/v1/schedules', '/api/v1/schedules/{id}', '/api/v1/schedules/{id}/pause', '/api/v1/schedules/{id}/resume', '/api/v1/schedules/{id}/trigger', '/api/v1/schedules/{id}/firings']) {
      expect(doc.paths[path], path).toBeDefined();
    }
    expect(doc.paths['/api/v1/schedules'].post.requestBody.content['application/json'].schema.properties.overlapPolicy.enum).toEqual(['skip', 'allow', 'cancel_previous']);
  });

  it('the list carries each schedule\'s last firing: null before the first, then its outcome and run', async () => {
    expect((await post('/schedules', { ...nightly, name: 'last-state', enabled: false })).status).toBe(201);
    const entry = async () => (await get('/schedules?limit=500')).body.items.find((s: { name: string }) => s.name === 'last-state');
    expect((await entry()).lastFiring).toBeNull();
    const fired = await post('/schedules/last-state/trigger');
    expect(fired.status, JSON.stringify(fired.body)).toBeLessThan(300);
    const last = (await entry()).lastFiring;
    expect(last).toMatchObject({ kind: 'manual', outcome: 'submitted', runState: 'queued' });
    expect(last.runId).toBe(fired.body.run.id);
    // Each item carries its own: another schedule that never fired still says null.
    expect((await post('/schedules', { ...nightly, name: 'never-fired' })).status).toBe(201);
    expect((await get('/schedules?limit=500')).body.items.find((s: { name: string }) => s.name === 'never-fired').lastFiring).toBeNull();
  });
});
