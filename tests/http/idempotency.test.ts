import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

describe.each(supportedDatabases())('Idempotency-Key on mutating POSTs on %s', (dbId) => {
  let t: TestDatabase;
  let svc: TestService;
  beforeAll(async () => {
    t = await createTestDatabase(dbId);
    svc = await startTestService(t.db, { dataDir: t.dataDir });
  });
  afterAll(async () => {
    await svc.close();
    await t.destroy();
  });

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

  it('a failed first attempt does not burn the key', async () => {
    const bad = await svc.admin(svc.request.post('/api/v1/registry/models/ext-model/versions')).set('Idempotency-Key', 'reg-3').send({ runId: 'nosuchrun000' });
    expect(bad.status).toBe(404);
    const good = await svc.admin(svc.request.post('/api/v1/registry/models/ext-model/versions')).set('Idempotency-Key', 'reg-3').send({ runId: 'nosuchrun000' });
    expect(good.status).toBe(404);
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
});
