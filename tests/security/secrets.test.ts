import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServiceProcess, type ServiceProcess } from '../helpers/process.ts';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';

/**
 * The service's secrets as a process sees them: started as users start it (tsx server/index.ts),
 * with the admin token, the signing secret and the data directory set the ways the README offers.
 */
const PROBE = path.join(path.dirname(new URL(import.meta.url).pathname), 'envProbe.mjs');

const temporary: string[] = [];
const tmp = (prefix: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  temporary.push(dir);
  return dir;
};
const modeOf = (file: string) => (fs.statSync(file).mode & 0o777).toString(8).padStart(4, '0');
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

/** A code root with a model whose training code prints its whole environment as one JSON line. */
function codeRootWithEnvDump(): string {
  const root = tmp('griffin-code-');
  fs.mkdirSync(path.join(root, 'envdump'));
  fs.writeFileSync(path.join(root, 'envdump', 'train.py'), 'import json, os\nprint("ENV " + json.dumps(dict(os.environ)), flush=True)\n');
  fs.writeFileSync(path.join(root, 'data.csv'), 'x,y\n1,0\n');
  return root;
}

async function defineEnvDump(svc: ServiceProcess, token: string): Promise<void> {
  const model = await svc.api('POST', '/api/v1/models', { name: 'envdump', framework: 'python-stdlib', codeUri: 'envdump', entrypoint: 'python train.py' }, bearer(token));
  expect(model.status, JSON.stringify(model.body)).toBe(201);
  const dataset = await svc.api('POST', '/api/v1/datasets', { name: 'tiny', uri: 'data.csv' }, bearer(token));
  expect(dataset.status, JSON.stringify(dataset.body)).toBe(201);
}

const submitEnvDump = async (svc: ServiceProcess, token: string): Promise<string> => {
  const run = await svc.api('POST', '/api/v1/runs', { spec: { model: 'envdump', dataset: 'tiny', runtime: 'python3', backend: 'local' } }, bearer(token));
  expect(run.status, JSON.stringify(run.body)).toBe(201);
  return run.body.id;
};

async function finished(svc: ServiceProcess, runId: string, token: string): Promise<Record<string, any>> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const run = await svc.api('GET', `/api/v1/runs/${runId}`, undefined, bearer(token));
    if (run.body.terminal) return run.body;
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${run.body.state}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The environment the training process printed (see codeRootWithEnvDump). */
async function trainingEnvironment(svc: ServiceProcess, runId: string, token: string): Promise<Record<string, string>> {
  const logs = await svc.api('GET', `/api/v1/runs/${runId}/logs`, undefined, bearer(token));
  const line = String(logs.body.text).split('\n').find((l) => l.startsWith('ENV '));
  expect(line, logs.body.text).toBeDefined();
  return JSON.parse(line!.slice(4));
}

/** What a child process that the service starts now inherits (tests/security/envProbe.mjs). */
async function childEnvironment(svc: ServiceProcess, probeFile: string): Promise<string[]> {
  svc.child.kill('SIGUSR2');
  const deadline = Date.now() + 10_000;
  while (!fs.existsSync(probeFile)) {
    if (Date.now() > deadline) throw new Error('the environment probe wrote nothing');
    await new Promise((r) => setTimeout(r, 50));
  }
  return fs.readFileSync(probeFile, 'utf8').split('\0');
}

const environOf = (pid: number) => fs.readFileSync(`/proc/${pid}/environ`, 'utf8');

