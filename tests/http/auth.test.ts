import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

/** Every documented route is behind authentication and a role check. */
describe('authentication and roles', () => {
  let t: TestDatabase;
  let svc: TestService;
  let paths: Array<{ method: string; path: string; role: string; runToken: boolean }>;
  beforeAll(async () => {
    t = await createTestDatabase('sqlite');
    svc = await startTestService(t.db, { dataDir: t.dataDir });
    const doc = (await svc.admin(svc.request.get('/api/v1/openapi.json'))).body;
    paths = Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([p, ops]) =>
      Object.entries(ops).map(([method, op]) => ({
        method,
        path: p.replace(/\{(\w+)\}/g, (_m, name) => (name === 'version' ? '1' : name === 'id' && p.startsWith('/api/v1/tokens') ? '0123456789abcdef' : 'abc')),
        role: op['x-griffin-role'],
        runToken: op['x-griffin-run-token'],
      })),
    );
  });
  afterAll(async () => {
    await svc.close();
    await t.destroy();
  });

  it('the OpenAPI document lists every resource the API promises', () => {
    const listed = new Set(paths.map((p) => `${p.method} ${p.path}`));
    for (const expected of [
      'post /api/v1/runs',
      'get /api/v1/runs/abc',
      'post /api/v1/runs/abc/cancel',
      'get /api/v1/runs/abc/logs',
      'get /api/v1/runs/abc/metrics',
      'post /api/v1/models',
      'get /api/v1/features',
      'post /api/v1/datasets',
      'get /api/v1/runtimes',
      'post /api/v1/workflows',
      'get /api/v1/registry/models/abc/versions',
      'get /api/v1/registry/models/abc/versions/1/lineage',
      'put /api/v1/registry/models/abc/aliases/abc',
      'post /api/v1/tokens',
    ]) {
      expect(listed, expected).toContain(expected);
    }
  });

  it('answers 401 with the JSON error shape on every route without a token, and with a wrong token', async () => {
    for (const route of paths) {
      const res = await (svc.request as any)[route.method](route.path).set('X-Forwarded-For', '10.0.0.1');
      expect(res.status, `${route.method} ${route.path}`).toBe(401);
      expect(res.body.error.code).toBe('unauthenticated');
      const wrong = await (svc.request as any)[route.method](route.path).set('Authorization', 'Bearer gft_nope');
      expect(wrong.status, `${route.method} ${route.path}`).toBe(401);
    }
  });

  it('answers 403 to a viewer on every route that needs more than viewer', async () => {
    const viewer = await svc.tokenFor('viewer');
    const guarded = paths.filter((p) => p.role !== 'viewer');
    expect(guarded.length).toBeGreaterThan(10);
    for (const route of guarded) {
      const res = await (svc.request as any)[route.method](route.path).set('Authorization', `Bearer ${viewer}`).send({});
      expect(res.status, `${route.method} ${route.path}`).toBe(403);
      expect(res.body.error.code).toBe('permission_denied');
    }
  });

  it('a viewer cannot submit; an editor cannot create tokens; an admin can, and the secret works once issued', async () => {
    const viewer = await svc.tokenFor('viewer');
    const submit = await svc.request.post('/api/v1/runs').set('Authorization', `Bearer ${viewer}`).send({ workflow: 'grocery-reorder' });
    expect(submit.status).toBe(403);
    const editor = await svc.tokenFor('editor');
    expect((await svc.request.post('/api/v1/tokens').set('Authorization', `Bearer ${editor}`).send({ name: 'x', role: 'admin' })).status).toBe(403);
    const created = await svc.admin(svc.request.post('/api/v1/tokens')).send({ name: 'ci', role: 'viewer' });
    expect(created.status).toBe(201);
    expect(created.body.token).toMatch(/^gft_/);
    const whoami = await svc.request.get('/api/v1/whoami').set('Authorization', `Bearer ${created.body.token}`);
    expect(whoami.body).toMatchObject({ kind: 'user', role: 'viewer', name: 'ci' });
    const listed = await svc.admin(svc.request.get('/api/v1/tokens'));
    expect(JSON.stringify(listed.body)).not.toContain(created.body.token);
    expect((await svc.admin(svc.request.delete(`/api/v1/tokens/${created.body.id}`))).status).toBe(204);
    expect((await svc.request.get('/api/v1/whoami').set('Authorization', `Bearer ${created.body.token}`)).status).toBe(401);
  });

  it('rate-limits repeated bad tokens from one client with 429 and Retry-After', async () => {
    const limited = await startTestService(t.db, { dataDir: t.dataDir, env: { GRIFFIN_AUTH_FAILURE_LIMIT: '5' } });
    const statuses = [];
    let last;
    for (let i = 0; i < 7; i += 1) {
      last = await limited.request.get('/api/v1/runs').set('Authorization', 'Bearer gft_bad');
      statuses.push(last.status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
    expect(Number(last!.headers['retry-after'])).toBeGreaterThan(0);
    expect(last!.body.error.code).toBe('rate_limited');
    await limited.close();
  });

  it('a valid token passes from a locked-out address, user and run tokens alike, while bad tokens from it stay locked out', async () => {
    const limited = await startTestService(t.db, { dataDir: t.dataDir, env: { GRIFFIN_AUTH_FAILURE_LIMIT: '3' } });
    const bad = () => limited.request.get('/api/v1/runs').set('Authorization', 'Bearer gft_bad');
    const statuses = [];
    for (let i = 0; i < 4; i += 1) statuses.push((await bad()).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
    const viewer = await limited.tokenFor('viewer');
    expect((await limited.request.get('/api/v1/runs').set('Authorization', `Bearer ${viewer}`)).status).toBe(200);
    expect((await limited.admin(limited.request.get('/api/v1/whoami'))).body).toMatchObject({ role: 'admin' });
    const run = await limited.admin(limited.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder' });
    const runToken = limited.wired.auth.runToken(run.body.id);
    expect((await limited.request.get(`/api/v1/runs/${run.body.id}`).set('Authorization', `Bearer ${runToken}`)).status).toBe(200);
    expect((await bad()).status).toBe(429);
    expect((await limited.request.get('/api/v1/runs')).status).toBe(429);
    await limited.close();
  });

  it('counts failures by the socket address: rotating X-Forwarded-For from loopback does not escape the lock-out', async () => {
    const limited = await startTestService(t.db, { dataDir: t.dataDir, env: { GRIFFIN_AUTH_FAILURE_LIMIT: '3' } });
    const statuses = [];
    for (let i = 0; i < 6; i += 1) {
      statuses.push((await limited.request.get('/api/v1/runs').set('Authorization', 'Bearer gft_bad').set('X-Forwarded-For', `203.0.113.${i}`)).status);
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429, 429]);
    await limited.close();
  });

  it('with GRIFFIN_TRUST_PROXY, the client address comes from X-Forwarded-For set by the trusted proxy, so each client has its own budget', async () => {
    const proxied = await startTestService(t.db, { dataDir: t.dataDir, env: { GRIFFIN_AUTH_FAILURE_LIMIT: '3', GRIFFIN_TRUST_PROXY: 'loopback' } });
    const from = (client: string) => proxied.request.get('/api/v1/runs').set('Authorization', 'Bearer gft_bad').set('X-Forwarded-For', client);
    const rotating = [];
    for (let i = 0; i < 6; i += 1) rotating.push((await from(`203.0.113.${i}`)).status);
    expect(rotating).toEqual([401, 401, 401, 401, 401, 401]);
    const one = [];
    for (let i = 0; i < 4; i += 1) one.push((await from('198.51.100.7')).status);
    expect(one).toEqual([401, 401, 401, 429]);
    expect((await from('198.51.100.8')).status).toBe(401);
    await proxied.close();
  });

  it('refuses a GRIFFIN_TRUST_PROXY that is no address, subnet or named range', async () => {
    await expect(startTestService(t.db, { dataDir: t.dataDir, env: { GRIFFIN_TRUST_PROXY: 'loopback, my-proxy' } })).rejects.toThrow(/GRIFFIN_TRUST_PROXY: "my-proxy" is not an address/);
  });
});
