import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createZip, type ZipEntry } from '../../server/files/zip.ts';
import { readZip } from '../../server/files/zipRead.ts';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

const LIMIT = 4 * 1024 * 1024;

const TRAIN_PY = `
import json, os
import griffin_run as g
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "pkg", "weights.json")) as f:
    weights = json.load(f)
print("training from uploaded code, cwd", os.getcwd())
for step, w in enumerate(weights):
    g.log_metric("loss", 1.0 / (w + 1), step=step)
with open("model.txt", "w") as f:
    f.write("trained")
g.upload_artifact("model.txt")
print("done")
`;

const codeZip = (extra: ZipEntry[] = []) =>
  createZip([{ name: 'train.py', data: Buffer.from(TRAIN_PY) }, { name: 'pkg/weights.json', data: Buffer.from('[1, 2, 3]') }, ...extra]);

/** Gives the only entry of a one-entry zip a Unix file type (a symbolic link), as `zip --symlinks` writes it. */
function asSymlink(zip: Buffer): Buffer {
  const copy = Buffer.from(zip);
  const central = copy.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  copy.writeUInt32LE(((0o120777 << 16) >>> 0), central + 38);
  return copy;
}

/** A zip whose one entry declares `declared` bytes but inflates to `actual` (a lying zip bomb). */
function lyingZip(actual: number, declared: number): Buffer {
  const zip = createZip([{ name: 'bomb.bin', data: Buffer.alloc(actual) }]);
  const copy = Buffer.from(zip);
  copy.writeUInt32LE(declared, 22);
  const central = copy.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  copy.writeUInt32LE(declared, central + 24);
  return copy;
}

