import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuntimeBuildError, RuntimeVenvs } from '../../server/executors/runtimeVenv.ts';
import { curatedRuntimes, parseLock, pinName } from '../../server/files/runtimeLocks.ts';
import { seedCatalog } from '../../server/services/seed.ts';
import { createLogger } from '../../server/logger.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { makeCodeRoot, makeWorkRoot } from '../helpers/localRuns.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

/*
 * Local venvs of runtimes, built for real: python3 -m venv and pip from PyPI. The lock here is one
 * tiny package, so a build takes seconds; the curated runtimes' locks are checked for form, and
 * the example tests build one of them for real (tests/executors/trainScore.test.ts).
 */
const SIX = 'six==1.17.0';
const tiny = (name: string, packages = [SIX]) => ({ name, packages, pythonVersion: null, localInterpreter: 'python3' });

const roots: string[] = [];
const newRoot = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'griffin-venvs-'));
  fs.chmodSync(dir, 0o755);
  roots.push(dir);
  return path.join(dir, 'runtimes');
};
afterAll(() => {
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
});

const pythonImports = (python: string, module: string) => spawnSync(python, ['-c', `import ${module}`]).status === 0;

describe('runtime venvs', () => {
  it('the first use builds the venv from the lock; the second reuses it', async () => {
    const venvs = new RuntimeVenvs(newRoot());
    const log = path.join(path.dirname(venvs.root), 'run.log');
    const first = await venvs.ensure(tiny('tiny'), { logFile: log });
    expect(first.built).toBe(true);
    expect(pythonImports(first.python, 'six')).toBe(true);
    expect(fs.readFileSync(log, 'utf8')).toMatch(/first use on this host, building its venv \(1 pinned packages\)[\s\S]*Successfully installed six-1\.17\.0[\s\S]*venv built in/);
    const record = JSON.parse(fs.readFileSync(path.join(first.dir, 'griffin-runtime.json'), 'utf8'));
    expect(record).toMatchObject({ name: 'tiny', packages: [SIX] });

    const second = await venvs.ensure(tiny('tiny'), { logFile: log });
    expect(second).toMatchObject({ built: false, python: first.python, dir: first.dir });
    expect(fs.readFileSync(log, 'utf8').match(/first use on this host, building its venv/g)).toHaveLength(1);
    // Another lock is another venv: the key is the lock's content.
    expect(venvs.dirFor(tiny('tiny', ['six==1.16.0']))).not.toBe(first.dir);
  });

  it('concurrent first uses (two replicas of one host) build once, and both get the built venv', async () => {
    const root = newRoot();
    const log = path.join(path.dirname(root), 'run.log');
    const [a, b] = await Promise.all([new RuntimeVenvs(root).ensure(tiny('shared'), { logFile: log }), new RuntimeVenvs(root).ensure(tiny('shared'), { logFile: log })]);
    expect([a.built, b.built].sort()).toEqual([false, true]);
    expect(a.python).toBe(b.python);
    expect(pythonImports(a.python, 'six')).toBe(true);
    const text = fs.readFileSync(log, 'utf8');
    expect(text.match(/first use on this host, building its venv/g)).toHaveLength(1);
    expect(text).toMatch(/another launch is building its venv; waiting for it/);
    expect(fs.readdirSync(root).sort()).toEqual([path.basename(a.dir)]);
  });

  it('a build that died (its lock held by a process that is gone) is taken over and built again', async () => {
    const venvs = new RuntimeVenvs(newRoot());
    const dir = venvs.dirFor(tiny('orphan'));
    const dead = spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim();
    fs.mkdirSync(`${dir}.lock`, { recursive: true });
    fs.writeFileSync(path.join(`${dir}.lock`, 'owner.json'), JSON.stringify({ host: os.hostname(), pid: Number(dead), start: 1 }));
    // What the dead build left: a venv without its ready marker, which nobody may use.
    fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
    expect(venvs.readyPython(tiny('orphan'))).toBeUndefined();
    const log = path.join(path.dirname(venvs.root), 'run.log');
    const ensured = await venvs.ensure(tiny('orphan'), { logFile: log });
    expect(ensured.built).toBe(true);
    expect(pythonImports(ensured.python, 'six')).toBe(true);
    expect(fs.readFileSync(log, 'utf8')).toMatch(/the build that held .* is gone; building again/);
    expect(fs.existsSync(`${dir}.lock`)).toBe(false);
  });

  it('a lock pip cannot install, or one that is incomplete, is a clear error and leaves nothing behind', async () => {
    const venvs = new RuntimeVenvs(newRoot());
    const missing = tiny('missing', ['six==0.0.0.1']);
    const error = await venvs.ensure(missing).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RuntimeBuildError);
    expect((error as Error).message).toMatch(/^runtime "missing": could not install the lock: ERROR: .*six==0\.0\.0\.1/);
    expect(fs.existsSync(venvs.dirFor(missing))).toBe(false);
    expect(fs.existsSync(`${venvs.dirFor(missing)}.lock`)).toBe(false);

    // python-dateutil needs six, which this lock forgets: pip check says so, and the venv is not kept.
    const incomplete = tiny('incomplete', ['python-dateutil==2.9.0.post0']);
    const check = await venvs.ensure(incomplete).catch((e: unknown) => e);
    expect((check as Error).message).toMatch(/^runtime "incomplete": could not check the lock is complete \(pip check\): python-dateutil 2\.9\.0\.post0 requires six/);
    expect(venvs.readyPython(incomplete)).toBeUndefined();
  });

  it('a runtime whose Python is not the host\'s is refused before anything is built', async () => {
    const venvs = new RuntimeVenvs(newRoot());
    const error = await venvs.ensure({ ...tiny('old'), pythonVersion: '2.7' }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/runtime "old" is Python 2\.7, but python3 on this host is Python 3\.\d+/);
  });
});

