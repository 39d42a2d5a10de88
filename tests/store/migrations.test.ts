import { afterEach, describe, expect, it } from 'vitest';
import { migrateLatest, migrateRollbackAll, pendingMigrations } from '../../server/db/migrate.ts';
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
});
