import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createZip } from '../../server/files/zip.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { rayJob, rayTestAddress } from '../helpers/ray.ts';

/*
 * Uploaded code (griffin://code/<sha256>) on the ray backend against the real Ray head of the
 * test set-up: the snapshot is packed as a Ray package (gcs://_ray_pkg_...) and runs as the job's
 * working_dir, reporting back to Griffin. SQLite only, one job: each costs the machine seconds.
 */
const RAY = rayTestAddress();

describe.skipIf(RAY === undefined)('uploaded code on a real Ray head', () => {
  let t: TestDatabase;
  let svc: TestService;
  beforeAll(async () => {
    t = await createTestDatabase('sqlite');
    svc = await startTestService(t.db, { dataDir: t.dataDir, startWorkers: true, env: { GRIFFIN_RAY_ADDRESS: RAY! } });
  });
  afterAll(async () => {
    await svc.close();
    await t.destroy();
  });

  it('runs the uploaded snapshot as the Ray job working_dir, with its own module imports', async () => {
    const zip = createZip([
      { name: 'train.py', data: Buffer.from('import helper\nimport griffin_run as g\nprint("ray says", helper.WORD, flush=True)\ng.log_metric("score", 0.75)\n') },
      { name: 'helper.py', data: Buffer.from(`WORD = "uploaded-${Date.now()}"\n`) },
    ]);
    const uploaded = await svc.admin(svc.request.post('/api/v1/code').set('Content-Type', 'application/zip')).send(zip);
    expect(uploaded.status).toBe(201);
    const model = await svc.admin(svc.request.post('/api/v1/models')).send({ name: 'ray-uploaded', framework: 'python-stdlib', codeUri: uploaded.body.codeUri, entrypoint: 'python train.py' });
    expect(model.status).toBe(201);
    const submitted = await svc.admin(svc.request.post('/api/v1/runs')).send({ spec: { model: `ray-uploaded@${model.body.version}`, dataset: 'grocery-reorder', runtime: 'python3', backend: 'ray' } });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(201);
    const run = await svc.waitForRun(submitted.body.id, 180_000);
    expect(run.state, run.reason).toBe('succeeded');
    expect(run.backendRef.workingDir).toMatch(/^gcs:\/\/_ray_pkg_[0-9a-f]{32}\.zip$/);
    const job = await rayJob(RAY!, run.backendRef.submissionId);
    expect(job?.status).toBe('SUCCEEDED');
    const logs = (await svc.admin(svc.request.get(`/api/v1/runs/${run.id}/logs`))).body.text;
    expect(logs).toMatch(/ray says uploaded-\d+/);
    expect(run.latestMetrics.score.value).toBe(0.75);
  });
});
