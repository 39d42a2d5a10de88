import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

const BOUND_MS = 300;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A replica's cached registry reads follow the registry's changes feed: two services on one
 * database, as two replicas are. What another replica changes is seen within the bound
 * (GRIFFIN_READ_CACHE_MS); what nothing changed stays cached past it. The database is edited by
 * hand (bypassing the feed) only to tell a cached answer from a fresh one.
 */
describe.each(supportedDatabases())('registry read cache following the changes feed on %s', (dbId) => {
  let t: TestDatabase;
  let a: TestService;
  let b: TestService;
  beforeAll(async () => {
    t = await createTestDatabase(dbId);
    const env = { GRIFFIN_READ_CACHE_MS: String(BOUND_MS) };
    a = await startTestService(t.db, { dataDir: t.dataDir, env });
    b = await startTestService(t.db, { dataDir: t.dataDir, env, loadExamples: false });
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    await t.destroy();
  });

  const versionRoute = (model: string) => `/api/v1/registry/models/${model}/versions/1`;
  const handEdit = (model: string, description: string) =>
    t.db('model_versions').whereIn('model_id', t.db('registered_models').where({ name: model }).select('id')).update({ description });
  const descriptionOn = async (svc: TestService, route: string) => {
    const res = await svc.admin(svc.request.get(route));
    expect(res.status).toBe(200);
    return (res.body.items?.[0] ?? res.body).description as string;
  };

  it('an unchanged version stays cached past the bound, and an edit on another replica reaches it within the bound', async () => {
    expect((await a.admin(a.request.post('/api/v1/registry/models/followed/versions')).send({ artifactUri: 's3://f/1', description: 'as registered' })).status).toBe(201);
    const list = '/api/v1/registry/models/followed/versions';
    await pause(BOUND_MS + 200); // b has followed the registration: what it caches now stays
    expect(await descriptionOn(b, versionRoute('followed'))).toBe('as registered');
    expect(await descriptionOn(b, list)).toBe('as registered');

    await handEdit('followed', 'edited by hand');
    await pause(BOUND_MS * 3);
    // No change in the feed: still the cached answers, well past the bound.
    expect(await descriptionOn(b, versionRoute('followed'))).toBe('as registered');
    expect(await descriptionOn(b, list)).toBe('as registered');

    // A tag edit on a is a change in the feed: b drops the model's entries and reads it again.
    expect((await a.admin(a.request.patch(versionRoute('followed'))).send({ tags: { stage: 'blue' } })).status).toBe(200);
    await pause(BOUND_MS + 200);
    const fresh = await b.admin(b.request.get(versionRoute('followed')));
    expect(fresh.body).toMatchObject({ description: 'edited by hand', tags: { stage: 'blue' } });
    expect(await descriptionOn(b, list)).toBe('edited by hand');
  });

  it('while the feed cannot be read, reads skip the cache and stay correct; once it can, they are cached again', async () => {
    expect((await a.admin(a.request.post('/api/v1/registry/models/unfollowed/versions')).send({ artifactUri: 's3://u/1', description: 'one' })).status).toBe(201);
    expect(await descriptionOn(b, versionRoute('unfollowed'))).toBe('one');

    await t.db.schema.renameTable('registry_changes', 'registry_changes_away');
    try {
      await handEdit('unfollowed', 'two');
      await pause(BOUND_MS + 200);
      // Past the bound with no way to check the cache: the database's answer, not a 500.
      expect(await descriptionOn(b, versionRoute('unfollowed'))).toBe('two');
      await handEdit('unfollowed', 'three');
      expect(await descriptionOn(b, versionRoute('unfollowed'))).toBe('three');
    } finally {
      await t.db.schema.renameTable('registry_changes_away', 'registry_changes');
    }
    // Following again. An edit on a (a change in the feed) drops whatever b kept from before; b
    // reads the version again and keeps it, so a hand edit after that is not seen however long one waits.
    expect((await a.admin(a.request.patch(versionRoute('unfollowed'))).send({ tags: { stage: 'green' } })).status).toBe(200);
    await pause(BOUND_MS + 200);
    expect((await b.admin(b.request.get(versionRoute('unfollowed')))).body).toMatchObject({ description: 'three', tags: { stage: 'green' } });
    await handEdit('unfollowed', 'four');
    await pause(BOUND_MS * 3);
    expect(await descriptionOn(b, versionRoute('unfollowed'))).toBe('three');
  });
});
