import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { defineModel, isRoot, makeCodeRoot, makeWorkRoot } from '../helpers/localRuns.ts';

/**
 * What training code can reach when the service runs as root: it runs as GRIFFIN_RUN_AS_USER
 * (griffin-run, created by tests/setup/ensure.sh), so the service's files and its process
 * environment are out of reach. Without root there is no other user to switch to (README).
 */
const PROBE = `
import json, os, subprocess
hp = json.loads(os.environ["GRIFFIN_HYPERPARAMETERS"])
def attempt(path):
    try:
        with open(path, "rb") as f:
            f.read(1)
        return "read"
    except PermissionError:
        return "denied"
    except OSError as e:
        return type(e).__name__
def write(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return "written"
    except PermissionError:
        return "denied"
    except OSError as e:
        return type(e).__name__
out = {
    "uid": int(subprocess.check_output(["id", "-u"]).decode()),
    "env": sorted(os.environ),
    "reads": {name: attempt(p) for name, p in hp["read"].items()},
    "dataDirWrite": write(hp["write"]),
    "ownDirWrite": write(os.path.join(os.environ["GRIFFIN_RUN_DIR"], "out.txt")),
}
print("PROBE " + json.dumps(out), flush=True)
`;

const SERVICE_SECRETS = { GRIFFIN_ADMIN_TOKEN: 'gft_service_env_admin_token_leak_check', GRIFFIN_SECRET: 'service-env-secret-leak-check', GRIFFIN_DATABASE_URL: 'postgres://leak:check@127.0.0.1:1/x' };
// MLFLOW_*: the run's own tracking target and token, given to every run (README, Tracking with MLflow).
const ALLOWED_ENV = /^(GRIFFIN_(RUN_ID|ATTEMPT|API_URL|RUN_TOKEN|HYPERPARAMETERS|DATASET_URI|DATASET|MODEL|WORKFLOW|ARTIFACT_URI|RUN_DIR|REPORT_TIMEOUT)|MLFLOW_(TRACKING_URI|RUN_ID|EXPERIMENT_ID|TRACKING_TOKEN)|PATH|HOME|USER|LOGNAME|LANG|LC_ALL|LC_CTYPE|TZ|TMPDIR|VIRTUAL_ENV|PYTHONPATH|PYTHONUNBUFFERED|PYTHONDONTWRITEBYTECODE|PWD|SHLVL|_)$/;

describe.skipIf(!isRoot())('local training isolated from a root service', () => {
  let t: TestDatabase;
  let svc: TestService;
  const code = makeCodeRoot({ 'probe/probe.py': PROBE, 'probe/data.csv': 'x\n1\n' });
  const work = makeWorkRoot();
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    // The service's own process environment holds secrets, as a careless deployment's would.
    for (const [key, value] of Object.entries(SERVICE_SECRETS)) {
      saved[key] = process.env[key];
      process.env[key] = value;
    }
    t = await createTestDatabase('sqlite');
    svc = await startTestService(t.db, {
      dataDir: t.dataDir,
      startWorkers: true,
      loadExamples: false,
      env: { GRIFFIN_CODE_ROOT: code.root, GRIFFIN_LOCAL_WORK_DIR: work.dir },
    });
  });
  afterAll(async () => {
    await svc?.close();
    await t?.destroy();
    code.destroy();
    work.destroy();
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  const api = async (method: string, route: string, body?: unknown) => {
    const res = await svc.admin((svc.request as any)[method.toLowerCase()](route)).send(body as object | undefined);
    return { status: res.status, body: res.body };
  };

  it('runs as griffin-run and cannot read the data dir, the signing secret or the service environment', async () => {
    const planted = path.join(t.dataDir, 'planted.txt');
    fs.writeFileSync(planted, 'root only', { mode: 0o600 });
    const spec = await defineModel(api, 'probe', 'python probe.py');
    const read = {
      planted,
      secret: path.join(t.dataDir, 'secret'),
      database: path.join(t.dataDir, 'griffin.sqlite'),
      adminToken: path.join(t.dataDir, 'admin-token'),
      serviceEnviron: `/proc/${process.pid}/environ`,
    };
    const submitted = await api('POST', '/api/v1/runs', { spec: { ...spec, hyperparameters: { read, write: path.join(t.dataDir, 'dropped.txt') } } });
    expect(submitted.status).toBe(201);
    const run = await svc.waitForRun(submitted.body.id);
    expect(run.state, run.reason).toBe('succeeded');
    const log = (await api('GET', `/api/v1/runs/${run.id}/logs`)).body.text as string;
    const probe = JSON.parse(log.split('\n').find((l) => l.startsWith('PROBE '))!.slice(6));

    expect(probe.uid).toBe(Number(execFileSync('id', ['-u', 'griffin-run']).toString()));
    for (const [name, file] of Object.entries(read)) {
      if (fs.existsSync(file)) expect(probe.reads[name], name).toBe('denied');
    }
    expect(fs.existsSync(read.secret)).toBe(true); // the signing secret was there to be read
    expect(probe.dataDirWrite).toBe('denied');
    expect(fs.existsSync(path.join(t.dataDir, 'dropped.txt'))).toBe(false);
    expect(probe.ownDirWrite).toBe('written');
    expect(probe.env.filter((k: string) => !ALLOWED_ENV.test(k))).toEqual([]);
    for (const key of Object.keys(SERVICE_SECRETS)) expect(probe.env).not.toContain(key);
    expect(run.backendRef.runAs).toBe('griffin-run');
  });

  it('a missing run user fails the run with a reason that says how to create it', async () => {
    const other = await startTestService(t.db, {
      dataDir: t.dataDir,
      loadExamples: false,
      env: { GRIFFIN_CODE_ROOT: code.root, GRIFFIN_LOCAL_WORK_DIR: work.dir, GRIFFIN_RUN_AS_USER: 'griffin-no-such-user' },
    });
    try {
      await svc.wired.stopWorkers(); // only `other` launches
      const spec = { model: 'probe@1', dataset: 'probe@1', runtime: 'python3' };
      const res = await other.admin(other.request.post('/api/v1/runs')).send({ spec });
      const run = await other.waitForRun(res.body.id);
      expect(run.state).toBe('failed');
      expect(run.reason).toMatch(/run user "griffin-no-such-user" does not exist.*useradd/);
    } finally {
      await other.close();
      svc.wired.startWorkers();
    }
  });
});
