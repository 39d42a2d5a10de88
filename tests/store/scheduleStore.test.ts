import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ScheduleStore, type ScheduleDefinition } from '../../server/store/scheduleStore.ts';
import { RunStore } from '../../server/store/runStore.ts';
import { Conflict } from '../../server/errors.ts';
import { newRun } from '../helpers/runs.ts';
import { migrateLatest, migrateRollbackAll } from '../../server/db/migrate.ts';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';
import { Transitions } from '../../server/domain/index.ts';

const definition = (over: Partial<ScheduleDefinition> = {}): ScheduleDefinition => ({
  name: 'nightly',
  description: '',
  cron: '0 3 * * *',
  timezone: 'Europe/Berlin',
  workflow: 'grocery-reorder',
  overrides: { hyperparameters: { epochs: 2 } },
  enabled: true,
  overlapPolicy: 'skip',
  catchUpPolicy: 'run_once',
  maxConcurrentRuns: null,
  ...over,
});

const at = (seconds: number) => new Date(Date.UTC(2026, 10, 28, 3, 0, seconds)).toISOString();
const expect3am = { cron: '0 3 * * *', timezone: 'Europe/Berlin' };

describe.each(supportedDatabases())('ScheduleStore on %s', (dbId) => {
  let t: TestDatabase;
  let store: ScheduleStore;
  let runs: RunStore;
  const insertRun = async () => runs.insert(newRun({ trigger: 'schedule' }));

  beforeEach(async () => {
    t = await createTestDatabase(dbId);
    store = new ScheduleStore(t.db);
    runs = new RunStore(t.db);
  });
  afterEach(async () => t.destroy());

  it('stores a definition that round-trips; names are unique', async () => {
    const s = await store.insert('sch000000001', definition());
    expect(s).toMatchObject({ ...definition(), id: 'sch000000001', version: 1, lastFiredAt: null });
    expect(s.enabledAt).toBe(s.createdAt);
    expect(await store.getByName('nightly')).toEqual(s);
    await expect(store.insert('sch000000002', definition())).rejects.toThrow(Conflict);
    expect(s.firstEnabledAt).toBe(s.createdAt);
    const paused = await store.insert('sch000000003', definition({ name: 'paused', enabled: false }));
    expect(paused).toMatchObject({ enabled: false, enabledAt: null, firstEnabledAt: null });
  });

  it('an edit applies only to the version it was based on, and changes the signature replicas poll', async () => {
    const s = await store.insert('sch000000001', definition());
    const before = await store.signature();
    const edited = await store.update(s.id, s.version, { cron: '0 4 * * *', maxConcurrentRuns: 2 }, s.enabled);
    expect(edited).toMatchObject({ cron: '0 4 * * *', maxConcurrentRuns: 2, version: 2 });
    expect(await store.update(s.id, s.version, { cron: '0 5 * * *' }, s.enabled)).toBeUndefined();
    expect((await store.get(s.id))!.cron).toBe('0 4 * * *');
    const afterEdit = await store.signature();
    expect(afterEdit).not.toBe(before);
    // Firings do not change the definition: the signature stays, so no replica rebuilds its timers.
    await store.claimFiring({ scheduleId: s.id, scheduledAt: at(0), kind: 'scheduled', claimedBy: 'a', expect: { cron: '0 4 * * *', timezone: 'Europe/Berlin' } });
    expect(await store.signature()).toBe(afterEdit);
    expect(await store.delete(s.id)).toBe(true);
    expect(await store.signature()).not.toBe(afterEdit);
  });

  it('pause and resume are conditional; resuming stamps enabled_at, the first enabling first_enabled_at', async () => {
    const s = await store.insert('sch000000001', definition());
    expect(await store.setEnabled(s.id, false)).toBe(true);
    expect(await store.setEnabled(s.id, false)).toBe(false);
    await new Promise((r) => setTimeout(r, 5));
    expect(await store.setEnabled(s.id, true)).toBe(true);
    const resumed = (await store.get(s.id))!;
    expect(resumed.enabled).toBe(true);
    expect(resumed.enabledAt! > s.enabledAt!).toBe(true);
    expect(resumed.firstEnabledAt).toBe(s.createdAt);
    expect(resumed.version).toBe(3);

    const later = await store.insert('sch000000002', definition({ name: 'created-paused', enabled: false }));
    await new Promise((r) => setTimeout(r, 5));
    await store.update(later.id, later.version, { enabled: true }, false);
    const enabled = (await store.get(later.id))!;
    expect(enabled.firstEnabledAt).toBe(enabled.enabledAt);
    expect(enabled.firstEnabledAt! > later.createdAt).toBe(true);
    await store.setEnabled(later.id, false);
    await new Promise((r) => setTimeout(r, 5));
    await store.setEnabled(later.id, true);
    expect((await store.get(later.id))!.firstEnabledAt).toBe(enabled.firstEnabledAt);
  });

  it('of many concurrent claims of one (schedule, scheduled time) exactly one wins', async () => {
    const s = await store.insert('sch000000001', definition());
    const claims = await Promise.all(
      Array.from({ length: 8 }, (_, i) => store.claimFiring({ scheduleId: s.id, scheduledAt: at(0), kind: 'scheduled', claimedBy: `replica-${i}`, expect: expect3am })),
    );
    const won = claims.filter(Boolean);
    expect(won).toHaveLength(1);
    expect(won[0]).toMatchObject({ scheduleId: s.id, scheduledAt: at(0), kind: 'scheduled', outcome: 'pending', runId: null });
    expect((await store.firings(s.id, { limit: 10 })).items).toHaveLength(1);
    expect((await store.get(s.id))!.lastFiredAt).toBe(at(0));
  });

  it('a cron firing is refused once the schedule is paused or re-timed; a manual one is not, and leaves the anchor', async () => {
    const s = await store.insert('sch000000001', definition());
    expect(await store.claimFiring({ scheduleId: s.id, scheduledAt: at(1), kind: 'scheduled', claimedBy: 'a', expect: { ...expect3am, cron: '0 4 * * *' } })).toBeUndefined();
    await store.setEnabled(s.id, false);
    expect(await store.claimFiring({ scheduleId: s.id, scheduledAt: at(1), kind: 'scheduled', claimedBy: 'a', expect: expect3am })).toBeUndefined();
    const manual = await store.claimFiring({ scheduleId: s.id, scheduledAt: at(2), kind: 'manual', claimedBy: 'a' });
    expect(manual).toMatchObject({ kind: 'manual', outcome: 'pending' });
    expect((await store.get(s.id))!.lastFiredAt).toBeNull();
    expect(await store.claimFiring({ scheduleId: 'nosuchschedule', scheduledAt: at(2), kind: 'manual', claimedBy: 'a' })).toBeUndefined();
  });

  it('the catch-up anchor only moves forward', async () => {
    const s = await store.insert('sch000000001', definition());
    await store.claimFiring({ scheduleId: s.id, scheduledAt: at(30), kind: 'scheduled', claimedBy: 'a', expect: expect3am });
    await store.claimFiring({ scheduleId: s.id, scheduledAt: at(10), kind: 'catch_up', claimedBy: 'b', expect: expect3am });
    expect((await store.get(s.id))!.lastFiredAt).toBe(at(30));
    expect(await store.latestCronFiringBetween(s.id, at(0), at(20))).toBe(at(10));
    await store.claimFiring({ scheduleId: s.id, scheduledAt: at(15), kind: 'manual', claimedBy: 'b' });
    expect(await store.latestCronFiringBetween(s.id, at(0), at(20))).toBe(at(10));
    expect(await store.latestCronFiringBetween(s.id, at(30), at(59))).toBeUndefined();
  });

  it('latestFirings returns each schedule\'s most recent firing, none for one that never fired', async () => {
    const a = await store.insert('sch00000000a', definition({ name: 'a' }));
    const b = await store.insert('sch00000000b', definition({ name: 'b' }));
    const never = await store.insert('sch00000000c', definition({ name: 'c' }));
    await store.claimFiring({ scheduleId: a.id, scheduledAt: at(0), kind: 'scheduled', claimedBy: 'x', expect: expect3am });
    const lastA = await store.claimFiring({ scheduleId: a.id, scheduledAt: at(5), kind: 'manual', claimedBy: 'x' });
    const lastB = await store.claimFiring({ scheduleId: b.id, scheduledAt: at(1), kind: 'scheduled', claimedBy: 'x', expect: expect3am });
    const latest = await store.latestFirings([a.id, b.id, never.id]);
    expect(latest.get(a.id)).toMatchObject({ id: lastA!.id, kind: 'manual', outcome: 'pending' });
    expect(latest.get(b.id)).toMatchObject({ id: lastB!.id, kind: 'scheduled' });
    expect(latest.has(never.id)).toBe(false);
    expect((await store.latestFirings([])).size).toBe(0);
  });

  it('an outcome is recorded once, by the claimer only', async () => {
    const s = await store.insert('sch000000001', definition());
    const f = (await store.claimFiring({ scheduleId: s.id, scheduledAt: at(0), kind: 'scheduled', claimedBy: 'a', expect: expect3am }))!;
    expect(await store.resolveFiring(f.id, 'b', { outcome: 'skipped', reason: 'x', runId: null })).toBe(false);
    const run = await insertRun();
    expect(await store.resolveFiring(f.id, 'a', { outcome: 'submitted', reason: null, runId: run.id })).toBe(true);
    expect(await store.resolveFiring(f.id, 'a', { outcome: 'failed', reason: 'late', runId: null })).toBe(false);
    expect(await store.firing(f.id)).toMatchObject({ outcome: 'submitted', runId: run.id, runState: 'queued' });
  });

  it('blocking firings: active runs of the schedule and earlier firings still pending, not later ones', async () => {
    const s = await store.insert('sch000000001', definition());
    const other = await store.insert('sch000000002', definition({ name: 'other' }));
    const claim = (id: string, sec: number) => store.claimFiring({ scheduleId: id, scheduledAt: at(sec), kind: 'scheduled', claimedBy: 'a', expect: expect3am });
    const done = (await claim(s.id, 1))!;
    const finished = await insertRun();
    await store.resolveFiring(done.id, 'a', { outcome: 'submitted', reason: null, runId: finished.id });
    await runs.transition(finished.id, Transitions.cancelledQueued, 'test');
    const active = (await claim(s.id, 2))!;
    const activeRun = await insertRun();
    await store.resolveFiring(active.id, 'a', { outcome: 'submitted', reason: null, runId: activeRun.id });
    const otherFiring = (await claim(other.id, 3))!;
    await store.resolveFiring(otherFiring.id, 'a', { outcome: 'submitted', reason: null, runId: (await insertRun()).id });
    const earlierPending = (await claim(s.id, 4))!;
    const self = (await claim(s.id, 5))!;
    const laterPending = (await claim(s.id, 6))!;

    const blocking = await store.blockingFirings(s.id, self);
    expect(blocking.map((b) => b.id)).toEqual([active.id, earlierPending.id]);
    expect(blocking[0]).toMatchObject({ runId: activeRun.id, runState: 'queued' });
    // The later firing sees the earlier two pending ones; neither skips the other.
    expect((await store.blockingFirings(s.id, laterPending)).map((b) => b.id)).toEqual([active.id, earlierPending.id, self.id]);
  });

  it('a stale pending firing is taken over by exactly one replica', async () => {
    const s = await store.insert('sch000000001', definition());
    const f = (await store.claimFiring({ scheduleId: s.id, scheduledAt: at(0), kind: 'scheduled', claimedBy: 'dead', expect: expect3am }))!;
    expect(await store.stalePending(new Date(Date.parse(f.claimedAt) - 1000).toISOString())).toEqual([]);
    const stale = await store.stalePending(new Date(Date.parse(f.claimedAt) + 1000).toISOString());
    expect(stale.map((x) => x.id)).toEqual([f.id]);
    const takers = await Promise.all(['a', 'b', 'c'].map((owner) => store.takeOverFiring(f.id, stale[0].claimedAt, owner)));
    expect(takers.filter(Boolean)).toHaveLength(1);
  });

  it('firing history pages newest first', async () => {
    const s = await store.insert('sch000000001', definition());
    for (let sec = 0; sec < 5; sec += 1) await store.claimFiring({ scheduleId: s.id, scheduledAt: at(sec), kind: 'scheduled', claimedBy: 'a', expect: expect3am });
    const first = await store.firings(s.id, { limit: 3 });
    expect(first.items.map((f) => f.scheduledAt)).toEqual([at(4), at(3), at(2)]);
    const second = await store.firings(s.id, { limit: 3, pageToken: first.nextPageToken! });
    expect(second.items.map((f) => f.scheduledAt)).toEqual([at(1), at(0)]);
    expect(second.nextPageToken).toBeNull();
  });

  it('deleting a schedule removes its firings; the migration goes down and up with data in place', async () => {
    const s = await store.insert('sch000000001', definition());
    await store.claimFiring({ scheduleId: s.id, scheduledAt: at(0), kind: 'scheduled', claimedBy: 'a', expect: expect3am });
    await store.delete(s.id);
    expect(await t.db('schedule_firings').count({ n: '*' })).toEqual([{ n: dbId === 'postgres' ? '0' : 0 }]);
    await store.insert('sch000000002', definition());
    await migrateRollbackAll(t.db);
    expect(await t.db.schema.hasTable('schedules')).toBe(false);
    expect(await t.db.schema.hasTable('schedule_firings')).toBe(false);
    await migrateLatest(t.db);
    expect(await store.listAll()).toEqual([]);
  });
});
