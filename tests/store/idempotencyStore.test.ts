import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrateOne } from '../../server/db/migrate.ts';
import { IdempotencyStore } from '../../server/store/idempotencyStore.ts';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';

const MIGRATION = '20261201020000_idempotency_owners_and_namespaces.ts';
const later = (ms: number) => new Date(Date.now() + ms).toISOString();

describe.each(supportedDatabases())('idempotency keys on %s', (dbId) => {
  let t: TestDatabase;
  let store: IdempotencyStore;
  beforeEach(async () => {
    t = await createTestDatabase(dbId);
    store = new IdempotencyStore(t.db);
  });
  afterEach(async () => t.destroy());

  it('of several instances taking over a dead owner\'s key, exactly one wins', async () => {
    expect(await store.reserve('s', 'k', 'h', 'dead', later(-1000))).toBe(true);
    const seen = (await store.get('s', 'k'))!;
    const wins = await Promise.all(['a', 'b', 'c', 'd'].map((owner) => store.takeOver('s', 'k', seen, owner, later(60_000))));
    expect(wins.filter(Boolean)).toHaveLength(1);
    const winner = ['a', 'b', 'c', 'd'][wins.indexOf(true)];
    expect((await store.get('s', 'k'))!.owner).toBe(winner);
  });

  it('an owner whose key was taken over can neither renew it, answer it, nor release it', async () => {
    await store.reserve('s', 'k', 'h', 'slow', later(-1000));
    expect(await store.takeOver('s', 'k', (await store.get('s', 'k'))!, 'new', later(60_000))).toBe(true);
    expect(await store.renew('s', 'k', 'slow', later(60_000))).toBe(false);
    await store.complete('s', 'k', 'slow', 201, '{"from":"slow"}');
    await store.release('s', 'k', 'slow');
    expect(await store.get('s', 'k')).toMatchObject({ owner: 'new', status: null });
    await store.complete('s', 'k', 'new', 201, '{"from":"new"}');
    expect(await store.get('s', 'k')).toMatchObject({ status: 201, responseBody: '{"from":"new"}', leaseExpiresAt: null });
  });

  it('a finished key cannot be taken over', async () => {
    await store.reserve('s', 'k', 'h', 'a', later(-1000));
    const seen = (await store.get('s', 'k'))!;
    await store.complete('s', 'k', 'a', 200, 'null');
    expect(await store.takeOver('s', 'k', seen, 'b', later(60_000))).toBe(false);
  });

  it('the migration deletes stored answers holding token secrets and frees squatted schedule keys, keeping the rest', async () => {
    await migrateOne(t.db, MIGRATION, 'down');
    const now = new Date().toISOString();
    await t.db('idempotency_keys').insert([
      { scope: 's', key: 'made-token', request_hash: 'h', status: 201, response_body: '{"id":"abc","token":"gft_secretsecret"}', created_at: now },
      { scope: 's', key: 'run-token', request_hash: 'h', status: 200, response_body: '{"env":"GRIFFIN_RUN_TOKEN=grt_x_y"}', created_at: now },
      { scope: 's', key: 'plain', request_hash: 'h', status: 201, response_body: '{"name":"gft-model"}', created_at: now },
    ]);
    const run = (id: string, key: string, trigger: string) => ({
      id,
      state: 'queued',
      attempt: 1,
      spec: '{}',
      backend: 'local',
      trigger,
      idempotency_key: key,
      idempotency_generation: 1,
      request_hash: 'h',
      created_at: now,
      updated_at: now,
    });
    await t.db('runs').insert([run('squat00000001', 'schedule:abc:2031-01-01T00:00:00.000Z', 'http'), run('fired00000001', 'schedule:abc:2030-01-01T00:00:00.000Z', 'schedule'), run('client0000001', 'nightly-1', 'http')]);

    await migrateOne(t.db, MIGRATION, 'up');
    expect((await t.db('idempotency_keys').select('key')).map((r: { key: string }) => r.key)).toEqual(['plain']);
    const keys = Object.fromEntries(((await t.db('runs').select('id', 'idempotency_key')) as Array<{ id: string; idempotency_key: string | null }>).map((r) => [r.id, r.idempotency_key]));
    expect(keys).toEqual({ squat00000001: null, fired00000001: 'schedule:abc:2030-01-01T00:00:00.000Z', client0000001: 'nightly-1' });
  });
});