describe("the service's secrets stay out of reach of the processes it starts", () => {
  const services: ServiceProcess[] = [];
  const databases: TestDatabase[] = [];
  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop('SIGTERM')));
    await Promise.all(databases.map((d) => d.destroy()));
    for (const dir of temporary) fs.rmSync(dir, { recursive: true, force: true });
  });
  const start = async (env: Record<string, string>) => {
    const svc = await startServiceProcess({ GRIFFIN_LOAD_EXAMPLES: 'false', GRIFFIN_LOG_LEVEL: 'warn', ...env });
    services.push(svc);
    return svc;
  };

  it.each(supportedDatabases())('given in the environment, the admin token, the secret and the database URL are gone from it after start: no child the service starts sees them (%s)', async (id) => {
    const adminToken = `gft_env_${crypto.randomBytes(16).toString('hex')}`;
    const secret = `secret-${crypto.randomBytes(16).toString('hex')}`;
    const probeFile = path.join(tmp('griffin-probe-'), 'env');
    let databaseUrl: string | undefined;
    if (id === 'postgres') {
      const database = await createTestDatabase('postgres', { migrate: false });
      databases.push(database);
      databaseUrl = database.url!;
    }
    // The test's own copy of the PostgreSQL URL is not handed on, so only the service's setting could leak it.
    const database: Record<string, string> = databaseUrl ? { GRIFFIN_DATABASE_URL: databaseUrl, GRIFFIN_TEST_PG_URL: '' } : {};
    const svc = await start({
      ...database,
      GRIFFIN_DATA_DIR: tmp('griffin-data-'),
      GRIFFIN_CODE_ROOT: codeRootWithEnvDump(),
      GRIFFIN_ADMIN_TOKEN: adminToken,
      GRIFFIN_SECRET: secret,
      NODE_OPTIONS: `--import ${PROBE}`,
      GRIFFIN_TEST_ENV_PROBE: probeFile,
    });
    expect((await svc.api('GET', '/api/v1/whoami', undefined, bearer(adminToken))).body).toMatchObject({ role: 'admin' });

    const inherited = await childEnvironment(svc, probeFile);
    expect(inherited).toContain(`GRIFFIN_TEST_ENV_PROBE=${probeFile}`); // the probe saw the live environment
    expect(inherited.filter((v) => /^GRIFFIN_(ADMIN_TOKEN|SECRET|DATABASE_URL)=/.test(v))).toEqual([]);
    expect(inherited.join('\n')).not.toContain(adminToken);
    expect(inherited.join('\n')).not.toContain(secret);
    if (databaseUrl) expect(inherited.join('\n')).not.toContain(databaseUrl);

    await defineEnvDump(svc, adminToken);
    const runId = await submitEnvDump(svc, adminToken);
    expect((await finished(svc, runId, adminToken)).state).toBe('succeeded');
    const training = await trainingEnvironment(svc, runId, adminToken);
    expect(training.GRIFFIN_RUN_ID).toBe(runId);
    expect(JSON.stringify(training)).not.toContain(adminToken);
    expect(JSON.stringify(training)).not.toContain(secret);
    if (databaseUrl) expect(JSON.stringify(training)).not.toContain(databaseUrl);
  });

  it('read from GRIFFIN_ADMIN_TOKEN_FILE and GRIFFIN_SECRET_FILE, they are in no environment at all, the service\'s own included', async () => {
    const secrets = tmp('griffin-secrets-');
    const adminToken = `gft_file_${crypto.randomBytes(16).toString('hex')}`;
    const secret = `secret-${crypto.randomBytes(16).toString('hex')}`;
    fs.writeFileSync(path.join(secrets, 'admin-token'), `${adminToken}\n`, { mode: 0o600 });
    fs.writeFileSync(path.join(secrets, 'secret'), `${secret}\n`, { mode: 0o600 });
    const svc = await start({
      GRIFFIN_DATA_DIR: tmp('griffin-data-'),
      GRIFFIN_CODE_ROOT: codeRootWithEnvDump(),
      GRIFFIN_ADMIN_TOKEN: '',
      GRIFFIN_ADMIN_TOKEN_FILE: path.join(secrets, 'admin-token'),
      GRIFFIN_SECRET_FILE: path.join(secrets, 'secret'),
    });
    expect((await svc.api('GET', '/api/v1/whoami', undefined, bearer(adminToken))).body).toMatchObject({ role: 'admin' });
    // Linux keeps a process's initial environment in /proc/<pid>/environ; with the file options it never held them.
    const environ = environOf(svc.child.pid!);
    expect(environ).not.toContain(adminToken);
    expect(environ).not.toContain(secret);

    // Run tokens are signed with the file's secret: a token computed from it is accepted.
    await defineEnvDump(svc, adminToken);
    const runId = await submitEnvDump(svc, adminToken);
    expect((await finished(svc, runId, adminToken)).state).toBe('succeeded');
    const training = await trainingEnvironment(svc, runId, adminToken);
    const mac = crypto.createHmac('sha256', secret).update(`run:${runId}`).digest('base64url');
    expect(training.GRIFFIN_RUN_TOKEN).toBe(`grt_${runId}_${mac}`);
    expect(JSON.stringify(training)).not.toContain(secret);
    expect(JSON.stringify(training)).not.toContain(adminToken);
  });

  it('refuses to start when a secret is given both ways, or its file cannot be read, naming the setting', async () => {
    const secrets = tmp('griffin-secrets-');
    fs.writeFileSync(path.join(secrets, 'admin-token'), 'gft_both_ways_0123456789\n', { mode: 0o600 });
    await expect(start({ GRIFFIN_DATA_DIR: tmp('griffin-data-'), GRIFFIN_ADMIN_TOKEN_FILE: path.join(secrets, 'admin-token') })).rejects.toThrow(
      /set GRIFFIN_ADMIN_TOKEN or GRIFFIN_ADMIN_TOKEN_FILE, not both/,
    );
    await expect(start({ GRIFFIN_DATA_DIR: tmp('griffin-data-'), GRIFFIN_SECRET_FILE: path.join(secrets, 'missing') })).rejects.toThrow(/GRIFFIN_SECRET_FILE: cannot read .*missing \(ENOENT\)/);
  });
});

