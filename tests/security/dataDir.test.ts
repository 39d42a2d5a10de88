import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

const temporary: string[] = [];
const tmp = (prefix: string) => {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  temporary.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of temporary) fs.rmSync(dir, { recursive: true, force: true });
});

/** Names and contents of a zip archive, read by Python's zipfile (an independent reader). */
function unzip(bytes: Buffer): Record<string, string> {
  const script = 'import json, sys, zipfile, io\nz = zipfile.ZipFile(io.BytesIO(sys.stdin.buffer.read()))\nprint(json.dumps({n: z.read(n).decode("latin-1") for n in z.namelist()}))';
  return JSON.parse(execFileSync('python3', ['-c', script], { input: bytes }).toString());
}

describe('where the data directory is by default', () => {
  it('is $XDG_DATA_HOME/griffin, else ~/.local/share/griffin: outside the repository and so outside the default code root', () => {
    const repo = tmp('griffin-repo-');
    const home = tmp('griffin-home-');
    expect(loadConfig({ HOME: home }, repo).dataDir).toBe(path.join(home, '.local', 'share', 'griffin'));
    expect(loadConfig({ HOME: home, XDG_DATA_HOME: path.join(home, 'xdg') }, repo).dataDir).toBe(path.join(home, 'xdg', 'griffin'));
    // The XDG specification says a relative XDG_DATA_HOME is to be ignored.
    expect(loadConfig({ HOME: home, XDG_DATA_HOME: 'relative' }, repo).dataDir).toBe(path.join(home, '.local', 'share', 'griffin'));
  });

  it('an old <repository>/.griffin is never swapped for an empty directory: inside the code root it stops the start with a note on moving it', () => {
    const repo = tmp('griffin-repo-');
    const home = tmp('griffin-home-');
    const legacy = path.join(repo, '.griffin');
    fs.mkdirSync(legacy);
    fs.writeFileSync(path.join(legacy, 'griffin.sqlite'), 'the user data');
    const newDefault = path.join(home, '.local', 'share', 'griffin');
    expect(() => loadConfig({ HOME: home }, repo)).toThrow(`mkdir -p ${path.dirname(newDefault)} && mv ${legacy} ${newDefault}`);
    expect(fs.readFileSync(path.join(legacy, 'griffin.sqlite'), 'utf8')).toBe('the user data');
    expect(fs.existsSync(newDefault)).toBe(false);

    // With the code root elsewhere it stays in use, with a notice to move it.
    const config = loadConfig({ HOME: home, GRIFFIN_CODE_ROOT: tmp('griffin-code-') }, repo);
    expect(config.dataDir).toBe(legacy);
    expect(config.startupNotices.join('\n')).toContain(`the default is now ${newDefault}`);
    // GRIFFIN_DATA_DIR, when set, wins.
    expect(loadConfig({ HOME: home, GRIFFIN_DATA_DIR: path.join(home, 'chosen') }, repo).dataDir).toBe(path.join(home, 'chosen'));
  });
});

