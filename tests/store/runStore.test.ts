import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RunStore } from '../../server/store/runStore.ts';
import { newRun, TEST_SPEC } from '../helpers/runs.ts';
import { StateConflict } from '../../server/errors.ts';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';
import { Transitions } from '../../server/domain/index.ts';

const spec = TEST_SPEC;

describe.each(supportedDatabases())('RunStore on %s', (dbId) => {
  let t: TestDatabase;
  let store: RunStore;
  beforeEach(async () => {
    t = await createTestDatabase(dbId);
    store = new RunStore(t.db);
  });
  afterEach(async () => t.destroy());

  it('stores a queued run with its first event and the spec round-trips', async () => {
    const run = await store.insert(newRun());
    expect(run.state).toBe('queued');
    expect(run.spec).toEqual(spec);
    expect(await store.events(run.id)).toMatchObject([{ from: null, to: 'queued', reason: 'submitted' }]);
  });

  it('a transition is conditional: from the wrong state it is a conflict naming the actual state, and nothing changes', async () => {
    const run = await store.insert(newRun());
    await expect(store.transition(run.id, Transitions.succeeded, 'x')).rejects.toThrow(StateConflict);
    await expect(store.transition(run.id, Transitions.succeeded, 'x')).rejects.toThrow(/is queued, expected one of: running/);
    expect((await store.get(run.id))!.state).toBe('queued');
    expect(await store.events(run.id)).toHaveLength(1);
    const moved = await store.transition(run.id, Transitions.cancelledQueued, 'user asked');
    expect(moved).toMatchObject({ state: 'cancelled', reason: 'user asked' });
    expect(moved.finishedAt).not.toBeNull();
    expect((await store.events(run.id)).map((e) => e.to)).toEqual(['queued', 'cancelled']);
  });

  it('of two racing transitions from the same state exactly one wins', async () => {
    const run = await store.insert(newRun());
    const results = await Promise.allSettled([
      store.transition(run.id, Transitions.cancelledQueued, 'a'),
      store.transition(run.id, Transitions.claimed, 'b'),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(await store.events(run.id)).toHaveLength(2);
  });

  it('claims each queued run once, even when two claimers race', async () => {
    const ids = [];
    for (let i = 0; i < 6; i += 1) ids.push((await store.insert(newRun())).id);
    const lease = new Date(Date.now() + 30_000).toISOString();
    const [a, b] = await Promise.all([store.claimQueued('a', lease, 4), store.claimQueued('b', lease, 4)]);
    const claimed = [...a, ...b].map((r) => r.id).sort();
    expect(claimed).toEqual([...ids].sort());
    expect(new Set(claimed).size).toBe(6);
    for (const r of [...a, ...b]) expect(r.state).toBe('launching');
  });

  it('an expired lease is taken over by exactly one instance', async () => {
    const run = await store.insert(newRun());
    const old = new Date(Date.now() - 1000).toISOString();
    await store.claimQueued('dead', old, 1);
    const next = new Date(Date.now() + 30_000).toISOString();
    const results = await Promise.all([store.takeOverLease(run.id, old, 'a', next), store.takeOverLease(run.id, old, 'b', next)]);
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('a heartbeat extends only the lease it holds: after a takeover, or once the run left launching, it fails', async () => {
    const run = await store.insert(newRun());
    const first = new Date(Date.now() + 1000).toISOString();
    const [claimed] = await store.claimQueued('owner', first, 1);
    const renewed = new Date(Date.now() + 2000).toISOString();
    expect(await store.extendLease(run.id, claimed.leaseExpiresAt!, renewed)).toBe(true);
    expect(await store.extendLease(run.id, claimed.leaseExpiresAt!, renewed)).toBe(false); // that expiry is gone
    expect(await store.takeOverLease(run.id, renewed, 'taker', new Date(Date.now() + 3000).toISOString())).toBe(true);
    expect(await store.extendLease(run.id, renewed, new Date(Date.now() + 4000).toISOString())).toBe(false);
    const now = (await store.get(run.id))!;
    expect(now.leaseOwner).toBe('taker');
    await store.transition(run.id, Transitions.cancelRequested, 'stop');
    expect(await store.extendLease(run.id, now.leaseExpiresAt!, new Date(Date.now() + 5000).toISOString())).toBe(false);
  });

  it('pages through every in-flight run, however many there are, and skips queued and ended ones', async () => {
    const lease = new Date(Date.now() + 30_000).toISOString();
    for (let i = 0; i < 7; i += 1) await store.insert(newRun());
    const claimed = await store.claimQueued('me', lease, 5);
    await store.transition(claimed[0].id, Transitions.launchFailed, 'x');
    const pages: string[][] = [];
    for await (const page of store.inFlight(2)) pages.push(page.map((r) => r.id));
    expect(pages.map((p) => p.length)).toEqual([2, 2]);
    expect(new Set(pages.flat())).toEqual(new Set(claimed.slice(1).map((r) => r.id)));
    expect((await store.listInFlight())[0].spec).toEqual(spec);
  });

  it('between full sweeps, finds only the runs that may need the reconciler', async () => {
    const lease = new Date(Date.now() + 30_000).toISOString();
    for (let i = 0; i < 6; i += 1) await store.insert(newRun());
    const [quiet, late, named, launching, cancelling, remote] = await store.claimQueued('me', lease, 6);
    const past = new Date(Date.now() - 1000).toISOString();
    const future = new Date(Date.now() + 60_000).toISOString();
    for (const run of [quiet, named, cancelling]) await store.transition(run.id, Transitions.started, 'started', { deadlineAt: future });
    await store.transition(late.id, Transitions.started, 'started', { deadlineAt: past });
    await store.transition(cancelling.id, Transitions.cancelRequested, 'asked');
    await t.db('runs').where({ id: remote.id }).update({ backend: 'ray', state: 'running', deadline_at: future });
    const found = await store.needingAttention({ runIds: [named.id], polledBackends: ['ray'], now: new Date().toISOString() });
    expect(found.map((r) => r.id).sort()).toEqual([late.id, named.id, launching.id, cancelling.id, remote.id].sort());
    expect(found.map((r) => r.id)).not.toContain(quiet.id);
  });

  it('idempotency keys are unique per generation', async () => {
    await store.insert(newRun({ idempotencyKey: 'k', idempotencyGeneration: 1, requestHash: 'h' }));
    await expect(store.insert(newRun({ idempotencyKey: 'k', idempotencyGeneration: 1, requestHash: 'h' }))).rejects.toThrow();
    await store.insert(newRun({ idempotencyKey: 'k', idempotencyGeneration: 2, requestHash: 'h' }));
    expect((await store.latestByIdempotencyKey('k'))!.idempotencyGeneration).toBe(2);
    // Runs without a key never collide.
    await store.insert(newRun());
    await store.insert(newRun());
  });

  it('metrics are appended, never overwritten, and the latest per key is the highest step', async () => {
    const run = await store.insert(newRun());
    const ts = new Date().toISOString();
    await store.appendMetrics(run.id, [
      { key: 'loss', value: 0.9, step: 1, timestamp: ts },
      { key: 'loss', value: 0.5, step: 2, timestamp: ts },
      { key: 'auc', value: 0.7, step: 2, timestamp: ts },
    ]);
    await store.appendMetrics(run.id, [{ key: 'loss', value: 0.4, step: 2, timestamp: ts }]);
    expect(await store.metrics(run.id, 'loss')).toHaveLength(3);
    const latest = await store.latestMetrics(run.id);
    expect(latest.loss).toMatchObject({ value: 0.4, step: 2 });
    expect(latest.auc.value).toBe(0.7);
  });

  it('metric history reads back in step order with the logged order kept for a repeated step, and a late lower step leaves the latest alone', async () => {
    const run = await store.insert(newRun());
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
    await store.appendMetrics(run.id, [
      { key: 'loss', value: 0.5, step: 5, timestamp: at(1) },
      { key: 'loss', value: 0.9, step: 1, timestamp: at(2) },
      { key: 'loss', value: 0.45, step: 5, timestamp: at(3) },
    ]);
    await store.appendMetrics(run.id, [{ key: 'loss', value: 0.8, step: 2, timestamp: at(4) }]);
    expect(await store.metrics(run.id, 'loss')).toEqual([
      { key: 'loss', value: 0.9, step: 1, timestamp: at(2) },
      { key: 'loss', value: 0.8, step: 2, timestamp: at(4) },
      { key: 'loss', value: 0.5, step: 5, timestamp: at(1) },
      { key: 'loss', value: 0.45, step: 5, timestamp: at(3) },
    ]);
    // Highest step wins; within it, the point written last. A later, lower step does not move it back.
    expect(await store.latestMetrics(run.id)).toEqual({ loss: { value: 0.45, step: 5, timestamp: at(3) } });
  });

  it('a batch of 1,000 points under 1,000 different keys is stored whole, and the runs list reads each key\'s last value', async () => {
    const run = await store.insert(newRun());
    const other = await store.insert(newRun());
    const ts = new Date().toISOString();
    await store.appendMetrics(run.id, Array.from({ length: 1000 }, (_, i) => ({ key: `k${String(i).padStart(4, '0')}`, value: i, step: 0, timestamp: ts })));
    await store.appendMetrics(other.id, [{ key: 'k0000', value: -1, step: 3, timestamp: ts }]);
    const history = await store.metrics(run.id);
    expect(history).toHaveLength(1000);
    expect(history[999]).toEqual({ key: 'k0999', value: 999, step: 0, timestamp: ts });
    const latest = await store.latestMetricsOf([run.id, other.id]);
    expect(Object.keys(latest.get(run.id)!)).toHaveLength(1000);
    expect(latest.get(other.id)).toEqual({ k0000: { value: -1, step: 3, timestamp: ts } });
  });

  it('concurrent batches naming the same keys in opposite orders are all stored (no deadlock between writers)', async () => {
    const run = await store.insert(newRun());
    const ts = new Date().toISOString();
    const keys = Array.from({ length: 30 }, (_, i) => `k${String(i).padStart(2, '0')}`);
    const batch = (n: number) => (n % 2 ? [...keys].reverse() : keys).map((key) => ({ key, value: n, step: n, timestamp: ts }));
    const results = await Promise.allSettled(Array.from({ length: 24 }, (_, n) => store.appendMetrics(run.id, batch(n))));
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(await store.metrics(run.id, 'k00')).toHaveLength(24);
    expect((await store.latestMetrics(run.id)).k29).toMatchObject({ value: 23, step: 23 });
  });

  it('a metric batch delivered again under its batch id is stored once, also when both deliveries race', async () => {
    const run = await store.insert(newRun());
    const other = await store.insert(newRun());
    const ts = new Date().toISOString();
    const batch = [
      { key: 'loss', value: 0.9, step: 1, timestamp: ts },
      { key: 'loss', value: 0.5, step: 2, timestamp: ts },
    ];
    expect(await store.appendMetrics(run.id, batch, 'rep1:1')).toBe(true);
    expect(await store.appendMetrics(run.id, batch, 'rep1:1')).toBe(false);
    const raced = await Promise.all([1, 2, 3].map(() => store.appendMetrics(run.id, [{ key: 'auc', value: 0.7, step: 2, timestamp: ts }], 'rep1:2')));
    expect(raced.filter(Boolean)).toHaveLength(1);
    expect(await store.metrics(run.id)).toHaveLength(3);
    // A batch id belongs to its run: another run's batch with the same id is its own.
    expect(await store.appendMetrics(other.id, batch, 'rep1:1')).toBe(true);
    expect(await store.metrics(other.id)).toHaveLength(2);
  });

  it('lists newest first with filters and page tokens that cover every run once', async () => {
    for (let i = 0; i < 7; i += 1) await store.insert(newRun({ trigger: i % 2 ? 'airflow' : 'http', dagId: i % 2 ? 'dag1' : null }));
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const page = await store.list({ limit: 3, pageToken: token });
      seen.push(...page.items.map((r) => r.id));
      token = page.nextPageToken ?? undefined;
    } while (token);
    expect(seen).toHaveLength(7);
    expect(new Set(seen).size).toBe(7);
    expect((await store.list({ limit: 50, dagId: 'dag1' })).items).toHaveLength(3);
    expect((await store.list({ limit: 50, trigger: 'http' })).items).toHaveLength(4);
  });
});
