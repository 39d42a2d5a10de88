import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

/** Compare-and-set alias moves, alias history and the registry changes feed, on both databases. */
describe.each(supportedDatabases())('registry aliases and changes on %s', (dbId) => {
  let t: TestDatabase;
  let svc: TestService;
  let editor: string;
  beforeAll(async () => {
    t = await createTestDatabase(dbId);
    svc = await startTestService(t.db, { dataDir: t.dataDir });
    editor = await svc.tokenFor('editor');
  });
  afterAll(async () => {
    await svc.close();
    await t.destroy();
  });

  const api = (path: string) => `/api/v1${path}`;
  const asEditor = (req: any) => req.set('Authorization', `Bearer ${editor}`);
  const register = async (model: string, uri: string): Promise<number> => {
    const res = await svc.admin(svc.request.post(api(`/registry/models/${model}/versions`))).send({ artifactUri: uri });
    expect(res.status).toBe(201);
    return res.body.version;
  };
  const put = (model: string, alias: string, body: object, headers: Record<string, string> = {}) => {
    const req = asEditor(svc.request.put(api(`/registry/models/${model}/aliases/${alias}`)));
    for (const [k, v] of Object.entries(headers)) req.set(k, v);
    return req.send(body);
  };
  it('listing the versions of a model that does not exist is a 404 naming it; a page past the end of one that does is empty', async () => {
    await register('listed-model', 's3://bucket/listed/1');
    const missing = await svc.admin(svc.request.get(api('/registry/models/no-such-model/versions')));
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toContain('no-such-model');
    const listed = await svc.admin(svc.request.get(api('/registry/models/listed-model/versions')));
    expect(listed.body.items.map((v: { version: number }) => v.version)).toEqual([1]);
    const past = await svc.admin(svc.request.get(api('/registry/models/listed-model/versions?runId=run-that-never-was')));
    expect(past.status).toBe(200);
    expect(past.body.items).toEqual([]);
  });

  const history = async (model: string, alias: string) => (await svc.admin(svc.request.get(api(`/registry/models/${model}/aliases/${alias}/history`)))).body;

  it('moves an alias only when it points where the caller expects; 409 says where it is now', async () => {
    const [v1, v2, v3] = [await register('cas', 's3://m/1'), await register('cas', 's3://m/2'), await register('cas', 's3://m/3')];
    // null: "must be unset".
    expect((await put('cas', 'production', { version: v1, expectedVersion: null, reason: 'first' })).status).toBe(200);
    const again = await put('cas', 'production', { version: v2, expectedVersion: null });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'conflict', field: 'expectedVersion' });
    expect(again.body.error.message).toMatch(/expected it unset, but it points at version 1/);

    const stale = await put('cas', 'production', { version: v3, expectedVersion: v2 });
    expect(stale.status).toBe(409);
    expect(stale.body.error.message).toMatch(/expected it at version 2, but it points at version 1/);
    expect((await svc.admin(svc.request.get(api('/registry/models/cas/aliases/production')))).body.version).toBe(v1);

    const moved = await put('cas', 'production', { version: v2, expectedVersion: v1, reason: 'better auc' });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({ version: v2, aliases: ['production'] });
    expect(moved.headers.etag).toBe(`"${v2}"`);
    // Without a condition it moves from anywhere, as before.
    expect((await put('cas', 'production', { version: v3 })).status).toBe(200);
  });

  it('takes the condition from If-Match (the ETag of GET) or If-None-Match: *, and refuses a malformed one', async () => {
    const [v1, v2] = [await register('etag', 's3://e/1'), await register('etag', 's3://e/2')];
    expect((await put('etag', 'staging', { version: v1 }, { 'If-None-Match': '*' })).status).toBe(200);
    expect((await put('etag', 'staging', { version: v2 }, { 'If-None-Match': '*' })).status).toBe(409);
    const read = await svc.admin(svc.request.get(api('/registry/models/etag/aliases/staging')));
    expect(read.headers.etag).toBe(`"${v1}"`);
    expect((await put('etag', 'staging', { version: v2 }, { 'If-Match': read.headers.etag })).status).toBe(200);
    const lost = await put('etag', 'staging', { version: v1 }, { 'If-Match': read.headers.etag });
    expect(lost.status).toBe(409);
    expect(lost.body.error.message).toMatch(/points at version 2/);

    const bad = await put('etag', 'staging', { version: v1 }, { 'If-Match': 'latest' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe('If-Match');
    const disagree = await put('etag', 'staging', { version: v1, expectedVersion: v1 }, { 'If-Match': `"${v2}"` });
    expect(disagree.status).toBe(400);
    expect(disagree.body.error.field).toBe('expectedVersion');
    const wrongType = await put('etag', 'staging', { version: v1, expectedVersion: 'v2' });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.error.field).toBe('expectedVersion');
    // Nothing of the refused requests moved it.
    expect((await svc.admin(svc.request.get(api('/registry/models/etag/aliases/staging')))).body.version).toBe(v2);
  });

  it('of two concurrent moves from the same expected version exactly one wins; the loser gets 409', async () => {
    const [v1, v2, v3] = [await register('race', 's3://r/1'), await register('race', 's3://r/2'), await register('race', 's3://r/3')];
    expect((await put('race', 'production', { version: v1 })).status).toBe(200);
    const [a, b] = await Promise.all([put('race', 'production', { version: v2, expectedVersion: v1 }), put('race', 'production', { version: v3, expectedVersion: v1 })]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    const winner = a.status === 200 ? v2 : v3;
    const loser = a.status === 200 ? b : a;
    expect(loser.body.error.message).toMatch(new RegExp(`expected it at version ${v1}, but it points at version ${winner}`));
    expect((await svc.admin(svc.request.get(api('/registry/models/race/aliases/production')))).body.version).toBe(winner);
    // The history holds the winner's move only.
    const moves = (await history('race', 'production')).items;
    expect(moves.map((m: any) => [m.fromVersion, m.toVersion])).toEqual([[v1, winner], [null, v1]]);

    // A burst from one expected version, and a burst of first-time sets: one winner each. The burst
    // moves to the other versions only: setting the alias to the version it holds is no move and a
    // 200 whenever it comes before the winning move.
    const [x, y] = [v1, v2, v3].filter((v) => v !== winner);
    const burst = await Promise.all([x, y, x, y, x, y].map((v) => put('race', 'production', { version: v, expectedVersion: winner })));
    expect(burst.filter((r) => r.status === 200)).toHaveLength(1);
    expect(burst.filter((r) => r.status === 409)).toHaveLength(5);
    const firsts = await Promise.all([v1, v2, v3].map((v) => put('race', 'canary', { version: v, expectedVersion: null })));
    expect(firsts.map((r) => r.status).sort()).toEqual([200, 409, 409]);
    expect((await history('race', 'canary')).items).toHaveLength(1);
  });

  it('records every move with who, when, from, to and why, newest first; removal too; pages', async () => {
    const [v1, v2] = [await register('hist', 's3://h/1'), await register('hist', 's3://h/2')];
    const before = new Date().toISOString();
    await put('hist', 'production', { version: v1, reason: 'initial' });
    await put('hist', 'production', { version: v1, reason: 'no-op: already there' });
    await put('hist', 'production', { version: v2, expectedVersion: v1, reason: 'val_auc 0.91 > 0.88' });
    expect((await svc.admin(svc.request.delete(api('/registry/models/hist/aliases/production?reason=retired')))).status).toBe(204);
    const h = await history('hist', 'production');
    expect(h.items).toEqual([
      expect.objectContaining({ kind: 'alias_removed', fromVersion: v2, toVersion: null, actor: expect.stringMatching(/^token:admin/), reason: 'retired' }),
      expect.objectContaining({ kind: 'alias_moved', fromVersion: v1, toVersion: v2, actor: 'token:test-editor', reason: 'val_auc 0.91 > 0.88' }),
      expect.objectContaining({ kind: 'alias_moved', fromVersion: null, toVersion: v1, actor: 'token:test-editor', reason: 'initial' }),
    ]);
    for (const m of h.items) expect(m.at >= before).toBe(true);
    const page1 = await svc.admin(svc.request.get(api('/registry/models/hist/aliases/production/history?limit=2')));
    expect(page1.body.items).toHaveLength(2);
    const page2 = await svc.admin(svc.request.get(api(`/registry/models/hist/aliases/production/history?limit=2&pageToken=${page1.body.nextPageToken}`)));
    expect(page2.body.items.map((m: any) => m.reason)).toEqual(['initial']);
    expect(page2.body.nextPageToken).toBeNull();
    // Registering with aliases moves them too, and says so.
    await svc.admin(svc.request.post(api('/registry/models/hist/versions'))).send({ artifactUri: 's3://h/3', aliases: ['production'] });
    expect((await history('hist', 'production')).items[0]).toMatchObject({ fromVersion: null, toVersion: 3, reason: 'registered version 3 with this alias' });
    expect((await svc.admin(svc.request.get(api('/registry/models/nope/aliases/production/history')))).status).toBe(404);
  });

  it('registrations and alias moves of one model at once all succeed, each with its own number and change', async () => {
    await register('busy', 's3://b/0');
    const head = (await svc.admin(svc.request.get(api('/registry/changes?limit=1')))).body.head;
    const statuses: number[] = [];
    let moves = 0;
    await Promise.all(
      Array.from({ length: 6 }, async (_, worker) => {
        for (let i = 0; i < 8; i += 1) {
          const res = await svc.admin(svc.request.post(api('/registry/models/busy/versions'))).send({ artifactUri: `s3://b/${worker}-${i}` });
          statuses.push(res.status);
          if (res.status !== 201 || i % 2 === 1) continue;
          const moved = await put('busy', 'production', { version: res.body.version, reason: `worker ${worker}` });
          statuses.push(moved.status);
          if (moved.status === 200) moves += 1;
        }
      }),
    );
    expect(statuses.filter((s) => s !== 200 && s !== 201)).toEqual([]);
    const listed = (await svc.admin(svc.request.get(api('/registry/models/busy/versions?limit=100')))).body.items.map((v: { version: number }) => v.version);
    expect(listed).toEqual(Array.from({ length: 49 }, (_, k) => 49 - k));
    const feed = (await svc.admin(svc.request.get(api(`/registry/changes?after=${head}&model=busy&limit=500`)))).body.items;
    expect(feed.filter((c: any) => c.kind === 'version_registered')).toHaveLength(48);
    // Every move names a version no other move names: each one is recorded.
    expect(feed.filter((c: any) => c.kind === 'alias_moved')).toHaveLength(moves);
    expect(moves).toBe(24);
  });

  it('the changes feed returns what changed after a cursor, oldest first, bounded, filtered by model and alias', async () => {
    const head = (await svc.admin(svc.request.get(api('/registry/changes?limit=1')))).body.head;
    const v1 = await register('feed', 's3://f/1');
    const v2 = await register('feed', 's3://f/2');
    await register('other-model', 's3://o/1');
    await put('feed', 'production', { version: v1 });
    await put('feed', 'production', { version: v2, expectedVersion: v1, reason: 'promote' });

    const all = (await svc.admin(svc.request.get(api(`/registry/changes?after=${head}&model=feed`)))).body;
    expect(all.items.map((c: any) => [c.kind, c.alias, c.fromVersion, c.toVersion])).toEqual([
      ['version_registered', null, null, v1],
      ['version_registered', null, null, v2],
      ['alias_moved', 'production', null, v1],
      ['alias_moved', 'production', v1, v2],
    ]);
    expect(all.items.every((c: any) => c.model === 'feed')).toBe(true);
    expect(all.cursor).toBe(all.items[3].id);
    expect(all.hasMore).toBe(false);
    // Nothing new after the cursor; the cursor stays.
    const none = (await svc.admin(svc.request.get(api(`/registry/changes?after=${all.cursor}&model=feed`)))).body;
    expect(none).toMatchObject({ items: [], cursor: all.cursor, hasMore: false });

    // Bounded pages that continue at the cursor.
    const p1 = (await svc.admin(svc.request.get(api(`/registry/changes?after=${head}&limit=2`)))).body;
    expect(p1.items).toHaveLength(2);
    expect(p1.hasMore).toBe(true);
    const p2 = (await svc.admin(svc.request.get(api(`/registry/changes?after=${p1.cursor}&limit=10`)))).body;
    expect(p2.items.map((c: any) => c.id)[0]).toBeGreaterThan(p1.cursor);
    expect(p1.items.length + p2.items.length).toBe(5);

    const moves = (await svc.admin(svc.request.get(api(`/registry/changes?after=${head}&model=feed&alias=production&kind=alias_moved`)))).body;
    expect(moves.items.map((c: any) => c.toVersion)).toEqual([v1, v2]);

    const viewer = await svc.tokenFor('viewer');
    expect((await svc.request.get(api('/registry/changes')).set('Authorization', `Bearer ${viewer}`)).status).toBe(200);
    const badKind = await svc.admin(svc.request.get(api('/registry/changes?kind=deleted')));
    expect(badKind.status).toBe(400);
    expect(badKind.body.error.field).toMatch(/^kind/);
    expect((await svc.admin(svc.request.get(api('/registry/changes?after=-1')))).body.error.field).toBe('after');
    expect((await svc.admin(svc.request.get(api('/registry/changes?model=nope')))).status).toBe(404);
  });

  it("an edit of a version's tags or description is a change in the feed, naming who made it and what", async () => {
    const v1 = await register('edited', 's3://e/1');
    const head = (await svc.admin(svc.request.get(api('/registry/changes?limit=1')))).body.head;
    const edit = (body: object) => asEditor(svc.request.patch(api(`/registry/models/edited/versions/${v1}`))).send(body);
    expect((await edit({ tags: { stage: 'blue', owner: 'ml' } })).status).toBe(200);
    expect((await edit({ description: 'the first one' })).status).toBe(200);
    // Nothing to change (no tag given): no change recorded, and the version is as it was.
    const nothing = await edit({ tags: {} });
    expect(nothing.status).toBe(200);
    expect(nothing.body).toMatchObject({ tags: { stage: 'blue', owner: 'ml' }, description: 'the first one' });

    const feed = (await svc.admin(svc.request.get(api(`/registry/changes?after=${head}&model=edited`)))).body;
    expect(feed.items.map((c: any) => [c.kind, c.alias, c.toVersion, c.reason])).toEqual([
      ['version_updated', null, v1, 'set tags stage, owner'],
      ['version_updated', null, v1, 'replaced the description'],
    ]);
    expect(feed.items[0].actor).toMatch(/^token:/);
    const onlyEdits = (await svc.admin(svc.request.get(api(`/registry/changes?after=${head}&kind=version_updated`)))).body;
    expect(onlyEdits.items).toHaveLength(2);
    // Registrations and alias moves only, as the Airflow provider's watcher asks by default.
    const withoutEdits = (await svc.admin(svc.request.get(api(`/registry/changes?after=${head}&kind=version_registered,alias_moved,alias_removed`)))).body;
    expect(withoutEdits.items).toEqual([]);
  });
});
