import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

const BOUND_MS = 300;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Cached reads stay correct across replicas: two services on one database, as two replicas are.
 * The replica that changes something serves the change at once; the other within its stated bound
 * (GRIFFIN_READ_CACHE_MS, GRIFFIN_AUTH_CACHE_MS; set short here so the test can wait past it).
 * ETags: a poller that sends If-None-Match gets 304 while nothing changed, and the new body once
 * something did. Registry reads follow the registry's changes feed: what nothing changed stays
 * cached past the bound. The database is edited by hand (bypassing the feed) only to tell a
 * cached answer from a fresh one.
 */
describe.each(supportedDatabases())('read cache, ETags and revocation across replicas on %s', (dbId) => {
  let t: TestDatabase;
  let a: TestService;
  let b: TestService;
  beforeAll(async () => {
    t = await createTestDatabase(dbId);
    const env = { GRIFFIN_READ_CACHE_MS: String(BOUND_MS), GRIFFIN_AUTH_CACHE_MS: String(BOUND_MS) };
    a = await startTestService(t.db, { dataDir: t.dataDir, env });
    b = await startTestService(t.db, { dataDir: t.dataDir, env, loadExamples: false });
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    await t.destroy();
  });

  it('a finished run answers 304 to its ETag, and a new ETag once it is consumed, on every replica', async () => {
    const submitted = await a.admin(a.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder' });
    expect(submitted.status).toBe(201);
    const id = submitted.body.id;
    // Still queued: not cached, every read sees the current state.
    const queued = await b.admin(b.request.get(`/api/v1/runs/${id}`));
    expect(queued.body.state).toBe('queued');
    await a.admin(a.request.post(`/api/v1/runs/${id}/cancel`)).send({});
    const first = await b.admin(b.request.get(`/api/v1/runs/${id}`));
    expect(first.body.state).toBe('cancelled');
    const etag = first.headers.etag;
    expect(etag).toMatch(/^"/);
    const unchanged = await b.admin(b.request.get(`/api/v1/runs/${id}`)).set('If-None-Match', etag);
    expect(unchanged.status).toBe(304);
    expect(unchanged.text ?? '').toBe('');
    expect((await a.admin(a.request.get(`/api/v1/runs/${id}`))).body.consumedByTry).toBeNull(); // cached on a too

    await a.admin(a.request.post(`/api/v1/runs/${id}/consume`)).send({ tryNumber: 1 });
    // The replica that changed it: at once.
    const onA = await a.admin(a.request.get(`/api/v1/runs/${id}`)).set('If-None-Match', etag);
    expect(onA.status).toBe(200);
    expect(onA.body.consumedByTry).toBe(1);
    // The other replica: within its bound.
    await pause(BOUND_MS + 200);
    const onB = await b.admin(b.request.get(`/api/v1/runs/${id}`)).set('If-None-Match', etag);
    expect(onB.status).toBe(200);
    expect(onB.body.consumedByTry).toBe(1);
    expect(onB.headers.etag).not.toBe(etag);
  });

  it('an alias that moves is served at once by the replica that moved it and within the bound by the others', async () => {
    for (const uri of ['s3://models/v1', 's3://models/v2']) {
      const created = await a.admin(a.request.post('/api/v1/registry/models/cached-model/versions')).send({ artifactUri: uri });
      expect(created.status).toBe(201);
    }
    expect((await a.admin(a.request.put('/api/v1/registry/models/cached-model/aliases/production')).send({ version: 1 })).status).toBe(200);
    const route = '/api/v1/registry/models/cached-model/aliases/production';
    const onB = await b.admin(b.request.get(route));
    expect(onB.body.version).toBe(1);
    expect((await b.admin(b.request.get(route)).set('If-None-Match', onB.headers.etag)).status).toBe(304);
    expect((await a.admin(a.request.get(route))).body.version).toBe(1);

    await a.admin(a.request.put(route)).send({ version: 2 });
    expect((await a.admin(a.request.get(route))).body.version).toBe(2);
    await pause(BOUND_MS + 200);
    const moved = await b.admin(b.request.get(route)).set('If-None-Match', onB.headers.etag);
    expect(moved.status).toBe(200);
    expect(moved.body.version).toBe(2);

    // Tags on a version change its cached view too; a removed alias is a 404 at once.
    await a.admin(a.request.patch('/api/v1/registry/models/cached-model/versions/2')).send({ tags: { stage: 'blue' } });
    expect((await a.admin(a.request.get('/api/v1/registry/models/cached-model/versions/2'))).body.tags).toMatchObject({ stage: 'blue' });
    expect((await a.admin(a.request.get(route))).body.tags).toMatchObject({ stage: 'blue' });
    await a.admin(a.request.delete(route));
    expect((await a.admin(a.request.get(route))).status).toBe(404);
  });

  it("a model's version list is served changed at once by the replica that changed it, within the bound by the others", async () => {
    const list = '/api/v1/registry/models/listed-model/versions?limit=2';
    // No such model: a 404 that is not remembered once the model exists.
    expect((await b.admin(b.request.get(list))).status).toBe(404);
    expect((await a.admin(a.request.post('/api/v1/registry/models/listed-model/versions')).send({ artifactUri: 's3://m/v1' })).status).toBe(201);
    expect((await a.admin(a.request.get(list))).body.items.map((v: { version: number }) => v.version)).toEqual([1]);
    await pause(BOUND_MS + 200);
    const onB = await b.admin(b.request.get(list));
    expect(onB.body.items.map((v: { version: number }) => v.version)).toEqual([1]);
    const etag = onB.headers.etag;
    expect(etag).toMatch(/^"/);
    expect((await b.admin(b.request.get(list)).set('If-None-Match', etag)).status).toBe(304);

    // A registration, a tag and an alias on a: a's list shows each at once.
    await a.admin(a.request.post('/api/v1/registry/models/listed-model/versions')).send({ artifactUri: 's3://m/v2' });
    expect((await a.admin(a.request.get(list))).body.items.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    await a.admin(a.request.patch('/api/v1/registry/models/listed-model/versions/1')).send({ tags: { stage: 'blue' }, description: 'first' });
    const tagged = (await a.admin(a.request.get(list))).body.items[1];
    expect(tagged).toMatchObject({ version: 1, tags: { stage: 'blue' }, description: 'first' });
    await a.admin(a.request.put('/api/v1/registry/models/listed-model/aliases/production')).send({ version: 1 });
    expect((await a.admin(a.request.get(list))).body.items[1].aliases).toEqual(['production']);
    // Pages are cached apart: the second page, and a different limit, are right too.
    const page1 = await a.admin(a.request.get('/api/v1/registry/models/listed-model/versions?limit=1'));
    expect(page1.body.items.map((v: { version: number }) => v.version)).toEqual([2]);
    const page2 = await a.admin(a.request.get(`/api/v1/registry/models/listed-model/versions?limit=1&pageToken=${encodeURIComponent(page1.body.nextPageToken)}`));
    expect(page2.body.items.map((v: { version: number }) => v.version)).toEqual([1]);

    // b: the old page until the bound passes, then all of a's changes, and a new ETag.
    await pause(BOUND_MS + 200);
    const changed = await b.admin(b.request.get(list)).set('If-None-Match', etag);
    expect(changed.status).toBe(200);
    expect(changed.headers.etag).not.toBe(etag);
    expect(changed.body.items.map((v: { version: number; aliases: string[] }) => [v.version, v.aliases])).toEqual([
      [2, []],
      [1, ['production']],
    ]);
    expect(changed.body.items[1].tags).toMatchObject({ stage: 'blue' });
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

  it('a revoked token is refused at once where it was revoked and within the bound on the other replica', async () => {
    const created = await a.admin(a.request.post('/api/v1/tokens')).send({ name: 'poller', role: 'viewer' });
    expect(created.status).toBe(201);
    const secret = created.body.token as string;
    const asToken = (svc: TestService) => svc.request.get('/api/v1/runs').set('Authorization', `Bearer ${secret}`);
    expect((await asToken(a)).status).toBe(200);
    expect((await asToken(b)).status).toBe(200); // now trusted by b's cache
    expect((await a.admin(a.request.delete(`/api/v1/tokens/${created.body.id}`))).status).toBe(204);
    expect((await asToken(a)).status).toBe(401);
    await pause(BOUND_MS + 200);
    expect((await asToken(b)).status).toBe(401);
  });
});
