import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Transitions } from '../../server/domain/index.ts';
import { RunStore } from '../../server/store/runStore.ts';
import { RegistryStore } from '../../server/store/registryStore.ts';
import { GroupCommit } from '../../server/db/groupCommit.ts';
import { isUniqueViolation } from '../../server/db/connect.ts';
import { newRun } from '../helpers/runs.ts';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';

/**
 * Concurrent writes committed together (group commit) must behave as if each had its own
 * transaction: every caller gets its own outcome, and nothing of a failed one is stored.
 */
describe.each(supportedDatabases())('group commit on %s', (dbId) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await createTestDatabase(dbId);
  });
  afterEach(async () => t.destroy());

  it('concurrent submissions are each stored with their first event and answered as read back', async () => {
    const store = new RunStore(t.db);
    const runs = await Promise.all(Array.from({ length: 40 }, () => store.insertSubmitted(newRun())));
    for (const run of runs) {
      const stored = await store.get(run.id);
      expect(run).toEqual(stored);
      expect(await store.events(run.id)).toMatchObject([{ from: null, to: 'queued', reason: 'submitted' }]);
    }
  });

  it("a submission that breaks a unique index fails alone: the others submitted with it are stored", async () => {
    const store = new RunStore(t.db);
    await store.insertSubmitted(newRun({ idempotencyKey: 'taken', idempotencyGeneration: 1 }));
    const outcomes = await Promise.allSettled([
      store.insertSubmitted(newRun()),
      store.insertSubmitted(newRun({ idempotencyKey: 'taken', idempotencyGeneration: 1 })),
      store.insertSubmitted(newRun()),
      store.insertSubmitted(newRun()),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(isUniqueViolation((outcomes[1] as PromiseRejectedResult).reason)).toBe(true);
    for (const o of outcomes) if (o.status === 'fulfilled') expect(await store.get(o.value.id)).toBeDefined();
    expect((await store.list({ idempotencyKey: 'taken', limit: 10 })).items).toHaveLength(1);
  });

  it('a transaction body that throws rolls back alone and its caller gets its error; the bodies beside it commit', async () => {
    const group = new GroupCommit(t.db);
    const write = (name: string, fail: boolean) =>
      group.run(async (trx) => {
        await trx('registered_models').insert({ name, description: '', tags: '{}', created_at: 'now', updated_at: 'now' });
        if (fail) throw new Error(`${name} refused`);
        return name;
      });
    const outcomes = await Promise.allSettled([write('a', false), write('b', true), write('c', false), write('d', true), write('e', false)]);
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message))).toEqual(['a', 'b refused', 'c', 'd refused', 'e']);
    expect((await t.db('registered_models').select('name').orderBy('name')).map((r) => r.name)).toEqual(['a', 'c', 'e']);
  });

  it('concurrent metric batches of several runs are each stored once, answered with their own outcome, latest values as if written one by one', async () => {
    const store = new RunStore(t.db);
    const [a, b] = [await store.insert(newRun()), await store.insert(newRun())];
    const at = (i: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString();
    const batch = (step: number, value: number) => [{ key: 'loss', value, step, timestamp: at(step) }, { key: 'acc', value: -value, step, timestamp: at(step) }];
    // Run a: 20 batch ids, each delivered twice at once; run b: 20 batches without an id; step 19 twice on b (the later call wins the tie).
    const calls = [
      ...Array.from({ length: 20 }, (_, i) => [store.appendMetrics(a.id, batch(i, i), `a-${i}`), store.appendMetrics(a.id, batch(i, i), `a-${i}`)]).flat(),
      ...Array.from({ length: 20 }, (_, i) => store.appendMetrics(b.id, batch(i, 100 + i))),
      store.appendMetrics(b.id, batch(19, 999)),
    ];
    const outcomes = await Promise.all(calls);
    const pairs = Array.from({ length: 20 }, (_, i) => [outcomes[2 * i], outcomes[2 * i + 1]].sort());
    expect(pairs).toEqual(Array.from({ length: 20 }, () => [false, true]));
    expect(outcomes.slice(40)).toEqual(Array.from({ length: 21 }, () => true));
    expect(await store.metrics(a.id, 'loss')).toHaveLength(20);
    expect(await store.metrics(b.id, 'loss')).toHaveLength(21);
    expect(await store.latestMetrics(a.id)).toEqual({ acc: { value: -19, step: 19, timestamp: at(19) }, loss: { value: 19, step: 19, timestamp: at(19) } });
    expect((await store.latestMetrics(b.id)).loss).toEqual({ value: 999, step: 19, timestamp: at(19) });
    // Sent again later, every id of run a is a repeat and stores nothing.
    expect(await Promise.all(Array.from({ length: 20 }, (_, i) => store.appendMetrics(a.id, batch(i, i), `a-${i}`)))).toEqual(Array.from({ length: 20 }, () => false));
    expect(await store.metrics(a.id, 'loss')).toHaveLength(20);
  });

  it('a metric batch for a run that is gone fails alone: the batches committed beside it are stored', async () => {
    const store = new RunStore(t.db);
    const run = await store.insert(newRun());
    const point = [{ key: 'loss', value: 1, step: 1, timestamp: new Date().toISOString() }];
    const outcomes = await Promise.allSettled([store.appendMetrics(run.id, point, 'x-1'), store.appendMetrics('trunmissing0', point, 'x-2'), store.appendMetrics(run.id, point, 'x-3')]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await store.metrics(run.id)).toHaveLength(2);
  });

  it('a metric batch for a run that has ended is refused alone, in the commit that stores the batches beside it', async () => {
    const store = new RunStore(t.db);
    const [live, ended] = [await store.insert(newRun()), await store.insert(newRun())];
    await store.transition(ended.id, Transitions.cancelledQueued, 'test');
    const point = [{ key: 'loss', value: 1, step: 1, timestamp: new Date().toISOString() }];
    const outcomes = await Promise.allSettled([
      store.appendMetrics(live.id, point, 'y-1'),
      store.appendMetrics(ended.id, point, 'y-2'),
      store.appendMetrics('trunmissing1', point),
      store.appendMetrics(live.id, point, 'y-1'),
      store.appendMetrics(live.id, point, 'y-3'),
    ]);
    const seen = outcomes.map((o) => (o.status === 'fulfilled' ? o.value : `${(o.reason as Error).constructor.name}: ${(o.reason as Error).message}`));
    expect(seen).toEqual([true, `Conflict: run ${ended.id} has ended (cancelled); it takes no more metrics`, 'NotFound: run trunmissing1 does not exist', false, true]);
    expect(await store.metrics(live.id)).toHaveLength(2);
    expect(await store.metrics(ended.id)).toHaveLength(0);
    // The refused batch's id was not recorded: it is not a repeat if it is ever sent to a live run.
    expect(await t.db('run_metric_batches').where({ run_id: ended.id })).toHaveLength(0);
  });

  it('concurrent registrations of one model get distinct consecutive versions, answered as read back', async () => {
    const registry = new RegistryStore(t.db);
    const model = await registry.createModel('m', '', {});
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => registry.addVersion(model, { artifactUri: `s3://b/${i}`, runId: null, metrics: { auc: i / 10 }, tags: { i: String(i) }, description: `v${i}`, actor: 'test' })),
    );
    expect(results.map((r) => r.version.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    for (const { version } of results) expect(version).toEqual(await registry.getVersion('m', version.version));
    const changes = await registry.changesAfter({ after: 0, limit: 100 });
    expect(changes.items.map((c) => c.toVersion).sort((a, b) => a! - b!)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
  });

  it('registrations of several models committed together get distinct consecutive versions per model; one run registered twice at once gets one version', async () => {
    const registry = new RegistryStore(t.db);
    const runs = new RunStore(t.db);
    const run = await runs.insert(newRun());
    const models = await Promise.all(['a', 'b', 'c'].map((name) => registry.createModel(name, '', {})));
    const add = (model: (typeof models)[number], i: number, runId: string | null = null) => registry.addVersion(model, { artifactUri: `s3://b/${model.name}/${i}`, runId, metrics: {}, tags: {}, description: `${model.name}-${i}`, actor: 'test' });
    const results = await Promise.all([...Array.from({ length: 30 }, (_, i) => add(models[i % 3], i)), add(models[0], 100, run.id), add(models[0], 101, run.id)]);
    const [first, second] = results.slice(30);
    expect([first.created, second.created].sort()).toEqual([false, true]);
    expect(first.version).toEqual(second.version);
    for (const [m, model] of models.entries()) {
      const mine = [...results.slice(0, 30).filter((_, i) => i % 3 === m), ...(m === 0 ? [first] : [])];
      expect(mine.map((r) => r.version.version).sort((x, y) => x - y)).toEqual(Array.from({ length: mine.length }, (_, i) => i + 1));
      for (const { version } of mine) expect(version).toEqual(await registry.getVersion(model.name, version.version));
    }
    expect((await registry.listVersions({ name: 'a', runId: run.id, limit: 10 })).items).toHaveLength(1);
    const changes = await registry.changesAfter({ after: 0, limit: 100 });
    expect(changes.items.filter((c) => c.kind === 'version_registered')).toHaveLength(31);
  });
});
