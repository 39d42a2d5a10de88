import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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
});
