import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { defineModel, makeCodeRoot, makeWorkRoot } from '../helpers/localRuns.ts';

// The process prints only a hash of what it was given, so its own log cannot leak the value.
const PRINT_HASH = `
import hashlib, os
print("DB_PASSWORD_SHA256 " + hashlib.sha256(os.environ["DB_PASSWORD"].encode()).hexdigest(), flush=True)
print("REGION " + os.environ.get("REGION", "<unset>"), flush=True)
`;

/** Every file under `dir`, recursively (SQLite database and its journal, run directories, logs). */
function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return filesUnder(full);
    return entry.isFile() ? [full] : [];
  });
}

describe.each(supportedDatabases())('secrets on %s', (dbId) => {
  let t: TestDatabase;
  let svc: TestService;
  const plaintext = `pw-${crypto.randomBytes(12).toString('hex')}`;
  const replaced = `pw2-${crypto.randomBytes(12).toString('hex')}`;
  const code = makeCodeRoot({
    'hasher/hash.py': PRINT_HASH,
    'hasher/data.csv': 'x\n1\n',
    // Careless training code: the value ends up in the exception, which becomes the run's failure cause.
    'leaker/leak.py': 'import os\nraise RuntimeError("cannot connect with password " + os.environ["DB_PASSWORD"])\n',
    'leaker/data.csv': 'x\n1\n',
  });
  const work = makeWorkRoot();
  const logLines: string[] = [];
  const responses: string[] = [];

  beforeAll(async () => {
    t = await createTestDatabase(dbId);
    svc = await startTestService(t.db, {
      dataDir: t.dataDir,
      loadExamples: false,
      env: { GRIFFIN_CODE_ROOT: code.root, GRIFFIN_LOCAL_WORK_DIR: work.dir, GRIFFIN_SECRET: 'test-master-secret-for-secrets' },
      logTo: (line) => logLines.push(line),
    });
  });
  afterAll(async () => {
    await svc?.close();
    await t?.destroy();
    code.destroy();
    work.destroy();
  });

  /** Every answer is kept, to check afterwards that none carried a secret value. */
  const api = async (method: string, route: string, body?: unknown, token?: string) => {
    const res = await (svc.request as any)[method.toLowerCase()](route).set('Authorization', `Bearer ${token ?? (await svc.tokenFor('admin'))}`).send(body as object | undefined);
    responses.push(`${method} ${route} ${res.status} ${res.text}`);
    return { status: res.status as number, body: res.body };
  };

  it('CRUD by an admin: PUT creates (201) then replaces (200); list and get show metadata only; DELETE is 204 then 404', async () => {
    const created = await api('PUT', '/api/v1/secrets/db-password', { value: plaintext, description: 'warehouse' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'db-password', description: 'warehouse', createdBy: expect.any(String) });
    expect(Object.keys(created.body)).not.toContain('value');
    const again = await api('PUT', '/api/v1/secrets/db-password', { value: replaced });
    expect(again.status).toBe(200);
    expect(again.body.description).toBe('warehouse');
    expect((await api('PUT', '/api/v1/secrets/db-password', { value: plaintext })).status).toBe(200);

    const listed = await api('GET', '/api/v1/secrets');
    expect(listed.body.items.map((s: { name: string }) => s.name)).toEqual(['db-password']);
    expect((await api('GET', '/api/v1/secrets/db-password')).body.name).toBe('db-password');

    expect((await api('PUT', '/api/v1/secrets/scratch', { value: 'x-scratch-value' })).status).toBe(201);
    expect((await api('DELETE', '/api/v1/secrets/scratch')).status).toBe(204);
    const gone = await api('DELETE', '/api/v1/secrets/scratch');
    expect(gone.status).toBe(404);
    expect(gone.body.error.field).toBe('name');
  });

  it('only admins: viewers and editors get 403, no token 401', async () => {
    for (const role of ['viewer', 'editor'] as const) {
      const token = await svc.tokenFor(role);
      expect((await api('GET', '/api/v1/secrets', undefined, token)).status).toBe(403);
      expect((await api('PUT', '/api/v1/secrets/x-by-' + role, { value: 'v' }, token)).status).toBe(403);
      expect((await api('DELETE', '/api/v1/secrets/db-password', undefined, token)).status).toBe(403);
    }
    expect((await svc.request.get('/api/v1/secrets')).status).toBe(401);
  });

  it('a bad name is a 422 naming it; an empty or missing value a 400 naming "value"', async () => {
    const bad = await api('PUT', '/api/v1/secrets/Has_Upper', { value: 'v' });
    expect(bad.status).toBe(422);
    expect(bad.body.error).toMatchObject({ field: 'name', message: expect.stringContaining('lowercase') });
    expect((await api('PUT', `/api/v1/secrets/${'a'.repeat(254)}`, { value: 'v' })).status).toBe(422);
    const empty = await api('PUT', '/api/v1/secrets/ok-name', { value: '' });
    expect(empty.status).toBe(400);
    expect(empty.body.error.field).toBe('value');
    expect((await api('PUT', '/api/v1/secrets/ok-name', {})).body.error.field).toBe('value');
    expect((await api('PUT', '/api/v1/secrets/ok-name', { value: 'v', extra: 1 })).body.error.field).toBe('extra');
  });

  it('a spec env is checked at submission: unknown secrets, reserved and malformed names are 422s naming the variable', async () => {
    const spec = await defineModel(api, 'hasher', 'python hash.py');
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ DB_PASSWORD: { secret: 'no-such-secret' } }, 'spec.env.DB_PASSWORD', 'no-such-secret'],
      [{ GRIFFIN_RUN_TOKEN: 'mine' }, 'spec.env.GRIFFIN_RUN_TOKEN', 'reserved'],
      [{ mlflow_tracking_uri: 'http://x' }, 'spec.env.mlflow_tracking_uri', 'reserved'],
      [{ PYTHONPATH: '/tmp' }, 'spec.env.PYTHONPATH', 'reserved'],
      [{ '1BAD': 'x' }, 'spec.env.1BAD', 'not an environment variable name'],
      [{ 'A-B': 'x' }, 'spec.env.A-B', 'not an environment variable name'],
    ];
    for (const [env, field, words] of cases) {
      const res = await api('POST', '/api/v1/runs', { spec: { ...spec, env } });
      expect(res.status, JSON.stringify(env)).toBe(422);
      expect(res.body.error.field).toBe(field);
      expect(res.body.error.message).toContain(words);
    }
    const wrongShape = await api('POST', '/api/v1/runs', { spec: { ...spec, env: { X: { secret: 'db-password', extra: 1 } } } });
    expect(wrongShape.status).toBe(400);
    const workflow = await api('POST', '/api/v1/workflows', { name: 'uses-missing', ...spec, env: { X: { secret: 'missing' } } });
    expect(workflow.status).toBe(422);
    expect(workflow.body.error.field).toBe('env.X');
  });

  it('a local run gets the value in its environment; it is in no response, no service log, no file of the data dir and no database row', async () => {
    const spec = await defineModel(api, 'hasher', 'python hash.py');
    const wf = await api('POST', '/api/v1/workflows', { name: 'hasher-wf', ...spec, env: { DB_PASSWORD: { secret: 'db-password' }, REGION: 'eu-west-1' } });
    expect(wf.status).toBe(201);
    expect(wf.body.env).toEqual({ DB_PASSWORD: { secret: 'db-password' }, REGION: 'eu-west-1' });

    const dry = await api('POST', '/api/v1/runs?dryRun=true', { workflow: 'hasher-wf' });
    expect(dry.status).toBe(200);
    expect(dry.body.request.env).toMatchObject({ DB_PASSWORD: '[redacted]', REGION: 'eu-west-1' });

    const submitted = await api('POST', '/api/v1/runs', { workflow: 'hasher-wf' });
    expect(submitted.status).toBe(201);
    const run = await svc.waitForRun(submitted.body.id);
    expect(run.state, run.reason).toBe('succeeded');
    expect(run.spec.env).toEqual({ DB_PASSWORD: { secret: 'db-password' }, REGION: 'eu-west-1' });
    const log = (await api('GET', `/api/v1/runs/${run.id}/logs`)).body.text as string;
    expect(log).toContain(`DB_PASSWORD_SHA256 ${crypto.createHash('sha256').update(plaintext).digest('hex')}`);
    expect(log).toContain('REGION eu-west-1');
    // Read everything a user can read about the run.
    await api('GET', `/api/v1/runs/${run.id}`);
    await api('GET', `/api/v1/runs/${run.id}/events`);
    await api('GET', '/api/v1/runs');
    await api('GET', '/api/v1/openapi.json');

    expect(logLines.length).toBeGreaterThan(0);
    for (const value of [plaintext, replaced]) {
      expect(responses.filter((r) => r.includes(value))).toEqual([]);
      expect(logLines.filter((l) => l.includes(value))).toEqual([]);
      const leaking = filesUnder(t.dataDir).filter((file) => fs.readFileSync(file).includes(Buffer.from(value)));
      expect(leaking).toEqual([]);
    }
    if (dbId === 'postgres') {
      for (const table of ['secrets', 'runs', 'run_events', 'workflows']) {
        const rows = (await t.db.raw('SELECT t::text AS row FROM ?? t', [table])).rows as { row: string }[];
        expect(rows.length, table).toBeGreaterThan(0);
        expect(rows.filter((r) => r.row.includes(plaintext) || r.row.includes(replaced)), table).toEqual([]);
      }
    } else {
      expect(filesUnder(t.dataDir).some((f) => f.endsWith('.sqlite'))).toBe(true);
    }
    // The stored ciphertext is there and is not the value; on SQLite the byte search above does find it (so it would find the value).
    const stored = await t.db('secrets').where({ name: 'db-password' }).first();
    expect(stored.ciphertext).toMatch(/^v1:[0-9a-f]{16}:/);
    if (dbId === 'sqlite') expect(filesUnder(t.dataDir).some((file) => fs.readFileSync(file).includes(Buffer.from(stored.ciphertext)))).toBe(true);
  });

  it('a run whose code puts the value into its error has the value redacted from its failure reason', async () => {
    const spec = await defineModel(api, 'leaker', 'python leak.py');
    const submitted = await api('POST', '/api/v1/runs', { spec: { ...spec, env: { DB_PASSWORD: { secret: 'db-password' } } } });
    expect(submitted.status).toBe(201);
    const run = await svc.waitForRun(submitted.body.id);
    expect(run.state).toBe('failed');
    expect(run.reason).toContain('RuntimeError: cannot connect with password [redacted]');
    expect(run.reason).not.toContain(plaintext);
  });

  it('a secret deleted after submission fails the launch with a reason naming it', async () => {
    const spec = await defineModel(api, 'hasher', 'python hash.py');
    expect((await api('PUT', '/api/v1/secrets/short-lived', { value: 'short-lived-value' })).status).toBe(201);
    const submitted = await api('POST', '/api/v1/runs', { spec: { ...spec, env: { DB_PASSWORD: { secret: 'short-lived' } } } });
    expect(submitted.status).toBe(201);
    expect((await api('DELETE', '/api/v1/secrets/short-lived')).status).toBe(204);
    const run = await svc.waitForRun(submitted.body.id);
    expect(run.state).toBe('failed');
    expect(run.reason).toContain('secret "short-lived"');
  });
});

