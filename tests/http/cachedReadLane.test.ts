import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allRoutes } from '../../server/app.ts';
import { routeTableOf } from '../../server/api/route.ts';
import { cachedReadLane } from '../../server/api/cachedReads.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { ADMIN_TOKEN, startTestService, type TestService } from '../helpers/service.ts';
import { freePort } from '../helpers/ports.ts';

/**
 * The cached-read lane answers hot GETs before Express. Two things matter to a client: where it
 * answers, it sends what Express would have sent (status, body, headers, 304s); and it answers
 * nothing it has not already decided (any doubt goes to Express, which answers as before).
 *
 * To see which of the two answered, the lane is also served here on its own, with "Express"
 * replaced by a 599: a 599 means the lane passed the request on.
 */
const PASSED_ON = 599;
const asAdmin = { Authorization: `Bearer ${ADMIN_TOKEN}` };

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(baseUrl: string, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${baseUrl}${path}`, { method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The headers a client reads, without those that differ by the moment (Date) or by connection. */
const contentHeaders = (a: Answer) => {
  const { date: _date, connection: _connection, 'keep-alive': _keepAlive, ...rest } = a.headers;
  return rest;
};

describe('the cached-read lane', () => {
  let t: TestDatabase;
  let svc: TestService;
  let laneOnly: http.Server;
  let laneUrl: string;
  const logLines: string[] = [];
  let runId: string;

  beforeAll(async () => {
    t = await createTestDatabase('sqlite');
    svc = await startTestService(t.db, { dataDir: t.dataDir, env: { GRIFFIN_READ_CACHE_MS: '60000', GRIFFIN_AUTH_CACHE_MS: '60000' } });
    const record = (method: string, route: string, status: number) => logLines.push(`${method} ${route} ${status}`);
    const lane = cachedReadLane(routeTableOf(allRoutes(svc.wired as never)), svc.wired.auth, record);
    laneOnly = http.createServer((req, res) => {
      if (lane(req, res)) return;
      res.statusCode = PASSED_ON;
      res.end();
    });
    const port = await freePort();
    await new Promise<void>((resolve) => laneOnly.listen(port, '127.0.0.1', resolve));
    laneUrl = `http://127.0.0.1:${port}`;

    const submitted = await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder' });
    runId = submitted.body.id;
    await svc.admin(svc.request.post(`/api/v1/runs/${runId}/cancel`)).send({});
  });
  afterAll(async () => {
    await new Promise((resolve) => laneOnly.close(resolve));
    await svc.close();
    await t.destroy();
  });

  it('passes a read on until Express has cached its body, then answers it with the bytes and headers Express sent', async () => {
    const path = `/api/v1/runs/${runId}`;
    const before = await send(laneUrl, path, asAdmin);
    expect(before.status).toBe(PASSED_ON);
    const viaExpress = await send(svc.baseUrl, path, asAdmin);
    expect(viaExpress.status).toBe(200);
    expect(JSON.parse(viaExpress.body).state).toBe('cancelled');

    const viaLane = await send(laneUrl, path, asAdmin);
    expect(viaLane.status).toBe(200);
    expect(viaLane.body).toBe(viaExpress.body);
    expect(contentHeaders(viaLane)).toEqual(contentHeaders(viaExpress));
    expect(viaLane.headers['content-type']).toBe('application/json; charset=utf-8');
    // The service itself now answers from the lane too, with the same bytes.
    expect((await send(svc.baseUrl, path, asAdmin)).body).toBe(viaExpress.body);
    expect(logLines.at(-1)).toBe('GET /api/v1/runs/{id} 200');
  });

  it('answers HEAD and If-None-Match under the rules Express applies', async () => {
    const path = `/api/v1/runs/${runId}`;
    const full = await send(svc.baseUrl, path, asAdmin);
    const etag = String(full.headers.etag);
    const head = await send(laneUrl, path, asAdmin, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect(head.headers['content-length']).toBe(full.headers['content-length']);

    const conditional = async (headers: Record<string, string>) => {
      const [lane, express] = [await send(laneUrl, path, { ...asAdmin, ...headers }), await expressAnswer(path, headers)];
      expect(lane.status).toBe(express.status);
      expect(contentHeaders(lane)).toEqual(contentHeaders(express));
      expect(lane.body).toBe(express.body);
      return lane.status;
    };
    expect(await conditional({ 'If-None-Match': etag })).toBe(304);
    expect(await conditional({ 'If-None-Match': `W/${etag}` })).toBe(304);
    expect(await conditional({ 'If-None-Match': `"other", ${etag}` })).toBe(304);
    expect(await conditional({ 'If-None-Match': '*' })).toBe(304);
    expect(await conditional({ 'If-None-Match': '"other"' })).toBe(200);
    // An end-to-end reload is never answered from a validator.
    expect(await conditional({ 'If-None-Match': etag, 'Cache-Control': 'no-cache' })).toBe(200);
  });

  /** What Express answers (the lane cannot take it: a query string sends every request there). */
  const expressAnswer = (path: string, headers: Record<string, string>) => send(svc.baseUrl, `${path}?via=express`, { ...asAdmin, ...headers });

  it('serves aliases and versions once cached, and drops an alias at once when this service moves it', async () => {
    for (const uri of ['s3://models/v1', 's3://models/v2']) {
      expect((await svc.admin(svc.request.post('/api/v1/registry/models/lane-model/versions')).send({ artifactUri: uri })).status).toBe(201);
    }
    const alias = '/api/v1/registry/models/lane-model/aliases/production';
    await svc.admin(svc.request.put(alias)).send({ version: 1 });
    expect((await send(svc.baseUrl, alias, asAdmin)).status).toBe(200);
    const first = await send(laneUrl, alias, asAdmin);
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body).version).toBe(1);
    expect(first.headers.etag).toBe('"1"');

    await svc.admin(svc.request.put(alias)).send({ version: 2 });
    // The move dropped the cached body: the lane no longer has an answer, Express reads the new one.
    expect((await send(laneUrl, alias, asAdmin)).status).toBe(PASSED_ON);
    expect(JSON.parse((await send(svc.baseUrl, alias, asAdmin)).body).version).toBe(2);
    expect(JSON.parse((await send(laneUrl, alias, asAdmin)).body).version).toBe(2);

    const version = '/api/v1/registry/models/lane-model/versions/1';
    await send(svc.baseUrl, version, asAdmin);
    expect(JSON.parse((await send(laneUrl, version, asAdmin)).body).artifactUri).toBe('s3://models/v1');
    expect(logLines.at(-1)).toBe('GET /api/v1/registry/models/{name}/versions/{version} 200');
  });

  it('passes on every request it has not already decided, and Express answers them as before', async () => {
    const path = `/api/v1/runs/${runId}`;
    await send(svc.baseUrl, path, asAdmin);
    expect((await send(laneUrl, path, asAdmin)).status).toBe(200);
    const passedOn = async (headers: Record<string, string>, url = path, expressStatus?: number) => {
      expect((await send(laneUrl, url, headers)).status).toBe(PASSED_ON);
      if (expressStatus !== undefined) expect((await send(svc.baseUrl, url, headers)).status).toBe(expressStatus);
    };
    await passedOn({}, path, 401); // no token
    await passedOn({ Authorization: 'Bearer gft_not_a_token' }, path, 401);
    await passedOn({ Authorization: `Bearer ${svc.wired.auth.runToken(runId)}` }, path, 401); // a finished run's token is dead
    await passedOn(asAdmin, `${path}?x=1`);
    await passedOn(asAdmin, '/api/v1/runs/has%00nul', 400);
    await passedOn(asAdmin, '/api/v1/runs/bad%ZZ', 400);
    await passedOn(asAdmin, '/api/v1/runs'); // a list: not a cached read

    // A token seen lately is answered; revoked on this service, it is refused at once.
    const created = await svc.admin(svc.request.post('/api/v1/tokens')).send({ name: 'lane-viewer', role: 'viewer' });
    const viewer = { Authorization: `Bearer ${created.body.token}` };
    await passedOn(viewer, path, 200); // first use: verified through Express
    expect((await send(laneUrl, path, viewer)).status).toBe(200);
    expect((await svc.admin(svc.request.delete(`/api/v1/tokens/${created.body.id}`))).status).toBe(204);
    await passedOn(viewer, path, 401);
  });
});