describe('the data directory is private to the service user', () => {
  const services: ServiceProcess[] = [];
  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop('SIGTERM')));
  });

  it('is created 0700 with its database (rollback journal: no -wal or -shm), secret, admin token and artifacts 0600, and loose modes left by an older version are tightened at start', async () => {
    const dataDir = path.join(tmp('griffin-parent-'), 'nested', 'griffin');
    const env = { GRIFFIN_DATA_DIR: dataDir, GRIFFIN_ADMIN_TOKEN: '', GRIFFIN_LOAD_EXAMPLES: 'false', GRIFFIN_WORKERS: 'false' };
    const first = await startServiceProcess(env);
    services.push(first);
    const adminToken = fs.readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
    const model = await first.api('POST', '/api/v1/models', { name: 'm', framework: 'python-stdlib', codeUri: 'examples/grocery-reorder', entrypoint: 'python train.py' }, bearer(adminToken));
    expect(model.status).toBe(201);
    const dataset = await first.api('POST', '/api/v1/datasets', { name: 'd', uri: 'examples/grocery-reorder/data/grocery_reorder_v1.csv' }, bearer(adminToken));
    expect(dataset.status).toBe(201);
    const run = await first.api('POST', '/api/v1/runs', { spec: { model: 'm', dataset: 'd', runtime: 'python3' } }, bearer(adminToken));
    expect(run.status).toBe(201);
    const uploaded = await fetch(`${first.baseUrl}/api/v1/runs/${run.body.id}/artifacts/model.json`, { method: 'PUT', headers: bearer(adminToken), body: '{"w": [1]}' });
    expect(uploaded.status).toBe(201);

    const files = ['griffin.sqlite', 'secret', 'admin-token', `artifacts/${run.body.id}/model.json`];
    // The journal exists only during a write, created with the database's mode; no -wal or -shm.
    expect(fs.readdirSync(dataDir).filter((f) => f.startsWith('griffin.sqlite'))).toEqual(['griffin.sqlite']);
    expect(modeOf(dataDir)).toBe('0700');
    expect(modeOf(path.join(dataDir, 'artifacts'))).toBe('0700');
    for (const file of files) expect(`${file} ${modeOf(path.join(dataDir, file))}`).toBe(`${file} 0600`);
    await first.stop('SIGTERM');

    // An older version left them world-readable.
    for (const dir of [dataDir, path.join(dataDir, 'artifacts')]) fs.chmodSync(dir, 0o755);
    for (const file of ['griffin.sqlite', 'secret', 'admin-token']) fs.chmodSync(path.join(dataDir, file), 0o644);
    const second = await startServiceProcess(env);
    services.push(second);
    expect(modeOf(dataDir)).toBe('0700');
    expect(modeOf(path.join(dataDir, 'artifacts'))).toBe('0700');
    for (const file of ['griffin.sqlite', 'secret', 'admin-token']) {
      expect(`${file} ${modeOf(path.join(dataDir, file))}`).toBe(`${file} 0600`);
    }
    expect(second.output()).toMatch(/took group and other permissions away/);
    // Nothing was lost on the way: the same token, the same run.
    expect((await second.api('GET', `/api/v1/runs/${run.body.id}`, undefined, bearer(adminToken))).status).toBe(200);
  });

  it('refuses to start when the data directory lies inside GRIFFIN_CODE_ROOT, also through a symbolic link, and creates nothing there', async () => {
    const codeRoot = tmp('griffin-code-');
    const inside = path.join(codeRoot, '.griffin');
    await expect(startServiceProcess({ GRIFFIN_CODE_ROOT: codeRoot, GRIFFIN_DATA_DIR: inside })).rejects.toThrow(
      new RegExp(`GRIFFIN_DATA_DIR \\(${inside}\\) lies inside GRIFFIN_CODE_ROOT \\(${codeRoot}\\)`),
    );
    expect(fs.existsSync(inside)).toBe(false);

    const elsewhere = tmp('griffin-elsewhere-');
    fs.symlinkSync(codeRoot, path.join(elsewhere, 'link'));
    const viaLink = path.join(elsewhere, 'link', 'data');
    await expect(startServiceProcess({ GRIFFIN_CODE_ROOT: codeRoot, GRIFFIN_DATA_DIR: viaLink })).rejects.toThrow(/lies inside GRIFFIN_CODE_ROOT/);
    expect(fs.existsSync(path.join(codeRoot, 'data'))).toBe(false);
  });
});
