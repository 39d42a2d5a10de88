import { describe, expect, it } from 'vitest';
import { supportedDatabases } from '../helpers/databases.ts';
import { useTestService } from '../helpers/service.ts';

describe.each(supportedDatabases())('Idempotency-Key on mutating POSTs on %s', (dbId) => {
  const { svc, t } = useTestService(dbId);

  const register = (key: string, artifactUri: string) =>
    svc.admin(svc.request.post('/api/v1/registry/models/ext-model/versions')).set('Idempotency-Key', key).send({ artifactUri });

  it('a retried registration replays the first answer instead of adding a second version', async () => {
    const first = await register('reg-1', 's3://bucket/model-a');
    const retry = await register('reg-1', 's3://bucket/model-a');
    expect(first.status).toBe(201);
    expect(retry.status).toBe(201);
    expect(retry.body).toEqual(first.body);
    const versions = await svc.admin(svc.request.get('/api/v1/registry/models/ext-model/versions'));
    expect(versions.body.items).toHaveLength(1);
  });

  it('the same key with another body is a 409 naming the header, and stores nothing', async () => {
    await register('reg-2', 's3://bucket/model-b');
    const other = await register('reg-2', 's3://bucket/model-c');
    expect(other.status).toBe(409);
    expect(other.body.error.field).toBe('Idempotency-Key');
    const versions = await svc.admin(svc.request.get('/api/v1/registry/models/ext-model/versions'));
    expect(versions.body.items.map((v: { artifactUri: string }) => v.artifactUri)).not.toContain('s3://bucket/model-c');
  });

  it('a failed first attempt does not burn the key: once the cause is fixed, the same request under it succeeds', async () => {
    const dataset = { name: 'late-features', uri: 'examples/grocery-reorder/data/grocery_reorder_v1.csv', features: ['basket_size_late'] };
    const post = () => svc.admin(svc.request.post('/api/v1/datasets')).set('Idempotency-Key', 'ds-late-1').send(dataset);
    const refused = await post();
    expect(refused.status).toBe(422);
    expect(refused.body.error.field).toBe('features.0');
    // The cause goes away: the feature is registered. A kept 422 would be replayed here.
    const feature = await svc.admin(svc.request.post('/api/v1/features')).send({ name: 'basket_size_late', entityKey: 'user_id', dtype: 'int', source: 'orders' });
    expect(feature.status).toBe(201);
    const accepted = await post();
    expect(accepted.status).toBe(201);
    expect(accepted.body).toMatchObject({ name: 'late-features', version: 1, features: ['basket_size_late'] });
    // From now on the key keeps the success: a retry replays it and stores no second version.
    const replayed = await post();
    expect(replayed.status).toBe(201);
    expect(replayed.body.version).toBe(1);
    expect((await svc.admin(svc.request.get('/api/v1/datasets/late-features/versions'))).body.items).toHaveLength(1);
  });

  it('keys are scoped per caller', async () => {
    const editor = await svc.tokenFor('editor');
    const mine = await register('shared-key', 's3://bucket/x');
    const theirs = await svc.request
      .post('/api/v1/registry/models/ext-model/versions')
      .set('Authorization', `Bearer ${editor}`)
      .set('Idempotency-Key', 'shared-key')
      .send({ artifactUri: 's3://bucket/y' });
    expect(theirs.status).toBe(201);
    expect(theirs.body.version).not.toBe(mine.body.version);
  });

  it('a replayed token creation is a 409 naming the token it created, never its secret, and creates no second token', async () => {
    const create = () => svc.admin(svc.request.post('/api/v1/tokens')).set('Idempotency-Key', 'tok-1').send({ name: 'ci-bot', role: 'editor' });
    const first = await create();
    expect(first.status).toBe(201);
    expect(first.body.token).toMatch(/^gft_/);
    const replay = await create();
    expect(replay.status).toBe(409);
    expect(replay.body.error.field).toBe('Idempotency-Key');
    expect(replay.body.error.message).toMatch(/already created.*the secret is shown only once/);
    expect(replay.body.error.tokenId).toBe(first.body.id);
    expect(JSON.stringify(replay.body)).not.toContain(first.body.token);
    const tokens = (await svc.admin(svc.request.get('/api/v1/tokens'))).body.items as Array<{ name: string }>;
    expect(tokens.filter((x) => x.name === 'ci-bot')).toHaveLength(1);
  });

  it('the query string is part of the request: the same key with another query is a 409', async () => {
    const s = (await svc.admin(svc.request.post('/api/v1/schedules')).send({ name: 'idem-trigger', cron: '0 3 * * *', timezone: 'UTC', workflow: 'grocery-reorder' })).body;
    const trigger = (policy: string) => svc.admin(svc.request.post(`/api/v1/schedules/${s.id}/trigger`)).query({ overlapPolicy: policy }).set('Idempotency-Key', 'trig-1').send({});
    expect((await trigger('allow')).status).toBeLessThan(300);
    const other = await trigger('skip');
    expect(other.status).toBe(409);
    expect(other.body.error.message).toMatch(/different request/);
  });

  describe('keys left in flight', () => {
    const inFlight = async (key: string, owner: string, leaseExpiresAt: string) => {
      const { replayScope } = await import('../../server/api/idempotency.ts');
      const admin = (await svc.admin(svc.request.get('/api/v1/whoami'))).body;
      const scope = replayScope(admin, '/registry/models');
      const { sha256Hex, canonicalJson } = await import('../../server/ids.ts');
      await t.db('idempotency_keys').insert({ scope, key, request_hash: sha256Hex(canonicalJson({ body: { name: key }, query: {} })), owner, lease_expires_at: leaseExpiresAt, created_at: new Date().toISOString() });
    };
    const createModel = (key: string) => svc.admin(svc.request.post('/api/v1/registry/models')).set('Idempotency-Key', key).send({ name: key });

    it('a key whose owner still holds its lease answers "still being processed"', async () => {
      await inFlight('live-owner', 'replica-b', new Date(Date.now() + 60_000).toISOString());
      const res = await createModel('live-owner');
      expect(res.status).toBe(409);
      expect(res.body.error.message).toMatch(/still being processed/);
      expect((await svc.admin(svc.request.get('/api/v1/registry/models/live-owner'))).status).toBe(404);
    });

    it('a key whose owner\'s lease expired is taken over: the request runs and its answer is kept for the next replay', async () => {
      await inFlight('dead-owner', 'replica-gone', new Date(Date.now() - 1000).toISOString());
      const res = await createModel('dead-owner');
      expect(res.status).toBe(201);
      const replay = await createModel('dead-owner');
      expect(replay.status).toBe(201);
      expect(replay.body).toEqual(res.body);
      const [row] = await t.db('idempotency_keys').where({ key: 'dead-owner' });
      expect(row.owner).toBe(svc.wired.config.instanceId);
    });

    it('a key held under this instance id by no live request here was a restarted predecessor\'s: taken over at once', async () => {
      await inFlight('restarted-owner', svc.wired.config.instanceId, new Date(Date.now() + 60_000).toISOString());
      expect((await createModel('restarted-owner')).status).toBe(201);
    });

    it('concurrent requests with one key run it once: the others are told it is still being processed or get its answer', async () => {
      const answers = await Promise.all(Array.from({ length: 8 }, () => createModel('concurrent-key')));
      expect(answers.filter((a) => a.status === 201)).toHaveLength(answers.filter((a) => a.status !== 409).length);
      expect(answers.every((a) => a.status === 201 || (a.status === 409 && /still being processed/.test(a.body.error.message)))).toBe(true);
      expect((await svc.admin(svc.request.get('/api/v1/registry/models/concurrent-key'))).status).toBe(200);
      const [row] = await t.db('idempotency_keys').where({ key: 'concurrent-key' });
      expect(Number(row.status)).toBe(201);
    });
  });
});