describe('lock files', () => {
  it('every curated runtime pins every package exactly, Ray included, and its Ray pins are those of its lock', () => {
    const all = curatedRuntimes();
    expect(all.map((r) => r.name).sort()).toEqual(['jax-cpu', 'lightgbm', 'mlflow-sklearn', 'sklearn', 'xgboost-cpu']);
    // mlflow-sklearn is for the local backend only: it pins no Ray.
    const local = all.find((r) => r.name === 'mlflow-sklearn')!;
    expect(local.backends).toEqual(['local']);
    expect(local.packages as string[]).toContain('mlflow==3.17.2');
    const runtimes = all.filter((r) => r !== local);
    for (const runtime of runtimes) {
      const packages = runtime.packages as string[];
      expect(packages.length, String(runtime.name)).toBeGreaterThan(10);
      expect(packages.map(pinName)).toContain('ray');
      expect(packages).toContain('ray[train]==2.60.0');
      expect(runtime.rayVersion).toBe('2.60.0');
      expect((runtime.rayRuntimeEnv as { pip: string[] }).pip.length).toBeGreaterThan(0);
      expect(runtime.image).toMatch(/^griffin-runtime-[a-z0-9-]+:ray2\.60\.0-py311$/);
    }
  });

  it('a lock line that is not an exact pin, or a package pinned twice, names the line', () => {
    expect(parseLock('# header\nsix==1.17.0\n\nnumpy==2.4.6  # why\n', 'x.lock')).toEqual(['six==1.17.0', 'numpy==2.4.6']);
    expect(() => parseLock('six==1.17.0\nnumpy>=2\n', 'runtimes/x/requirements.lock')).toThrow(/runtimes\/x\/requirements\.lock:2: "numpy>=2" is not an exact pin/);
    expect(() => parseLock('--index-url https://example.com\n', 'a.lock')).toThrow(/a\.lock:1: .* is not an exact pin/);
    expect(() => parseLock('Six==1.17.0\nsix==1.16.0\n', 'a.lock')).toThrow(/a\.lock:2: six is pinned twice \(first on line 1\)/);
  });
});

