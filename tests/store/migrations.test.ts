import { afterEach, describe, expect, it } from 'vitest';
import { migrateLatest, migrateOne, migrateRollbackAll, pendingMigrations } from '../../server/db/migrate.ts';
import { RegistryStore } from '../../server/store/registryStore.ts';
import { RunStore } from '../../server/store/runStore.ts';
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

  it('metric points stored one row each before the chunked store read the same after it, and again after going back down', async () => {
    t = await createTestDatabase(dbId);
    await migrateOne(t.db, '20261204010000_metric_chunks.ts', 'down');
    const now = new Date().toISOString();
    await t.db('runs').insert(['r1', 'r2'].map((id) => ({ id, state: 'running', attempt: 1, spec: '{}', backend: 'local', trigger: 'http', queue: 'default', created_at: now, updated_at: now })));
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
    // 2,500 points of one key (more than one chunk), a repeated step, and a second key and run.
    const rows = [
      ...Array.from({ length: 2500 }, (_, i) => ({ run_id: 'r1', key: 'loss', value: 1 / (i + 1), step: i, timestamp: at(i % 60) })),
      { run_id: 'r1', key: 'loss', value: 0.25, step: 2499, timestamp: at(7) },
      { run_id: 'r1', key: 'auc', value: 0.8, step: 3, timestamp: at(1) },
      { run_id: 'r1', key: 'auc', value: 0.7, step: 1, timestamp: at(2) },
      { run_id: 'r2', key: 'loss', value: 2, step: 0, timestamp: at(3) },
    ];
    for (let i = 0; i < rows.length; i += 400) await t.db('run_metrics').insert(rows.slice(i, i + 400));
    await migrateOne(t.db, '20261204010000_metric_chunks.ts', 'up');
    const store = new RunStore(t.db);
    const loss = await store.metrics('r1', 'loss');
    expect(loss).toHaveLength(2501);
    expect(loss.slice(-2)).toEqual([
      { key: 'loss', value: 1 / 2500, step: 2499, timestamp: at(2499 % 60) },
      { key: 'loss', value: 0.25, step: 2499, timestamp: at(7) },
    ]);
    expect((await store.metrics('r1', 'auc')).map((m) => m.step)).toEqual([1, 3]);
    expect(Object.fromEntries([...(await store.latestMetricsOf(['r1', 'r2']))])).toEqual({
      r1: { loss: { value: 0.25, step: 2499, timestamp: at(7) }, auc: { value: 0.8, step: 3, timestamp: at(1) } },
      r2: { loss: { value: 2, step: 0, timestamp: at(3) } },
    });
    await migrateOne(t.db, '20261204010000_metric_chunks.ts', 'down');
    expect(await t.db.schema.hasTable('run_metric_chunks')).toBe(false);
    const back = await t.db('run_metrics').where({ run_id: 'r1', key: 'loss' }).orderBy('id');
    expect(back).toHaveLength(2501);
    expect(back.at(-1)).toMatchObject({ value: 0.25, timestamp: at(7) });
    expect(Number(back.at(-1).step)).toBe(2499);
  });

  it('the registration trigger: going down keeps every version and change, and up again records who registers', async () => {
    t = await createTestDatabase(dbId);
    const MIGRATION = '20261205010000_version_registered_trigger.ts';
    const version = (actor: string, description: string) => ({ artifactUri: 's3://m', runId: null, metrics: { auc: 0.9 }, tags: { team: 'ads' }, description, actor });
    const changes = async () => (await t.db('registry_changes').orderBy('id').select('kind', 'to_version', 'actor', 'reason')).map((c) => [c.kind, Number(c.to_version), c.actor, c.reason]);
    let registry = new RegistryStore(t.db);
    const model = await registry.ensureModelRef('reorder');
    await registry.addVersion(model, version('token:a', 'first'));
    await registry.addVersion(model, version('token:b', 'second'));

    await migrateOne(t.db, MIGRATION, 'down');
    expect(await t.db.schema.hasColumn('model_versions', 'registered_by')).toBe(false);
    const kept = await t.db('model_versions').orderBy('version').select('version', 'artifact_uri', 'tags', 'description');
    expect(kept.map((v) => [Number(v.version), v.artifact_uri, JSON.parse(v.tags), v.description])).toEqual([
      [1, 's3://m', { team: 'ads' }, 'first'],
      [2, 's3://m', { team: 'ads' }, 'second'],
    ]);
    expect(await changes()).toEqual([
      ['version_registered', 1, 'token:a', 'first'],
      ['version_registered', 2, 'token:b', 'second'],
    ]);
    // Without the trigger a version's insert writes nothing else (the code before it wrote the change itself).
    const now = new Date().toISOString();
    await t.db('model_versions').insert({ model_id: model.id, version: 3, artifact_uri: 's3://m', run_id: null, metrics: '{}', tags: '{}', description: '', created_at: now });
    expect(await changes()).toHaveLength(2);

    await migrateOne(t.db, MIGRATION, 'up');
    expect((await t.db('model_versions').where({ version: 3 }).first()).registered_by).toBe('');
    registry = new RegistryStore(t.db);
    const fourth = await registry.addVersion(await registry.ensureModelRef('reorder'), version('token:c', 'fourth'));
    expect(fourth.version.version).toBe(4);
    expect((await changes()).at(-1)).toEqual(['version_registered', 4, 'token:c', 'fourth']);
  });
});
