import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

/**
 * Input that once reached the database or the file system and came back as a 500: deep bodies,
 * broken encodings, crafted page tokens, NUL characters, integers wider than the columns, a model
 * whose code is gone. Each must be a 4xx naming what is wrong, on both databases, and store nothing.
 */
const pageToken = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const nested = (levels: number, leaf = '1'): string => `${'{"a":'.repeat(levels)}${leaf}${'}'.repeat(levels)}`;

describe.each(supportedDatabases())('hostile input on %s', (dbId) => {
  let t: TestDatabase;
  let svc: TestService;
  let runId: string;
  const admin = (req: ReturnType<TestService['request']['get']>) => svc.admin(req);

  beforeAll(async () => {
    t = await createTestDatabase(dbId);
    svc = await startTestService(t.db, { dataDir: t.dataDir });
    runId = (await admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder' })).body.id;
    expect((await admin(svc.request.post('/api/v1/registry/models')).send({ name: 'hostile' })).status).toBe(201);
    expect((await admin(svc.request.post('/api/v1/schedules')).send({ name: 'hostile', cron: '0 3 * * *', workflow: 'grocery-reorder', enabled: false })).status).toBe(201);
  });
  afterAll(async () => {
    await svc.close();
    await t.destroy();
  });

  const expectBadField = (res: { status: number; body: any }, field: string, message?: RegExp) => {
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_argument', field });
    if (message) expect(res.body.error.message).toMatch(message);
  };

  describe('body depth', () => {
    it('a body nested 5,000 levels deep is a 400 naming the limit, with or without an Idempotency-Key, and nothing is stored', async () => {
      const body = `{"name":"deep","tags":${nested(5000, '"x"')}}`;
      const plain = await admin(svc.request.post('/api/v1/registry/models')).set('Content-Type', 'application/json').send(body);
      expectBadField(plain, 'body', /deeper than the limit of 32 levels/);
      const keyed = await admin(svc.request.post('/api/v1/registry/models')).set('Content-Type', 'application/json').set('Idempotency-Key', 'deep-1').send(body);
      expectBadField(keyed, 'body', /limit of 32 levels/);
      const run = await admin(svc.request.post('/api/v1/runs')).set('Content-Type', 'application/json').set('Idempotency-Key', 'deep-2').send(`{"workflow":"grocery-reorder","overrides":{"hyperparameters":${nested(5000)}}}`);
      expectBadField(run, 'body', /limit of 32 levels/);
      expect((await admin(svc.request.get('/api/v1/registry/models/deep'))).status).toBe(404);
      expect((await admin(svc.request.get('/api/v1/runs?idempotencyKey=deep-2'))).body.items).toEqual([]);
    });

    it('a body within the limit still works', async () => {
      const res = await admin(svc.request.post('/api/v1/runs?dryRun=true')).send({ workflow: 'grocery-reorder', overrides: { resources: { customResources: {} } } });
      expect(res.status).toBe(200);
    });
  });

  describe('Content-Encoding', () => {
    it('a body that is not the gzip it claims to be is a 400 naming the encoding', async () => {
      const res = await admin(svc.request.post('/api/v1/registry/models')).set('Content-Type', 'application/json').set('Content-Encoding', 'gzip').send('{"name":"not-gzip"}');
      expectBadField(res, 'body', /Content-Encoding: gzip/);
      expect((await admin(svc.request.get('/api/v1/registry/models/not-gzip'))).status).toBe(404);
    });

    it('an unknown encoding is a 415; a real gzip body is accepted', async () => {
      const unknown = await admin(svc.request.post('/api/v1/registry/models')).set('Content-Type', 'application/json').set('Content-Encoding', 'x-griffin').send('{"name":"x-enc"}');
      expect(unknown.status).toBe(415);
      expect(unknown.body.error).toMatchObject({ code: 'unsupported_media_type', field: 'body' });
      // fetch, because superagent would serialise a Buffer as JSON.
      const gzipped = await fetch(`${svc.baseUrl}/api/v1/registry/models`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${await svc.tokenFor('admin')}`, 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
        body: zlib.gzipSync(JSON.stringify({ name: 'gzipped' })),
      });
      expect(gzipped.status).toBe(201);
      expect(((await gzipped.json()) as { name: string }).name).toBe('gzipped');
    });

    it('an encoded artifact upload is a 415 and stores nothing', async () => {
      const res = await admin(svc.request.put(`/api/v1/runs/${runId}/artifacts/model.bin`)).set('Content-Type', 'application/octet-stream').set('Content-Encoding', 'gzip').send(zlib.gzipSync('weights'));
      expect(res.status).toBe(415);
      expect(res.body.error).toMatchObject({ code: 'unsupported_media_type', field: 'Content-Encoding' });
      expect((await admin(svc.request.get(`/api/v1/runs/${runId}/artifacts`))).body.items).toEqual([]);
    });
  });

  describe('page tokens', () => {
    const lists = {
      '/api/v1/runs': 'created_at and id',
      '/api/v1/models': 'id',
      '/api/v1/models/logistic-regression/versions': 'id',
      '/api/v1/datasets': 'id',
      '/api/v1/workflows': 'id',
      '/api/v1/features': 'name',
      '/api/v1/registry/models': 'name',
      '/api/v1/registry/models/hostile/versions': 'version',
      '/api/v1/schedules': 'name',
      '/api/v1/schedules/hostile/firings': 'scheduled_at and id',
    };
    // [] and [1e308] fit no list; [1] fits none keyed by text, ["x"] none keyed by a number or two columns.
    const forged: Record<string, unknown[][]> = {
      'created_at and id': [[], [1], ['x'], [1e308], [1, 2]],
      id: [[], ['x'], [1e308], [-1], [2 ** 31], [1.5]],
      version: [[], ['x'], [1e308]],
      name: [[], [1], [1e308], [null], ['x\u0000']],
      'scheduled_at and id': [[], [1], ['x'], [1e308], ['x', 'y']],
    };

    it.each(Object.entries(lists))('%s refuses forged tokens with a 400 naming pageToken', async (list, key) => {
      for (const token of [...forged[key].map(pageToken), 'not-base64-json!!', pageToken({ a: 1 })]) {
        const res = await admin(svc.request.get(list)).query({ pageToken: token });
        expectBadField(res, 'pageToken', /not a token returned by this list/);
      }
    });

    it('a token the list returned still pages', async () => {
      const first = await admin(svc.request.get('/api/v1/features?limit=2'));
      expect(first.body.nextPageToken).toEqual(expect.any(String));
      const second = await admin(svc.request.get('/api/v1/features')).query({ limit: 2, pageToken: first.body.nextPageToken });
      expect(second.status).toBe(200);
      expect(second.body.items[0].name > first.body.items[1].name).toBe(true);
    });
  });

  describe('NUL characters', () => {
    it('in a text field, a hyperparameter key or value: a 400 naming the field, and nothing stored', async () => {
      expectBadField(await admin(svc.request.post('/api/v1/registry/models')).send({ name: 'nul-model', description: 'a\u0000b' }), 'description', /NUL/);
      expect((await admin(svc.request.get('/api/v1/registry/models/nul-model'))).status).toBe(404);
      expectBadField(
        await admin(svc.request.post('/api/v1/runs')).set('Idempotency-Key', 'nul-1').send({ workflow: 'grocery-reorder', overrides: { hyperparameters: { note: 'x\u0000' } } }),
        'overrides.hyperparameters.note',
      );
      expectBadField(await admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder', overrides: { hyperparameters: { 'lr\u0000': 1 } } }), 'overrides.hyperparameters.lr\\u0000');
      expectBadField(await admin(svc.request.post('/api/v1/features')).send({ name: 'f', entityKey: 'user\u0000', dtype: 'int', source: 's' }), 'entityKey');
      expectBadField(await admin(svc.request.post(`/api/v1/runs/${runId}/metrics`)).send({ metrics: [{ key: 'k', value: 1 }, { key: 'a\u0000', value: 1 }] }), 'metrics.1.key');
      expect((await admin(svc.request.get('/api/v1/runs?idempotencyKey=nul-1'))).body.items).toEqual([]);
    });

    it('in a filter or a path parameter: a 400 naming it', async () => {
      expectBadField(await admin(svc.request.get('/api/v1/runs?dagId=a%00b')), 'dagId', /NUL/);
      expectBadField(await admin(svc.request.get('/api/v1/runs?idempotencyKey=%00')), 'idempotencyKey');
      expectBadField(await admin(svc.request.get('/api/v1/registry/models/hostile/versions?runId=%00')), 'runId');
      expectBadField(await admin(svc.request.get('/api/v1/models/a%00b')), 'name', /NUL/);
      expectBadField(await admin(svc.request.put(`/api/v1/runs/${runId}/artifacts/dir/a%00b`)).send(Buffer.from('x')), 'path');
    });
  });

  describe('integers wider than the columns', () => {
    const TOO_BIG = 2 ** 31;
    it('version numbers in references, overrides, aliases and paths stop at 2^31-1', async () => {
      expectBadField(await admin(svc.request.post('/api/v1/runs')).send({ workflow: `grocery-reorder@${TOO_BIG}` }), 'workflow', /at most 2147483647/);
      expectBadField(await admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder@99999999999999999999' }), 'workflow');
      expect((await admin(svc.request.post('/api/v1/runs')).send({ workflow: `grocery-reorder@${TOO_BIG - 1}` })).status).toBe(404);
      expectBadField(await admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder', overrides: { datasetVersion: TOO_BIG } }), 'overrides.datasetVersion');
      expectBadField(
        await admin(svc.request.post('/api/v1/workflows')).send({ name: 'wide', model: 'logistic-regression@49815589608', dataset: 'grocery-reorder', runtime: 'python3' }),
        'model',
      );
      expectBadField(await admin(svc.request.put('/api/v1/registry/models/hostile/aliases/production')).send({ version: 9007199254740990 }), 'version');
      for (const kind of ['models/logistic-regression', 'datasets/grocery-reorder', 'workflows/grocery-reorder', 'registry/models/hostile']) {
        expectBadField(await admin(svc.request.get(`/api/v1/${kind}/versions/${TOO_BIG}`)), 'version');
        expect((await admin(svc.request.get(`/api/v1/${kind}/versions/${TOO_BIG - 1}`))).status).toBe(404);
      }
      expectBadField(await admin(svc.request.get(`/api/v1/registry/models/hostile/versions/${TOO_BIG}/lineage`)), 'version');
    });

    it('list limits are bounded', async () => {
      expectBadField(await admin(svc.request.get(`/api/v1/runs?limit=${TOO_BIG}`)), 'limit');
      expectBadField(await admin(svc.request.get('/api/v1/runs?limit=1e308')), 'limit');
    });
  });

  describe('code directories', () => {
    it("a run's bundle whose model code is missing is a 422 naming it", async () => {
      expect((await admin(svc.request.post('/api/v1/models')).send({ name: 'ghost', framework: 'python-stdlib', codeUri: 'examples/ghost-code-that-is-not-there', entrypoint: 'python train.py' })).status).toBe(201);
      const run = await admin(svc.request.post('/api/v1/runs')).send({ spec: { model: 'ghost', dataset: 'grocery-reorder', runtime: 'python3' } });
      expect(run.status).toBe(201);
      const res = await admin(svc.request.get(`/api/v1/runs/${run.body.id}/bundle`));
      expect(res.status).toBe(422);
      expect(res.body.error).toMatchObject({ code: 'unprocessable', field: 'model.codeUri' });
      expect(res.body.error.message).toContain('examples/ghost-code-that-is-not-there');
      expect(res.body.error.message).toMatch(/does not exist/);
    });

    it('a codeUri that is a file, or a dependency directory, is refused with a clear message', async () => {
      expect((await admin(svc.request.post('/api/v1/models')).send({ name: 'file-code', framework: 'python-stdlib', codeUri: 'examples/grocery-reorder/train.py', entrypoint: 'python train.py' })).status).toBe(201);
      const run = await admin(svc.request.post('/api/v1/runs')).send({ spec: { model: 'file-code', dataset: 'grocery-reorder', runtime: 'python3' } });
      const bundle = await admin(svc.request.get(`/api/v1/runs/${run.body.id}/bundle`));
      expect(bundle.status).toBe(422);
      expect(bundle.body.error.message).toMatch(/is a file, not a code directory/);
      for (const codeUri of ['node_modules', 'node_modules/express', 'examples/grocery-reorder/__pycache__', './.git']) {
        const res = await admin(svc.request.post('/api/v1/models')).send({ name: 'deps', framework: 'x', codeUri, entrypoint: 'python train.py' });
        expectBadField(res, 'codeUri', /never copies into a run/);
      }
      expect((await admin(svc.request.get('/api/v1/models/deps'))).status).toBe(404);
      // Longer than a file name can be: a 400, not ENAMETOOLONG from the file system.
      const long = await admin(svc.request.post('/api/v1/models')).send({ name: 'long', framework: 'x', codeUri: '0'.repeat(300), entrypoint: 'python train.py' });
      expectBadField(long, 'codeUri', /longer than 255 bytes/);
      expectBadField(await admin(svc.request.post('/api/v1/datasets')).send({ name: 'long', uri: `data/${'d'.repeat(256)}.csv` }), 'uri', /longer than 255 bytes/);
    });
  });

  describe('artifact paths', () => {
    it('a path that would be both a file and a directory is a 409 naming it', async () => {
      const put = (p: string) => admin(svc.request.put(`/api/v1/runs/${runId}/artifacts/${p}`)).set('Content-Type', 'application/octet-stream').send(Buffer.from('x'));
      expect((await put('plots/loss.png')).status).toBe(201);
      const asFile = await put('plots');
      expect(asFile.status).toBe(409);
      expect(asFile.body.error.field).toBe('path');
      const under = await put('plots/loss.png/inner');
      expect(under.status).toBe(409);
      expect(under.body.error.message).toMatch(/both a file and a directory/);
      const kept = await admin(svc.request.get(`/api/v1/runs/${runId}/artifacts/plots/loss.png`)).buffer(true);
      expect(Buffer.from(kept.body).toString()).toBe('x');
    });
  });

  describe('paths', () => {
    it('routes match as Express matched them: any case, a trailing slash, HEAD as GET, encoded parameters decoded', async () => {
      expect((await admin(svc.request.get(`/API/V1/Runs/${runId}`))).body.id).toBe(runId);
      expect((await admin(svc.request.get(`/api/v1/runs/${runId}/`))).body.id).toBe(runId);
      const head = await admin(svc.request.head(`/api/v1/runs/${runId}`));
      expect(head.status).toBe(200);
      expect(head.headers['content-type']).toMatch(/application\/json/);
      // The model name is a decoded parameter: "%68ostile" is "hostile".
      expect((await admin(svc.request.get('/api/v1/registry/models/%68ostile'))).body.name).toBe('hostile');
      const put = await admin(svc.request.put(`/api/v1/runs/${runId}/artifacts/deep/er/file%20name.txt`)).set('Content-Type', 'application/octet-stream').send(Buffer.from('y'));
      expect(put.status, JSON.stringify(put.body)).toBe(201);
      expect(put.body.path).toBe('deep/er/file name.txt');
    });

    it('a malformed percent-escape in an API path is a 400 naming the path, not a 404 or a 500; in a web UI path it is the UI', async () => {
      const res = await admin(svc.request.get('/api/v1/registry/models/bad%ZZname'));
      expectBadField(res, 'path', /malformed percent-escape/);
      const mlflow = await admin(svc.request.get('/api/2.0/mlflow/logged-models/bad%ZZ'));
      expect(mlflow.status).toBe(400);
      expect(mlflow.body).toMatchObject({ error_code: 'INVALID_PARAMETER_VALUE', message: expect.stringMatching(/malformed percent-escape/) });
      // A web UI path is no API's: it still gets the UI, not an API error.
      const web = await svc.request.get('/runs/bad%ZZ');
      expect(web.status).toBe(200);
      expect(web.headers['content-type']).toMatch(/text\/html/);
    });
  });

  describe('methods', () => {
    it('an unsupported method on a known path is a 405 with Allow; OPTIONS lists the methods', async () => {
      const trace = await admin(svc.request.trace('/api/v1/runs'));
      expect(trace.status).toBe(405);
      expect(trace.headers.allow).toBe('GET, HEAD, POST');
      expect(trace.body.error.code).toBe('method_not_allowed');
      const artifact = await admin(svc.request.delete(`/api/v1/runs/${runId}/artifacts/a/b.json`));
      expect(artifact.status).toBe(405);
      expect(artifact.headers.allow).toBe('GET, HEAD, PUT');
      const doc = await svc.request.post('/api/v1/openapi.json');
      expect(doc.status).toBe(405);
      expect(doc.headers.allow).toBe('GET, HEAD');
      const options = await svc.request.options('/api/v1/registry/models/hostile/aliases/production');
      expect(options.status).toBe(204);
      expect(options.headers.allow).toBe('DELETE, GET, HEAD, PUT');
      const web = await svc.request.trace('/runs/abc');
      expect(web.status).toBe(405);
      expect(web.headers.allow).toBe('GET, HEAD');
      expect(web.headers['content-type']).toMatch(/application\/json/);
      expect((await admin(svc.request.trace('/api/v1/no-such-thing'))).status).toBe(404);
    });
  });

  it('every 400 names a field', async () => {
    const bad = [
      admin(svc.request.post('/api/v1/registry/models')).send({ name: 'ok-name', colour: 'red' }),
      admin(svc.request.post('/api/v1/registry/models')).send([1, 2]),
      admin(svc.request.post('/api/v1/registry/models')).set('Content-Type', 'application/json').send('{"name":'),
      admin(svc.request.post('/api/v1/runs')).send({}),
      admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder', overrides: { timeoutSeconds: -1 } }),
      admin(svc.request.get('/api/v1/runs?state=dancing')),
      admin(svc.request.get('/api/v1/runs/NOT_AN_ID')),
      admin(svc.request.post('/api/v1/tokens')).send({ name: 't', role: 'emperor' }),
      admin(svc.request.post('/api/v1/schedules')).send({ name: 's', cron: 'every day', workflow: 'grocery-reorder' }),
    ];
    const fields = (await Promise.all(bad)).map((r) => [r.status, r.body.error?.field]);
    expect(fields).toEqual([
      [400, 'colour'],
      [400, 'body'],
      [400, 'body'],
      [400, 'workflow'],
      [400, 'overrides.timeoutSeconds'],
      [400, 'state'],
      [400, 'id'],
      [400, 'role'],
      [400, 'cron'],
    ]);
  });

  it('the OpenAPI document lists every success status and media type the routes answer with', async () => {
    const doc = (await svc.request.get('/api/v1/openapi.json')).body;
    const responses = (p: string, m: string) => doc.paths[p][m].responses;
    for (const [p, m] of [
      ['/api/v1/runs', 'post'],
      ['/api/v1/features', 'post'],
      ['/api/v1/runtimes', 'post'],
      ['/api/v1/registry/models/{name}/versions', 'post'],
    ]) {
      expect(Object.keys(responses(p, m)), `${m} ${p}`).toEqual(expect.arrayContaining(['200', '201']));
    }
    expect(Object.keys(responses('/api/v1/runs/{id}/bundle', 'get')['200'].content)).toEqual(['application/zip']);
    expect(Object.keys(responses('/api/v1/runs/{id}/artifacts/{path}', 'get')['200'].content)).toEqual(['*/*']);
    expect(Object.keys(responses('/api/v1/runs/{id}/logs', 'get')['200'].content)).toEqual(['application/json', 'text/plain']);
    expect(Object.keys(responses('/api/v1/runs', 'get'))).toEqual(expect.arrayContaining(['405', '413', '415', '503']));
  });
});
