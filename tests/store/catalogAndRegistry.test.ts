import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CatalogStore } from '../../server/store/catalogStore.ts';
import { RegistryStore } from '../../server/store/registryStore.ts';
import { TokenStore } from '../../server/store/tokenStore.ts';
import { RunStore } from '../../server/store/runStore.ts';
import type { ResolvedRunSpec } from '../../server/domain/index.ts';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';

const model = { name: 'm', framework: 'f', codeUri: 'examples/x', entrypoint: 'python t.py', defaultHyperparameters: { a: 1 }, hyperparameterSchema: {}, description: '' };

describe.each(supportedDatabases())('catalog, registry and token stores on %s', (dbId) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await createTestDatabase(dbId);
  });
  afterEach(async () => t.destroy());

  it('versions models and keeps old versions immutable; concurrent writers get distinct versions', async () => {
    const store = new CatalogStore(t.db);
    const v1 = await store.createModel(model);
    const v2 = await store.createModel({ ...model, entrypoint: 'python t2.py' });
    expect([v1.version, v2.version]).toEqual([1, 2]);
    expect((await store.getModel('m', 1))!.entrypoint).toBe('python t.py');
    expect((await store.getModel('m'))!.version).toBe(2);
    const racing = await Promise.all([1, 2, 3].map(() => store.createModel(model)));
    expect(racing.map((m) => m.version).sort()).toEqual([3, 4, 5]);
  });

  it('registers one version per (model, run) and moves aliases', async () => {
    const runs = new RunStore(t.db);
    await runs.insert({ id: 'runaaaaaaaaa', workflowName: null, workflowVersion: null, spec: {} as ResolvedRunSpec, backend: 'local', trigger: 'http', triggerInfo: null, dagId: null, idempotencyKey: null, idempotencyGeneration: null, requestHash: null });
    const registry = new RegistryStore(t.db);
    const rm = await registry.ensureModel('reorder');
    const first = await registry.addVersion(rm, { artifactUri: 'a', runId: 'runaaaaaaaaa', metrics: { auc: 0.8 }, tags: {}, description: '', actor: 'token:t' });
    const again = await registry.addVersion(rm, { artifactUri: 'a', runId: 'runaaaaaaaaa', metrics: { auc: 0.8 }, tags: {}, description: '', actor: 'token:t' });
    expect(first.created).toBe(true);
    expect(again).toMatchObject({ created: false, version: { version: 1 } });
    const second = await registry.addVersion(rm, { artifactUri: 'b', runId: null, metrics: {}, tags: {}, description: 'retrained', actor: 'token:u' });
    // Registering touches the model (the database's trigger does it, with the change below).
    expect((await registry.getModel('reorder'))!.updatedAt).toBe(second.version.createdAt);
    const move = { actor: 'token:t', reason: 'test' };
    await registry.setAlias(rm, 'production', first.version, move);
    expect(await registry.setAlias(rm, 'production', second.version, move)).toEqual({ fromVersion: 1, moved: true });
    expect(await registry.setAlias(rm, 'production', second.version, move)).toEqual({ fromVersion: 2, moved: false });
    expect(await registry.aliases(rm.id)).toEqual({ production: 2 });
    // Two registrations and two moves (the repeated set is not a move), in commit order.
    const changes = await registry.changesAfter({ after: 0, limit: 10 });
    expect(changes.items.map((c) => [c.kind, c.fromVersion, c.toVersion, c.actor, c.reason])).toEqual([
      ['version_registered', null, 1, 'token:t', ''],
      ['version_registered', null, 2, 'token:u', 'retrained'],
      ['alias_moved', null, 1, 'token:t', 'test'],
      ['alias_moved', 1, 2, 'token:t', 'test'],
    ]);
    expect((await registry.getVersion('reorder', 2))!.aliases).toEqual(['production']);
    expect((await registry.getVersion('reorder', 1))!.aliases).toEqual([]);

    // A page of versions carries each version's own aliases, sorted, and no other model's.
    await registry.setAlias(rm, 'canary', first.version, move);
    await registry.setAlias(rm, 'b-side', first.version, move);
    const other = await registry.ensureModel('reorder-other');
    const elsewhere = await registry.addVersion(other, { artifactUri: 'c', runId: null, metrics: {}, tags: { k: 'v' }, description: 'd', actor: 'token:t' });
    await registry.setAlias(other, 'production', elsewhere.version, move);
    const page = await registry.listVersions({ name: 'reorder', limit: 10 });
    expect(page.items.map((v) => [v.name, v.version, v.aliases])).toEqual([
      ['reorder', 2, ['production']],
      ['reorder', 1, ['b-side', 'canary']],
    ]);
    expect(page.items[1]).toMatchObject({ artifactUri: 'a', runId: 'runaaaaaaaaa', metrics: { auc: 0.8 }, tags: {}, description: '' });
    expect((await registry.listVersions({ name: 'reorder-other', limit: 10 })).items).toMatchObject([{ name: 'reorder-other', version: 1, aliases: ['production'], tags: { k: 'v' }, description: 'd' }]);
  });

  it('finds tokens by hash only while they are not revoked', async () => {
    const tokens = new TokenStore(t.db);
    await tokens.insert({ id: 'abcdef0123456789', name: 'n', role: 'viewer', prefix: 'gft_abcd', tokenHash: 'h'.repeat(64) });
    expect(await tokens.findActiveByHash('h'.repeat(64))).toMatchObject({ role: 'viewer' });
    await tokens.revoke('abcdef0123456789');
    expect(await tokens.findActiveByHash('h'.repeat(64))).toBeUndefined();
  });
});
