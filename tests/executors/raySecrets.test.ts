import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { defineModel, makeCodeRoot } from '../helpers/localRuns.ts';
import { rayJob, rayTestAddress } from '../helpers/ray.ts';

/*
 * A run's secret env on a real Ray head (tests/setup/ray.sh). Ray has no secret store: the value
 * goes into the job's runtime_env.env_vars, where the Ray Jobs API shows it to anyone who can reach
 * the dashboard. That caveat is in the README; this test pins both halves of it: the process gets
 * the value, Ray's job info holds it, and Griffin's own API still never returns it.
 */
const RAY = rayTestAddress();
const RUN_TIMEOUT_MS = 180_000;
const PRINT_HASH = `
import hashlib, os
print("TOKEN_SHA256 " + hashlib.sha256(os.environ["API_TOKEN"].encode()).hexdigest(), flush=True)
`;

describe.skipIf(RAY === undefined)('secret env on the ray backend', () => {
  let t: TestDatabase;
  let svc: TestService;
  const code = makeCodeRoot({ 'ray-hasher/hash.py': PRINT_HASH, 'ray-hasher/data.csv': 'x\n1\n' });
  const value = `ray-secret-${crypto.randomBytes(10).toString('hex')}`;

  beforeAll(async () => {
    t = await createTestDatabase('sqlite');
    svc = await startTestService(t.db, { dataDir: t.dataDir, startWorkers: true, loadExamples: false, env: { GRIFFIN_RAY_ADDRESS: RAY!, GRIFFIN_CODE_ROOT: code.root, GRIFFIN_SECRET: 'ray-secrets-test-master' } });
  });
  afterAll(async () => {
    await svc?.close();
    await t?.destroy();
    code.destroy();
  });

  const api = async (method: string, route: string, body?: unknown) => {
    const res = await svc.admin((svc.request as any)[method.toLowerCase()](route)).send(body as object | undefined);
    return { status: res.status as number, body: res.body, text: res.text as string };
  };

  it("the Ray job's process gets the value; Ray's job info holds it (the documented caveat); Griffin's API does not", async () => {
    expect((await api('PUT', '/api/v1/secrets/api-token', { value })).status).toBe(201);
    const spec = await defineModel(api, 'ray-hasher', 'python hash.py');
    const submitted = await api('POST', '/api/v1/runs', { spec: { ...spec, backend: 'ray', env: { API_TOKEN: { secret: 'api-token' } } } });
    expect(submitted.status, submitted.text).toBe(201);
    const run = await svc.waitForRun(submitted.body.id, RUN_TIMEOUT_MS);
    expect(run.state, run.reason).toBe('succeeded');
    const log = await api('GET', `/api/v1/runs/${run.id}/logs`);
    expect(log.body.text).toContain(`TOKEN_SHA256 ${crypto.createHash('sha256').update(value).digest('hex')}`);
    const job = await rayJob(RAY!, run.backendRef.submissionId);
    expect((job?.runtime_env as { env_vars?: Record<string, string> }).env_vars?.API_TOKEN).toBe(value);
    for (const route of [`/api/v1/runs/${run.id}`, `/api/v1/runs/${run.id}/events`, '/api/v1/runs', '/api/v1/secrets']) {
      expect((await api('GET', route)).text, route).not.toContain(value);
    }
  });
});