describe('the data directory can never be reached as code or a dataset', () => {
  let t: TestDatabase;
  let svc: TestService;
  let codeRoot: string;
  let viewer: string;

  beforeAll(async () => {
    t = await createTestDatabase('sqlite');
    codeRoot = tmp('griffin-code-');
    fs.mkdirSync(path.join(codeRoot, 'code'));
    fs.writeFileSync(path.join(codeRoot, 'code', 'train.py'), 'print("training")\n');
    fs.writeFileSync(path.join(codeRoot, 'data.csv'), 'x,y\n1,0\n');
    // Symbolic links inside the code root: to the data directory, and to a directory that contains it.
    fs.symlinkSync(t.dataDir, path.join(codeRoot, 'griffin'));
    fs.symlinkSync(path.dirname(t.dataDir), path.join(codeRoot, 'up'));
    svc = await startTestService(t.db, { dataDir: t.dataDir, env: { GRIFFIN_CODE_ROOT: codeRoot }, loadExamples: false });
    viewer = await svc.tokenFor('viewer');
    expect(fs.existsSync(path.join(t.dataDir, 'secret'))).toBe(true);
  });
  afterAll(async () => {
    await svc.close();
    await t.destroy();
  });

  const model = (name: string, codeUri: string) => svc.admin(svc.request.post('/api/v1/models')).send({ name, framework: 'python-stdlib', codeUri, entrypoint: 'python train.py' });
  const dataset = (name: string, uri: string) => svc.admin(svc.request.post('/api/v1/datasets')).send({ name, uri });

  it('a dataset uri into the data directory is refused with 422 naming "uri", by path, by file:// URI and through a link to a parent', async () => {
    for (const uri of ['griffin/secret', 'griffin/griffin.sqlite', 'griffin', pathToFileURL(path.join(codeRoot, 'griffin', 'secret')).href, `up/${path.basename(t.dataDir)}/secret`, 'up']) {
      const res = await dataset('stolen', uri);
      expect(res.status, uri).toBe(422);
      expect(res.body.error.field, uri).toBe('uri');
      expect(res.body.error.message).toMatch(/data directory/);
    }
    expect((await dataset('fine', 'data.csv')).status).toBe(201);
  });

  it('a codeUri that is, or contains, the data directory is refused with 422 naming "codeUri"', async () => {
    for (const codeUri of ['griffin', 'up', `up/${path.basename(t.dataDir)}/runs`]) {
      const res = await model('stolen', codeUri);
      expect(res.status, codeUri).toBe(422);
      expect(res.body.error.field, codeUri).toBe('codeUri');
    }
    expect((await model('fine', 'code')).status).toBe(201);
  });

  it('a model stored before this check (or whose link changed since) cannot be run: 422 naming the model', async () => {
    await svc.wired.stores.catalog.createModel({ name: 'old', framework: 'python-stdlib', codeUri: 'griffin', entrypoint: 'python train.py', defaultHyperparameters: {}, hyperparameterSchema: {}, description: '' });
    await dataset('ok-data', 'data.csv');
    const res = await svc.admin(svc.request.post('/api/v1/runs')).send({ spec: { model: 'old', dataset: 'ok-data', runtime: 'python3' } });
    expect(res.status).toBe(422);
    expect(res.body.error.field).toBe('spec.model');
  });

  it('GET /runs/{id}/bundle never packs the data directory, even when a link has been pointed at it since the run was submitted', async () => {
    fs.mkdirSync(path.join(codeRoot, 'swapcode'));
    fs.writeFileSync(path.join(codeRoot, 'swapcode', 'train.py'), 'print("ok")\n');
    fs.mkdirSync(path.join(codeRoot, 'swapdata'));
    fs.writeFileSync(path.join(codeRoot, 'swapdata', 'secret'), 'not a secret at all');
    expect((await model('swap', 'swapcode')).status).toBe(201);
    expect((await dataset('swap', 'swapdata/secret')).status).toBe(201);
    // Workers are not started: the run stays queued, and its bundle can be asked for.
    const submitted = await svc.admin(svc.request.post('/api/v1/runs')).send({ spec: { model: 'swap', dataset: 'swap', runtime: 'python3' } });
    expect(submitted.status).toBe(201);
    const runId: string = submitted.body.id;
    const getBundle = () => svc.request.get(`/api/v1/runs/${runId}/bundle`).set('Authorization', `Bearer ${viewer}`).buffer(true).parse((res, done) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done(null, Buffer.concat(chunks)));
    });

    const before = await getBundle();
    expect(before.status).toBe(200);
    const files = unzip(before.body as Buffer);
    expect(files['train.py']).toBe('print("ok")\n');
    expect(files['.griffin/dataset/secret']).toBe('not a secret at all');

    const realSecret = fs.readFileSync(path.join(t.dataDir, 'secret'), 'utf8');
    fs.renameSync(path.join(codeRoot, 'swapcode'), path.join(codeRoot, 'swapcode.real'));
    fs.symlinkSync(t.dataDir, path.join(codeRoot, 'swapcode'));
    const codeSwapped = await getBundle();
    expect(codeSwapped.status).toBe(422);
    const codeError = JSON.parse((codeSwapped.body as Buffer).toString());
    expect(codeError.error.field).toBe('model.codeUri');
    expect((codeSwapped.body as Buffer).toString()).not.toContain(realSecret);

    fs.rmSync(path.join(codeRoot, 'swapcode'));
    fs.renameSync(path.join(codeRoot, 'swapcode.real'), path.join(codeRoot, 'swapcode'));
    fs.rmSync(path.join(codeRoot, 'swapdata'), { recursive: true });
    fs.symlinkSync(t.dataDir, path.join(codeRoot, 'swapdata'));
    const dataSwapped = await getBundle();
    expect(dataSwapped.status).toBe(422);
    expect(JSON.parse((dataSwapped.body as Buffer).toString()).error.field).toBe('dataset.uri');
    expect((dataSwapped.body as Buffer).toString()).not.toContain(realSecret);
  });
});
