import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createZip } from '../../server/files/zip.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startFakeKubeApi, type FakeKubeApi } from '../helpers/fakeKubeApi.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

/*
 * Uploaded code on the kubernetes and kuberay backends, through the dry-run API (what launch()
 * would send). The stand-in API server (fakeKubeApi.ts) only lets the backends be configured;
 * nothing is created. Pods fetch the code itself from GET /runs/{id}/bundle (tests/http/codeUpload.test.ts).
 */
describe('uploaded code in Kubernetes manifests', () => {
  let api: FakeKubeApi;
  let t: TestDatabase;
  let svc: TestService;
  let model: string;

  beforeAll(async () => {
    api = await startFakeKubeApi({ namespace: 'default' });
    t = await createTestDatabase('sqlite');
    svc = await startTestService(t.db, { dataDir: t.dataDir, env: { GRIFFIN_KUBERNETES: 'true', KUBECONFIG: api.kubeconfig } });
    const zip = createZip([
      { name: 'train.py', data: Buffer.from('print("hi")\n') },
      { name: 'requirements.txt', data: Buffer.from('# pinned\nlightgbm==4.5.0\n\nnumpy<3\n') },
    ]);
    const uploaded = await svc.admin(svc.request.post('/api/v1/code').set('Content-Type', 'application/zip')).send(zip);
    const created = await svc.admin(svc.request.post('/api/v1/models')).send({ name: 'k8s-uploaded', framework: 'python-stdlib', codeUri: uploaded.body.codeUri, entrypoint: 'python train.py' });
    expect(created.status).toBe(201);
    model = `k8s-uploaded@${created.body.version}`;
  });
  afterAll(async () => {
    await svc?.close();
    await t?.destroy();
    await api?.close();
  });

  const dryRun = async (backend: string, runtime = 'ray-2-py311') => {
    const res = await svc.admin(svc.request.post('/api/v1/runs?dryRun=true')).send({ spec: { model, dataset: 'grocery-reorder', runtime, backend } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.request as Record<string, any>;
  };

  it('a RayJob stages the uploaded code from the run bundle and installs its requirements.txt', async () => {
    const rayJob = await dryRun('kuberay');
    const runtimeEnv = YAML.parse(rayJob.spec.runtimeEnvYAML);
    expect(runtimeEnv.pip).toEqual(['lightgbm==4.5.0', 'numpy<3']);
    expect(runtimeEnv.working_dir).toBeUndefined();
    expect(rayJob.spec.entrypoint).toMatch(/python -c "\$GRIFFIN_STAGE_SCRIPT" && cd \/tmp\/griffin\/[^ ]+ && python train.py$/);
  });

  it('a Job of the kubernetes backend renders too (its init container fetches the bundle)', async () => {
    const job = await dryRun('kubernetes', 'python3');
    expect(job.kind).toBe('Job');
    expect(job.spec.template.spec.initContainers).toHaveLength(1);
  });
});