describe('an expired cached read under load', () => {
  let t: TestDatabase;
  let svc: TestService;
  const TTL_MS = 300;
  beforeAll(async () => {
    t = await createTestDatabase('sqlite');
    svc = await startTestService(t.db, { dataDir: t.dataDir, env: { GRIFFIN_READ_CACHE_MS: String(TTL_MS) } });
  });
  afterAll(async () => {
    await svc.close();
    await t.destroy();
  });

  /** The SQL of the queries `read` makes, seen on the service's database handle. */
  const sqlOf = async (read: () => Promise<void>): Promise<string[]> => {
    const seen: string[] = [];
    const note = (q: { sql: string }) => seen.push(q.sql);
    t.db.on('query', note);
    try {
      await read();
    } finally {
      t.db.removeListener('query', note);
    }
    return seen;
  };
  const queriesOf = async (read: () => Promise<void>): Promise<number> => (await sqlOf(read)).length;
  const readAll = async (path: string, n: number, check: (body: any) => void) => {
    const answers = await Promise.all(Array.from({ length: n }, () => send(svc.baseUrl, path, asAdmin)));
    for (const a of answers) check(JSON.parse(a.body));
  };

  it('a finished run is reloaded once for all the requests that find it expired, not once each', async () => {
    const submitted = await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder' });
    expect(submitted.status).toBe(201);
    const path = `/api/v1/runs/${submitted.body.id}`;
    expect((await svc.admin(svc.request.post(`${path}/cancel`)).send({})).status).toBe(202);
    const cancelled = (body: any) => expect(body.state).toBe('cancelled');
    const oneReload = await queriesOf(() => readAll(path, 1, cancelled));
    expect(oneReload).toBeGreaterThan(0);
    expect(await queriesOf(() => readAll(path, 1, cancelled))).toBe(0); // cached: no query

    await new Promise((r) => setTimeout(r, TTL_MS + 100));
    expect(await queriesOf(() => readAll(path, 32, cancelled))).toBe(oneReload);
  });

  it('an alias past the bound with nothing changed costs the requests one shared poll of the changes feed, and no reload', async () => {
    expect((await svc.admin(svc.request.post('/api/v1/registry/models/herd/versions')).send({ artifactUri: 's3://models/v1' })).status).toBe(201);
    await svc.admin(svc.request.put('/api/v1/registry/models/herd/aliases/production')).send({ version: 1 });
    const alias = '/api/v1/registry/models/herd/aliases/production';
    const one = (body: any) => expect(body.version).toBe(1);
    await new Promise((r) => setTimeout(r, TTL_MS + 100));
    expect(await queriesOf(() => readAll(alias, 1, one))).toBeGreaterThan(1); // a poll, then the alias
    expect(await queriesOf(() => readAll(alias, 1, one))).toBe(0);

    await new Promise((r) => setTimeout(r, TTL_MS + 100));
    // The requests that come while the poll runs share it; one that comes a quarter bound later
    // starts the next. None reads the alias again.
    const sql = await sqlOf(() => readAll(alias, 32, one));
    expect(sql.length).toBeGreaterThan(0);
    expect(sql.length).toBeLessThan(4);
    for (const q of sql) expect(q).toMatch(/from [`"]registry_changes[`"]/);
  });
});
