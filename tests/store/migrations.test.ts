import { afterEach, describe, expect, it } from 'vitest';
import { migrateLatest, migrateOne, migrateRollbackAll, pendingMigrations } from '../../server/db/migrate.ts';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';

describe.each(supportedDatabases())('migrations on %s', (dbId) => {
  let t: TestDatabase;
  afterEach(async () => t.destroy());

  it('go up with data in the tables, down to nothing, and up again', async () => {
    t = await createTestDatabase(dbId, { migrate: false });
    expect((await pendingMigrations(t.db)).length).toBeGreaterThan(0);
    await migrateLatest(t.db);
    expect(await pendingMigrations(t.db)).toEqual([]);
    await t.db('features').insert({ name: 'f', entity_key: 'user', dtype: 'int', source: 's', description: '', created_at: 'x', updated_at: 'x' });
    const [model] = await t.db('registered_models').insert({ name: 'm', description: '', tags: '{}', created_at: 'x', updated_at: 'x' }).returning('id');
    await t.db('registry_changes').insert({ model_id: typeof model === 'object' ? model.id : model, kind: 'alias_moved', alias: 'production', from_version: null, to_version: 1, actor: 'token:t', reason: '', created_at: 'x' });
    await migrateRollbackAll(t.db);
    expect(await t.db.schema.hasTable('registry_changes')).toBe(false);
    expect(await t.db.schema.hasTable('runs')).toBe(false);
    expect(await t.db.schema.hasTable('features')).toBe(false);
    await migrateLatest(t.db);
    expect(await t.db.schema.hasTable('runs')).toBe(true);
    expect(await t.db('features').count({ n: '*' })).toEqual([{ n: dbId === 'postgres' ? '0' : 0 }]);
  });

  it('queues: runs stored before them wait in "default", and the active ones hold what their specs request', async () => {
    t = await createTestDatabase(dbId);
    await migrateOne(t.db, '20261203020000_queues.ts', 'down');
    const now = new Date().toISOString();
    const spec = (resources: object) => JSON.stringify({ resources });
    await t.db('runs').insert([
      { id: 'before1', state: 'running', attempt: 1, spec: spec({ gpu: 2, cpu: 4, workers: 3 }), backend: 'kuberay', trigger: 'http', created_at: now, updated_at: now },
      { id: 'before2', state: 'queued', attempt: 1, spec: spec({ gpu: 1 }), backend: 'local', trigger: 'http', created_at: now, updated_at: now },
      { id: 'before3', state: 'succeeded', attempt: 1, spec: spec({ gpu: 8 }), backend: 'local', trigger: 'http', created_at: now, updated_at: now },
    ]);
    await migrateOne(t.db, '20261203020000_queues.ts', 'up');
    const rows = await t.db('runs').orderBy('id').select('id', 'queue', 'priority', 'requested_gpu', 'requested_cpu');
    expect(rows.map((r) => ({ ...r, requested_gpu: Number(r.requested_gpu), requested_cpu: Number(r.requested_cpu) }))).toEqual([
      { id: 'before1', queue: 'default', priority: 0, requested_gpu: 8, requested_cpu: 16 },
      { id: 'before2', queue: 'default', priority: 0, requested_gpu: 1, requested_cpu: 0 },
      // An ended run counts against nothing.
      { id: 'before3', queue: 'default', priority: 0, requested_gpu: 0, requested_cpu: 0 },
    ]);
    expect((await t.db('queues').select('name', 'max_concurrent_runs')).map((q) => q.name)).toEqual(['default']);
  });
});