describe('secrets without GRIFFIN_SECRET', () => {
  let t: TestDatabase;
  let svc: TestService;
  beforeAll(async () => {
    t = await createTestDatabase('sqlite');
    svc = await startTestService(t.db, { dataDir: t.dataDir });
  });
  afterAll(async () => {
    await svc?.close();
    await t?.destroy();
  });

  it('refuses to store a value and a spec that references one (422s naming GRIFFIN_SECRET), and stores nothing', async () => {
    const put = await svc.admin(svc.request.put('/api/v1/secrets/db-password')).send({ value: 'would-be-plaintext' });
    expect(put.status).toBe(422);
    expect(put.body.error.message).toContain('GRIFFIN_SECRET');
    expect(await t.db('secrets').count({ n: '*' })).toEqual([{ n: 0 }]);
    const run = await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder', overrides: {} });
    expect(run.status).toBe(201); // no env: unaffected
    const wf = (await svc.admin(svc.request.get('/api/v1/workflows/grocery-reorder'))).body;
    const { name: _n, version: _v, description: _d, createdAt: _c, ...spec } = wf;
    const refused = await svc.admin(svc.request.post('/api/v1/runs')).send({ spec: { ...spec, env: { X: { secret: 'db-password' } } } });
    expect(refused.status).toBe(422);
    expect(refused.body.error.message).toContain('GRIFFIN_SECRET');
    await svc.admin(svc.request.post(`/api/v1/runs/${run.body.id}/cancel`)).send({});
  });
});