describe.each(supportedDatabases())('uploaded code on %s', (dbId) => {
  let t: TestDatabase;
  let svc: TestService;
  beforeAll(async () => {
    t = await createTestDatabase(dbId);
    svc = await startTestService(t.db, { dataDir: t.dataDir, env: { GRIFFIN_MAX_CODE_BYTES: String(LIMIT) } });
  });
  afterAll(async () => {
    await svc.close();
    await t.destroy();
  });

  const upload = (bytes: Buffer, token?: string, type = 'application/zip') => {
    const req = svc.request.post('/api/v1/code').set('Content-Type', type);
    if (token) req.set('Authorization', `Bearer ${token}`);
    return req.send(bytes);
  };
  const admin = (bytes: Buffer) => svc.admin(svc.request.post('/api/v1/code').set('Content-Type', 'application/zip')).send(bytes);
  const storedZips = () => fs.readdirSync(path.join(t.dataDir, 'code')).filter((f) => f.endsWith('.zip'));

  it('stores a zip by content: the second upload of the same bytes answers 200 with the same URI and keeps one copy', async () => {
    const zip = codeZip([{ name: 'dedupe-marker.txt', data: Buffer.from(dbId) }]);
    const sha = crypto.createHash('sha256').update(zip).digest('hex');
    const first = await admin(zip);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ codeUri: `griffin://code/${sha}`, sha256: sha, size: zip.length, files: 3 });
    const before = storedZips().length;
    const second = await admin(zip);
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
    expect(storedZips().length).toBe(before);
    const described = await svc.admin(svc.request.get(`/api/v1/code/${sha}`));
    expect(described.status).toBe(200);
    expect(described.body.files).toBe(3);
    expect((await svc.admin(svc.request.get(`/api/v1/code/${'0'.repeat(64)}`))).status).toBe(404);
  });

  it('takes uploads from the roles that may submit runs, not from viewers or strangers', async () => {
    const zip = codeZip([{ name: 'role.txt', data: Buffer.from(`role ${dbId}`) }]);
    expect((await upload(zip)).status).toBe(401);
    const viewer = await upload(zip, await svc.tokenFor('viewer'));
    expect(viewer.status).toBe(403);
    expect((await upload(zip, await svc.tokenFor('editor'))).status).toBe(201);
  });

  it('refuses zip-slip, absolute paths and symbolic links with a 400 naming the entry, and stores nothing', async () => {
    const before = storedZips().length;
    const cases: Array<[Buffer, string]> = [
      [createZip([{ name: '../evil', data: Buffer.from('x') }]), 'zip entry "../evil" climbs out of the archive'],
      [createZip([{ name: 'a/../../evil.py', data: Buffer.from('x') }]), 'zip entry "a/../../evil.py" climbs out'],
      [createZip([{ name: '/etc/cron.d/evil', data: Buffer.from('x') }]), 'zip entry "/etc/cron.d/evil" is an absolute path'],
      [createZip([{ name: 'C:/evil', data: Buffer.from('x') }]), 'zip entry "C:/evil" is an absolute path'],
      [createZip([{ name: 'a\\..\\evil', data: Buffer.from('x') }]), 'contains "\\"'],
      [asSymlink(createZip([{ name: 'passwd', data: Buffer.from('/etc/passwd') }])), 'zip entry "passwd" is a symbolic link'],
      [asSymlink(createZip([{ name: 'up', data: Buffer.from('../../..') }])), 'zip entry "up" is a symbolic link'],
      [createZip([{ name: 'x', data: Buffer.from('1') }, { name: 'x/y', data: Buffer.from('2') }]), 'is both a file and a directory'],
      [Buffer.from('not a zip at all, just text'), 'not a zip archive'],
    ];
    for (const [zip, message] of cases) {
      const res = await admin(zip);
      expect(res.status, message).toBe(400);
      expect(res.body.error.code).toBe('invalid_argument');
      expect(res.body.error.message).toContain(message);
    }
    expect(storedZips().length).toBe(before);
    expect(fs.existsSync(path.join(t.dataDir, 'evil'))).toBe(false);
  });

  it('caps the upload, the inflated size (zip bombs, also lying ones) and the entry count', async () => {
    const tooBig = await admin(crypto.randomBytes(LIMIT + 1));
    expect(tooBig.status).toBe(413);
    expect(tooBig.body.error.message).toContain('GRIFFIN_MAX_CODE_BYTES');
    const bomb = createZip([{ name: 'zeros.bin', data: Buffer.alloc(LIMIT + 1024) }]);
    expect(bomb.length).toBeLessThan(LIMIT / 100);
    const inflates = await admin(bomb);
    expect(inflates.status).toBe(413);
    expect(inflates.body.error.message).toContain('inflates to more than');
    const liar = await admin(lyingZip(LIMIT * 2, 100));
    expect(liar.status).toBe(400);
    expect(liar.body.error.message).toContain('zip entry "bomb.bin" does not inflate to its declared 100 bytes');
    const many = createZip(Array.from({ length: 10_001 }, (_, i) => ({ name: `f${i}`, data: Buffer.alloc(0) })));
    const crowded = await admin(many);
    expect(crowded.status).toBe(400);
    expect(crowded.body.error.message).toContain('10001 entries; at most 10000');
    const wrongType = await upload(codeZip(), await svc.tokenFor('editor'), 'text/plain');
    expect(wrongType.status).toBe(415);
    const encoded = await svc.admin(svc.request.post('/api/v1/code').set('Content-Type', 'application/zip').set('Content-Encoding', 'gzip')).send(zlib.gzipSync(codeZip()));
    expect(encoded.status).toBe(415);
  });

  it('a model naming unknown or malformed uploaded code is refused, naming codeUri', async () => {
    const unknown = await svc.admin(svc.request.post('/api/v1/models')).send({ name: 'ghost', framework: 'python-stdlib', codeUri: `griffin://code/${'a'.repeat(64)}`, entrypoint: 'python train.py' });
    expect(unknown.status).toBe(422);
    expect(unknown.body.error.field).toBe('codeUri');
    expect(unknown.body.error.message).toContain('no code was uploaded as griffin://code/aaaa');
    expect(unknown.body.error.message).toContain('POST /api/v1/code');
    const malformed = await svc.admin(svc.request.post('/api/v1/models')).send({ name: 'ghost', framework: 'python-stdlib', codeUri: 'griffin://code/not-a-hash', entrypoint: 'python train.py' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.field).toBe('codeUri');
  });

  it('a workflow pins an uploaded snapshot, and a local run of it trains from the unpacked code in its own work dir', async () => {
    const uploaded = await admin(codeZip([{ name: 'run-marker.txt', data: Buffer.from(`e2e ${dbId}`) }]));
    expect(uploaded.status).toBe(201);
    const { codeUri, sha256 } = uploaded.body;
    const model = await svc.admin(svc.request.post('/api/v1/models')).send({ name: 'uploaded-model', framework: 'python-stdlib', codeUri, entrypoint: 'python train.py' });
    expect(model.status).toBe(201);
    expect(model.body.codeUri).toBe(codeUri);
    const workflow = await svc.admin(svc.request.post('/api/v1/workflows')).send({
      name: 'uploaded-wf',
      model: `uploaded-model@${model.body.version}`,
      dataset: 'grocery-reorder',
      runtime: 'python3',
      backend: 'local',
      register: { modelName: 'uploaded-registered' },
    });
    expect(workflow.status).toBe(201);
    const submitted = await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'uploaded-wf' });
    expect(submitted.status).toBe(201);
    const run = await svc.waitForRun(submitted.body.id, 60_000);
    const logs = await svc.admin(svc.request.get(`/api/v1/runs/${run.id}/logs`));
    expect(run.state, logs.body.text).toBe('succeeded');
    expect(run.spec.model.codeUri).toBe(codeUri);
    expect(logs.body.text).toContain('training from uploaded code');
    const metrics = await svc.admin(svc.request.get(`/api/v1/runs/${run.id}/metrics?key=loss`));
    expect(metrics.body.items.map((m: { step: number }) => m.step)).toEqual([0, 1, 2]);
    expect(run.modelVersion).toMatchObject({ name: 'uploaded-registered' });
    // The snapshot itself is untouched: still one zip and its description, nothing unpacked beside it.
    const store = fs.readdirSync(path.join(t.dataDir, 'code')).filter((f) => f.startsWith(sha256));
    expect(store.sort()).toEqual([`${sha256}.json`, `${sha256}.zip`]);
  });

  it('a pod of the kubernetes backend gets the uploaded snapshot in its run bundle', async () => {
    const uploaded = await admin(codeZip([{ name: 'pod-marker.txt', data: Buffer.from(`pod ${dbId}`) }]));
    const model = await svc.admin(svc.request.post('/api/v1/models')).send({ name: 'pod-model', framework: 'python-stdlib', codeUri: uploaded.body.codeUri, entrypoint: 'python train.py' });
    expect(model.status).toBe(201);
    // This service has no Kubernetes, so the run is a local one; GET /runs/{id}/bundle is what a kubernetes or kuberay pod fetches, whatever the backend.
    const submitted = await svc.admin(svc.request.post('/api/v1/runs')).send({ spec: { model: `pod-model@${model.body.version}`, dataset: 'grocery-reorder', runtime: 'python3', backend: 'local' } });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(201);
    const res = await svc.admin(svc.request.get(`/api/v1/runs/${submitted.body.id}/bundle`)).buffer(true).parse((r, done) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => done(null, Buffer.concat(chunks)));
    });
    expect(res.status).toBe(200);
    const names = readZip(res.body as Buffer, { maxEntries: 100, maxUncompressedBytes: 10_000_000 }).map((e) => e.name);
    expect(names).toEqual(expect.arrayContaining(['train.py', 'pkg/weights.json', 'pod-marker.txt', '.griffin/griffin_run.py']));
  });
});
