import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import supertest from 'supertest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

/**
 * What an attacker holding the wrong credentials, or sending crafted paths and bodies, gets from
 * the real app: every route is taken from the OpenAPI document, so a new route is covered the
 * moment it is declared. (401 without a token, 403 for viewers and the bad-token rate limit are
 * in tests/http/auth.test.ts.)
 */
interface Operation {
  method: string;
  template: string;
  runToken: boolean;
  jsonBody: boolean;
}

const MAX_BODY = 2048;
const MAX_ARTIFACT = 4096;
const PLANTED = 'planted-secret-content-7f3a9c';

describe('API security', () => {
  let t: TestDatabase;
  let svc: TestService;
  let ops: Operation[];
  let own: string;
  let other: string;
  let api: supertest.Agent;

  /** Path parameters that pass validation, so that the answer is about authorization, not input. */
  const fill = (template: string, runId: string): string =>
    template.replace(/\{(\w+)\}/g, (_m, name: string) => {
      if (name === 'id' && template.startsWith('/api/v1/runs/')) return runId;
      if (name === 'id' && template.startsWith('/api/v1/tokens/')) return '0123456789abcdef';
      if (name === 'version') return '1';
      if (name === 'path') return 'model.json';
      if (name === 'sha256') return 'a'.repeat(64);
      return 'grocery-reorder';
    });

  beforeAll(async () => {
    t = await createTestDatabase('sqlite');
    svc = await startTestService(t.db, {
      dataDir: t.dataDir,
      env: { GRIFFIN_MAX_BODY_BYTES: String(MAX_BODY), GRIFFIN_MAX_ARTIFACT_BYTES: String(MAX_ARTIFACT) },
    });
    api = svc.request;
    const doc = (await svc.admin(api.get('/api/v1/openapi.json'))).body;
    ops = Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([template, methods]) =>
      Object.entries(methods).map(([method, op]) => ({
        method,
        template,
        runToken: op['x-griffin-run-token'] === true,
        jsonBody: Boolean(op.requestBody?.content?.['application/json']),
      })),
    );
    // Workers are not started: both runs stay queued, so their run tokens stay valid.
    const submit = async () => (await svc.admin(api.post('/api/v1/runs')).send({ workflow: 'grocery-reorder' })).body.id as string;
    own = await submit();
    other = await submit();
    fs.writeFileSync(path.join(t.dataDir, 'secret.txt'), PLANTED);
    fs.mkdirSync(path.join(t.dataDir, 'runs', own), { recursive: true });
  });
  afterAll(async () => {
    await svc.close();
    await t.destroy();
  });

  const send = (method: string, url: string, token: string) => (api as any)[method](url).set('Authorization', `Bearer ${token}`);

  it('a run-scoped token gets 403 on every route outside its own run, and on its own run wherever the route does not take run tokens', async () => {
    const token = svc.wired.auth.runToken(own);
    expect((await send('get', `/api/v1/runs/${own}`, token)).status).toBe(200);
    expect(ops.length).toBeGreaterThan(30);
    const allowedOnOwnRun: string[] = [];
    for (const op of ops) {
      const elsewhere = await send(op.method, fill(op.template, other), token).send({});
      expect(elsewhere.status, `${op.method} ${fill(op.template, other)}`).toBe(403);
      expect(elsewhere.body.error.code).toBe('permission_denied');
      const onOwn = await send(op.method, fill(op.template, own), token).send({});
      if (op.runToken) {
        expect([401, 403], `${op.method} ${op.template} on its own run`).not.toContain(onOwn.status);
        allowedOnOwnRun.push(`${op.method} ${op.template}`);
      } else {
        expect(onOwn.status, `${op.method} ${fill(op.template, own)}`).toBe(403);
      }
    }
    // Only routes of its own run are open to a training process: reporting back and reading what it needs.
    expect(allowedOnOwnRun.every((r) => / \/api\/v1\/runs\/\{id\}(\/|$)/.test(r)), allowedOnOwnRun.join(', ')).toBe(true);
    expect(allowedOnOwnRun).toEqual(expect.arrayContaining(['get /api/v1/runs/{id}', 'post /api/v1/runs/{id}/metrics', 'put /api/v1/runs/{id}/artifacts/{path}']));
    expect(allowedOnOwnRun.filter((r) => /^(post|put|patch|delete) /.test(r)).sort()).toEqual(['post /api/v1/runs/{id}/metrics', 'put /api/v1/runs/{id}/artifacts/{path}']);
    // The same holds outside the API: the Prometheus endpoint is for users.
    expect((await send('get', '/metrics', token)).status).toBe(403);
  });

  it('refuses path traversal in run ids, artifact paths and log requests, and never serves a file outside the run', async () => {
    const admin = (m: string, url: string) => send(m, url, svc.wired.config.adminToken!);
    const attempts = [
      `/api/v1/runs/${own}/artifacts/..%2F..%2Fsecret.txt`,
      `/api/v1/runs/${own}/artifacts/../../secret.txt`,
      `/api/v1/runs/${own}/artifacts/%2e%2e/%2e%2e/%2e%2e/secret.txt`,
      `/api/v1/runs/${own}/artifacts/a/..%5C..%5C..%5Csecret.txt`,
      `/api/v1/runs/${own}/artifacts/%2Fetc%2Fpasswd`,
      `/api/v1/runs/${own}/artifacts/model.json%00.txt`,
      `/api/v1/runs/..%2F..%2Fsecret.txt/artifacts/x`,
      `/api/v1/runs/..%2F..%2Fsecret.txt/logs`,
      `/api/v1/runs/%2e%2e/logs`,
      `/api/v1/runs/${own}%2F..%2F..%2F/logs`,
      `/api/v1/runs/${own}/logs?cursor=-10`,
      `/api/v1/runs/${own}/logs?cursor=..%2F..%2Fsecret.txt`,
      '/..%2f..%2fsecret.txt',
      '/%2e%2e/%2e%2e/etc/passwd',
    ];
    for (const url of attempts) {
      const res = await admin('get', url);
      expect(res.status, url).toBeLessThan(500);
      const text = res.text ?? '';
      expect(text, url).not.toContain(PLANTED);
      expect(text, url).not.toMatch(/root:x:0:0/);
      if (url.startsWith('/api/')) expect([400, 404], url).toContain(res.status);
    }
    const token = svc.wired.auth.runToken(own);
    for (const bad of ['..%2F..%2Fsecret.txt', '%2e%2e/%2e%2e/secret.txt', 'a/..%2F..%2F..%2Fsecret.txt', '%2Ftmp%2Fx', 'a%5C..%5Cb']) {
      const res = await api.put(`/api/v1/runs/${own}/artifacts/${bad}`).set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/octet-stream').send(Buffer.from('overwrite'));
      expect([400, 404], bad).toContain(res.status);
    }
    expect(fs.readFileSync(path.join(t.dataDir, 'secret.txt'), 'utf8')).toBe(PLANTED);
    // Model code and datasets are user paths too: they must stay inside the code root.
    for (const codeUri of ['../../etc', '/etc', 'file:///etc/passwd', 'examples/../../..']) {
      const res = await svc.admin(api.post('/api/v1/models')).send({ name: 'escape', framework: 'x', codeUri, entrypoint: 'python train.py' });
      expect(res.status, codeUri).toBe(400);
      expect(res.body.error.field).toBe('codeUri');
    }
  });

  it('answers 413 to an oversized JSON body on every route that takes one, before doing any work', async () => {
    const jsonOps = ops.filter((o) => o.jsonBody);
    expect(jsonOps.length).toBeGreaterThan(10);
    const runsBefore = (await svc.admin(api.get('/api/v1/runs?limit=500'))).body.items.length;
    const big = { description: 'x'.repeat(MAX_BODY * 2) };
    for (const op of jsonOps) {
      const url = fill(op.template, own);
      const res = await (svc.admin((api as any)[op.method](url)) as supertest.Test).send(big);
      expect(res.status, `${op.method} ${url}`).toBe(413);
      expect(res.body.error).toMatchObject({ code: 'payload_too_large', field: 'body' });
    }
    // Without a Content-Length the limit holds as the body streams in.
    const chunks = [JSON.stringify({ workflow: 'grocery-reorder', overrides: { hyperparameters: { pad: '' } } }).slice(0, -4), 'y'.repeat(MAX_BODY), '"}}}'];
    const streamed = await fetch(`${svc.baseUrl}/api/v1/runs`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${svc.wired.config.adminToken}`, 'Content-Type': 'application/json' },
      body: new ReadableStream({
        start(controller) {
          for (const c of chunks) controller.enqueue(new TextEncoder().encode(c));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect((await svc.admin(api.get('/api/v1/runs?limit=500'))).body.items.length).toBe(runsBefore);
  });

  it('answers 413 to an artifact larger than the artifact limit and keeps nothing of it', async () => {
    const token = svc.wired.auth.runToken(own);
    const res = await api
      .put(`/api/v1/runs/${own}/artifacts/too-big.bin`)
      .set('Authorization', `Bearer ${token}`)
      .set('Content-Type', 'application/octet-stream')
      .send(Buffer.alloc(MAX_ARTIFACT * 3, 1));
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
    const listed = (await svc.admin(api.get(`/api/v1/runs/${own}/artifacts`))).body.items.map((a: { path: string }) => a.path);
    expect(listed).not.toContain('too-big.bin');
    const dir = path.join(t.dataDir, 'artifacts', own);
    const left = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
    expect(left.filter((f) => f.startsWith('too-big.bin'))).toEqual([]);
  });
});