describe('runtimes through the service (local backend)', () => {
  let t: TestDatabase;
  let svc: TestService;
  let code: { root: string; destroy(): void };
  let work: { dir: string; destroy(): void };
  let runtimeDir: string;

  beforeAll(async () => {
    t = await createTestDatabase('sqlite');
    code = makeCodeRoot({
      'uses-six/train.py': 'import six, sys\nprint("six", six.__version__, "from", sys.executable)\n',
      'uses-six/data.csv': 'a\n1\n',
    });
    work = makeWorkRoot();
    runtimeDir = newRoot();
    svc = await startTestService(t.db, { dataDir: t.dataDir, loadExamples: false, env: { GRIFFIN_CODE_ROOT: code.root, GRIFFIN_LOCAL_WORK_DIR: work.dir, GRIFFIN_RUNTIME_DIR: runtimeDir } });
  });
  afterAll(async () => {
    await svc?.close();
    await t?.destroy();
    code.destroy();
    work.destroy();
  });

  const api = (method: 'get' | 'post', route: string, body?: unknown) => svc.admin(svc.request[method](route)).send(body as object);
  const logOf = async (id: string) => (await api('get', `/api/v1/runs/${id}/logs`)).body.text as string;

  it('lists the curated runtimes with their lock, pins, image and Ray runtime_env', async () => {
    const res = await api('get', '/api/v1/runtimes/xgboost-cpu');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ lockFile: 'runtimes/xgboost-cpu/requirements.lock', rayVersion: '2.60.0', frameworks: expect.arrayContaining(['xgboost']) });
    expect(res.body.packages).toContain('xgboost-cpu==3.2.0');
    expect(res.body.rayRuntimeEnv.pip).toContain('xgboost-cpu==3.2.0');
    const names = (await api('get', '/api/v1/runtimes')).body.items.map((r: { name: string }) => r.name);
    expect(names).toEqual(expect.arrayContaining(['python3', 'ray-2-py311', 'sklearn', 'lightgbm', 'xgboost-cpu', 'jax-cpu']));
  });

  it('a restart keeps an image an admin gave a curated runtime, and its pins follow the lock file', async () => {
    const stored = (await api('get', '/api/v1/runtimes/lightgbm')).body;
    const { createdAt: _c, updatedAt: _u, ...input } = stored;
    expect((await api('post', '/api/v1/runtimes', { ...input, image: 'registry.example.com/ml/lightgbm:7', packages: ['six==1.17.0'], rayRuntimeEnv: { pip: [] } })).status).toBe(200);
    await seedCatalog(svc.wired.catalog, svc.wired.stores.catalog, { examplesDir: '/nonexistent', loadExamples: false }, createLogger('silent'));
    const after = (await api('get', '/api/v1/runtimes/lightgbm')).body;
    expect(after.image).toBe('registry.example.com/ml/lightgbm:7');
    expect(after.packages).toEqual(stored.packages);
    expect(after.rayRuntimeEnv).toEqual(stored.rayRuntimeEnv);
  });

  it('a runtime whose packages are not exact pins is a 400 naming the entry', async () => {
    const res = await api('post', '/api/v1/runtimes', { name: 'loose', packages: ['six==1.17.0', 'numpy>=2'], backends: ['local'] });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ field: 'packages.1' });
    expect(res.body.error.message).toMatch(/"numpy>=2" is not an exact pin/);
    expect((await api('get', '/api/v1/runtimes/loose')).status).toBe(404);
  });

  it('a workflow whose model framework its runtime does not provide is refused before it is stored', async () => {
    await api('post', '/api/v1/datasets', { name: 'six-data', uri: 'uses-six/data.csv' });
    await api('post', '/api/v1/models', { name: 'xgb-model', framework: 'xgboost', codeUri: 'uses-six', entrypoint: 'python train.py' });
    const res = await api('post', '/api/v1/workflows', { name: 'mismatch', model: 'xgb-model', dataset: 'six-data', runtime: 'sklearn' });
    expect(res.status).toBe(422);
    expect(res.body.error.field).toBe('runtime');
    expect(res.body.error.message).toMatch(/runtime "sklearn" provides sklearn, python-stdlib, ray, not the xgboost framework of model "xgb-model@1"/);
    expect((await api('get', '/api/v1/workflows/mismatch')).status).toBe(404);
    const backend = await api('post', '/api/v1/workflows', { name: 'mismatch', model: 'xgb-model', dataset: 'six-data', runtime: 'ray-2-py311', backend: 'kubernetes' });
    expect(backend.status).toBe(422);
    expect(backend.body.error.field).toBe('backend');
  });

  it('a run of a runtime with pins runs in its venv, built on first use and reused by the next run', async () => {
    expect((await api('post', '/api/v1/runtimes', { name: 'six-runtime', packages: [SIX], frameworks: ['python-stdlib'], backends: ['local'], localInterpreter: 'python3' })).status).toBe(201);
    await api('post', '/api/v1/models', { name: 'uses-six', framework: 'python-stdlib', codeUri: 'uses-six', entrypoint: 'python train.py' });
    const spec = { model: 'uses-six', dataset: 'six-data', runtime: 'six-runtime' };
    const dry = await api('post', '/api/v1/runs?dryRun=true', { spec });
    expect(dry.body.request.runtimeVenv).toMatchObject({ built: false, packages: [SIX] });

    const first = await api('post', '/api/v1/runs', { spec });
    const run1 = await svc.waitForRun(first.body.id, 180_000);
    const log1 = await logOf(run1.id);
    expect(run1.state, `${run1.reason}\n${log1}`).toBe('succeeded');
    expect(log1).toMatch(/runtime six-runtime: first use on this host, building its venv/);
    expect(log1).toMatch(new RegExp(`six 1\\.17\\.0 from ${runtimeDir}/six-runtime-[0-9a-f]{16}/bin/python`));

    const second = await api('post', '/api/v1/runs', { spec });
    const run2 = await svc.waitForRun(second.body.id, 60_000);
    const log2 = await logOf(run2.id);
    expect(run2.state).toBe('succeeded');
    expect(log2).not.toMatch(/building its venv/);
    expect(log2).toMatch(/six 1\.17\.0 from /);
  });

  it('a runtime whose lock pip cannot install fails the run with pip\'s words, and nothing is left half-built', async () => {
    await api('post', '/api/v1/runtimes', { name: 'broken-runtime', packages: ['six==0.0.0.1'], frameworks: ['python-stdlib'], backends: ['local'] });
    const res = await api('post', '/api/v1/runs', { spec: { model: 'uses-six', dataset: 'six-data', runtime: 'broken-runtime' } });
    const run = await svc.waitForRun(res.body.id, 120_000);
    expect(run.state).toBe('failed');
    expect(run.reason).toMatch(/^launch failed: runtime "broken-runtime": could not install the lock: ERROR: .*six==0\.0\.0\.1/);
    expect(fs.readdirSync(runtimeDir).filter((d) => d.startsWith('broken-runtime'))).toEqual([]);
  });
});
