import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

/**
 * Idempotent replay as an attacker would use it: a stored answer is never a way around
 * authentication or authorization, never hands out a secret again, and the scheduler's key
 * namespace cannot be taken by a client.
 */
describe.each(supportedDatabases())('idempotent replay and key namespaces on %s', (dbId) => {
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

  const as = (token: string) => (req: import('supertest').Test) => req.set('Authorization', `Bearer ${token}`);
  const storedBodies = async (): Promise<string[]> => ((await t.db('idempotency_keys').select('response_body')) as Array<{ response_body: string | null }>).map((r) => r.response_body ?? '');

  it('a revoked token replaying its own key gets 401, not the stored answer with the secret it created', async () => {
    const a = (await svc.admin(svc.request.post('/api/v1/tokens')).send({ name: 'token-a', role: 'admin' })).body;
    const create = () => as(a.token)(svc.request.post('/api/v1/tokens')).set('Idempotency-Key', 'make-b').send({ name: 'token-b', role: 'admin' });
    const b = await create();
    expect(b.status).toBe(201);
    expect(b.body.token).toMatch(/^gft_/);
    expect((await svc.admin(svc.request.delete(`/api/v1/tokens/${a.id}`))).status).toBe(204);

    const replay = await create();
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe('unauthenticated');
    expect(JSON.stringify(replay.body)).not.toContain(b.body.token);
  });

  it('a caller whose role does not allow the route gets 403 for a key another caller used, never that caller\'s answer', async () => {
    const viewer = await svc.tokenFor('viewer');
    const first = await svc.admin(svc.request.post('/api/v1/registry/models')).set('Idempotency-Key', 'shared').send({ name: 'replay-guarded' });
    expect(first.status).toBe(201);
    const replay = await as(viewer)(svc.request.post('/api/v1/registry/models')).set('Idempotency-Key', 'shared').send({ name: 'replay-guarded' });
    expect(replay.status).toBe(403);
    expect(replay.body.error.code).toBe('permission_denied');
  });

  it('no stored answer holds a token secret: the idempotency_keys table is checked row by row', async () => {
    const created = await svc.admin(svc.request.post('/api/v1/tokens')).set('Idempotency-Key', 'make-c').send({ name: 'token-c', role: 'viewer' });
    expect(created.status).toBe(201);
    const bodies = await storedBodies();
    expect(bodies.length).toBeGreaterThan(0);
    expect(bodies.filter((b) => b.includes(created.body.token))).toEqual([]);
    expect(bodies.filter((b) => /g[fr]t_/.test(b))).toEqual([]);
    // The token stays usable: the stored answer lost its secret, the token did not.
    expect((await as(created.body.token)(svc.request.get('/api/v1/whoami'))).body.name).toBe('token-c');
  });

  describe('the schedule: key namespace', () => {
    const nightly = { name: 'squat-target', cron: '30 2 * * *', timezone: 'UTC', workflow: 'grocery-reorder', overrides: { hyperparameters: { epochs: 2 } } };
    const scheduledAt = '2031-01-02T02:30:00.000Z';

    it('an editor pre-submitting a run under a firing\'s key gets 400 naming the header, with either body, and the firing creates its own run', async () => {
      const editor = await svc.tokenFor('editor');
      const s = (await svc.admin(svc.request.post('/api/v1/schedules')).send(nightly)).body;
      const key = `schedule:${s.id}:${scheduledAt}`;
      for (const body of [{ workflow: nightly.workflow, overrides: nightly.overrides }, { workflow: nightly.workflow, overrides: { hyperparameters: { epochs: 9 } } }]) {
        const squat = await as(editor)(svc.request.post('/api/v1/runs')).set('Idempotency-Key', key).send(body);
        expect(squat.status).toBe(400);
        expect(squat.body.error.field).toBe('Idempotency-Key');
        expect(squat.body.error.message).toMatch(/schedule:.*reserved/);
      }
      expect((await svc.admin(svc.request.get('/api/v1/runs')).query({ idempotencyKey: key })).body.items).toEqual([]);

      const firing = await svc.wired.schedules.fireTick(s.id, new Date(scheduledAt), { cron: nightly.cron, timezone: nightly.timezone });
      expect(firing?.outcome).toBe('submitted');
      const run = (await svc.admin(svc.request.get(`/api/v1/runs/${firing!.runId}`))).body;
      expect(run.trigger).toBe('schedule');
      expect(run.idempotencyKey).toBe(key);
      expect(run.schedule.id).toBe(s.id);
    });

    it('the prefix is reserved on every route that takes an Idempotency-Key, not only run submission', async () => {
      const res = await svc.admin(svc.request.post('/api/v1/registry/models')).set('Idempotency-Key', 'schedule:x:y').send({ name: 'not-stored' });
      expect(res.status).toBe(400);
      expect(res.body.error.field).toBe('Idempotency-Key');
      expect((await svc.admin(svc.request.get('/api/v1/registry/models/not-stored'))).status).toBe(404);
    });

    it('keys that merely contain "schedule" are a client\'s to use', async () => {
      const res = await svc.admin(svc.request.post('/api/v1/runs')).set('Idempotency-Key', 'my-schedule:1').send({ workflow: 'grocery-reorder' });
      expect(res.status).toBe(201);
    });
  });
});
