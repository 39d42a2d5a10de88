import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../server/config.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startFakeKubeApi, type FakeKubeApi } from '../helpers/fakeKubeApi.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { kubernetesValidators, rayJobValidator, schemaDir, type Validate } from '../helpers/schemas.ts';

/*
 * What Griffin would create on Kubernetes, checked against the official schemas fetched by
 * tests/setup/schemas.sh: the Kubernetes 1.34 OpenAPI definitions (strict: unknown fields are
 * errors) and KubeRay v1.5.0's RayJob CRD. The manifests come from the dry-run API, which is
 * exactly what launch() sends; the stand-in API server (fakeKubeApi.ts) only proves that a dry
 * run sends nothing. Also: the deployment manifests in deploy/kubernetes/.
 */
const SCHEMAS = schemaDir();
const NAMESPACE = 'ml-training';

describe.skipIf(SCHEMAS === undefined)('Kubernetes and KubeRay manifests against the official schemas', () => {
  let api: FakeKubeApi;
  let t: TestDatabase;
  let svc: TestService;
  let k8s: (definition: string) => Validate;
  let rayJob: Validate;

  beforeAll(async () => {
    k8s = kubernetesValidators(SCHEMAS!);
    rayJob = rayJobValidator(SCHEMAS!);
    api = await startFakeKubeApi({ namespace: NAMESPACE });
    t = await createTestDatabase('sqlite');
    svc = await startTestService(t.db, {
      dataDir: t.dataDir,
      env: {
        GRIFFIN_KUBERNETES: 'true',
        KUBECONFIG: api.kubeconfig,
        GRIFFIN_KUBERNETES_NAMESPACE: NAMESPACE,
        GRIFFIN_KUBERNETES_SERVICE_ACCOUNT: 'griffin-training',
        GRIFFIN_KUBERNETES_NODE_SELECTOR: '{"pool":"training"}',
        GRIFFIN_KUBERNETES_TOLERATIONS: '[{"key":"dedicated","operator":"Equal","value":"ml","effect":"NoSchedule"}]',
      },
    });
  });
  afterAll(async () => {
    await svc?.close();
    await t?.destroy();
    await api?.close();
  });

  const dryRun = async (body: Record<string, unknown>) => {
    const res = await svc.admin(svc.request.post('/api/v1/runs?dryRun=true')).send(body);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body as { backend: string; request: Record<string, any> };
  };

  it('the Job for the example is a valid batch/v1 Job with the run identity, resources, placement and failure policy', async () => {
    const { backend, request: job } = await dryRun({
      workflow: 'grocery-reorder',
      overrides: { backend: 'kubernetes', timeoutSeconds: 900, resources: { cpu: 2, memoryMb: 2048, gpu: 1, customResources: { 'example.com/fpga': 1 } } },
    });
    expect(backend).toBe('kubernetes');
    expect(k8s('io.k8s.api.batch.v1.Job')(job)).toEqual([]);
    expect(job.metadata).toMatchObject({ name: 'griffin-run-dryrun000000-1', namespace: NAMESPACE, labels: { 'griffin.dev/run-id': 'dryrun000000', 'griffin.dev/workflow': 'grocery-reorder' } });
    expect(job.metadata.annotations['griffin.dev/workflow']).toBe('grocery-reorder@1');
    expect(job.spec).toMatchObject({ backoffLimit: 2, activeDeadlineSeconds: 900, ttlSecondsAfterFinished: 86400 });
    expect(job.spec.podFailurePolicy.rules[0]).toEqual({ action: 'FailJob', onExitCodes: { containerName: 'training', operator: 'NotIn', values: [0] } });
    const pod = job.spec.template.spec;
    expect(pod).toMatchObject({ restartPolicy: 'Never', serviceAccountName: 'griffin-training', nodeSelector: { pool: 'training' }, automountServiceAccountToken: false });
    expect(pod.tolerations).toEqual([
      { key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' },
      { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
    ]);
    const training = pod.containers[0];
    expect(training).toMatchObject({ name: 'training', image: 'rayproject/ray:2.40.0-py311', command: ['/bin/sh', '-c', 'python train.py'], workingDir: '/workspace' });
    expect(training.resources).toEqual({ requests: { cpu: '2', memory: '2048Mi' }, limits: { memory: '2048Mi', 'nvidia.com/gpu': '1', 'example.com/fpga': '1' } });
    const env = Object.fromEntries(training.env.map((e: { name: string; value: string }) => [e.name, e.value]));
    expect(env).toMatchObject({
      GRIFFIN_RUN_ID: 'dryrun000000',
      GRIFFIN_RUN_TOKEN: '[redacted]',
      GRIFFIN_API_URL: svc.baseUrl,
      GRIFFIN_DATASET_URI: 'file:///workspace/.griffin/dataset/grocery_reorder_v1.csv',
      PYTHONPATH: '/workspace/.griffin',
    });
    expect(pod.initContainers[0].name).toBe('stage');
  });

  it('the RayJobs for the example and the Ray-native sweep are valid ray.io/v1 RayJobs (KubeRay v1.5.0 CRD)', async () => {
    const objectMeta = k8s('io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta');
    for (const workflow of ['grocery-reorder', 'grocery-reorder-sweep']) {
      const { backend, request } = await dryRun({ workflow, overrides: { backend: 'kuberay', resources: { cpu: 2, memoryMb: 4096, gpu: 1, workers: 3 } } });
      expect(backend).toBe('kuberay');
      expect(rayJob(request)).toEqual([]);
      expect(objectMeta(request.metadata)).toEqual([]);
      for (const group of [request.spec.rayClusterSpec.headGroupSpec, ...request.spec.rayClusterSpec.workerGroupSpecs]) {
        expect(k8s('io.k8s.api.core.v1.PodTemplateSpec')(group.template)).toEqual([]);
      }
      expect(request.spec).toMatchObject({ shutdownAfterJobFinishes: true, ttlSecondsAfterFinished: 86400, activeDeadlineSeconds: workflow === 'grocery-reorder' ? 600 : 900, submissionMode: 'K8sJobMode' });
      expect(request.spec.rayClusterSpec.rayVersion).toBe('2.40.0');
      expect(request.spec.rayClusterSpec.workerGroupSpecs[0]).toMatchObject({ replicas: 3, minReplicas: 3, maxReplicas: 3 });
      const head = request.spec.rayClusterSpec.headGroupSpec.template.spec.containers[0];
      expect(head.image).toBe('rayproject/ray:2.40.0-py311');
      expect(head.resources.limits['nvidia.com/gpu']).toBe('1');
      const runtimeEnv = YAML.parse(request.spec.runtimeEnvYAML);
      expect(runtimeEnv.env_vars).toMatchObject({ GRIFFIN_RUN_ID: 'dryrun000000', GRIFFIN_RUN_TOKEN: '[redacted]' });
      expect(request.spec.entrypoint).toMatch(/^python -c "\$GRIFFIN_STAGE_SCRIPT" && cd \/tmp\/griffin\/griffin-run-dryrun000000-1 && python /);
    }
  });

  it('the validators are not vacuous: a misspelt field or a wrong type is reported', async () => {
    const { request: job } = await dryRun({ workflow: 'grocery-reorder', overrides: { backend: 'kubernetes' } });
    const broken = structuredClone(job);
    broken.spec.template.spec.containers[0].workdir = '/x';
    broken.spec.backoffLimit = 'two';
    expect(k8s('io.k8s.api.batch.v1.Job')(broken).join('\n')).toMatch(/workdir[\s\S]*backoffLimit|backoffLimit[\s\S]*workdir/);
    const { request } = await dryRun({ workflow: 'grocery-reorder', overrides: { backend: 'kuberay' } });
    const badRay = structuredClone(request);
    badRay.spec.shutdownAfterJobFinish = true;
    delete badRay.spec.rayClusterSpec.workerGroupSpecs[0].groupName;
    const errors = rayJob(badRay).join('\n');
    expect(errors).toMatch(/shutdownAfterJobFinish\b/);
    expect(errors).toMatch(/groupName/);
  });

  it('a dry run creates nothing: no run is stored and the API server sees no request', async () => {
    const before = (await svc.admin(svc.request.get('/api/v1/runs?limit=500'))).body.items.length;
    const seen = api.requests.length;
    for (const backend of ['local', 'kubernetes', 'kuberay']) {
      const { request } = await dryRun({ workflow: 'grocery-reorder', overrides: { backend } });
      expect(request).toBeTruthy();
    }
    expect(api.requests.length).toBe(seen);
    expect(api.list('jobs')).toEqual([]);
    expect(api.list('rayjobs')).toEqual([]);
    expect((await svc.admin(svc.request.get('/api/v1/runs?limit=500'))).body.items.length).toBe(before);
  });

  it('a workflow that does not fit its backend or runtime is refused with a clear error', async () => {
    await svc.admin(svc.request.post('/api/v1/runtimes')).send({ name: 'py-loose-ray', image: 'example/py:1', rayVersion: '2.x', backends: ['local', 'kuberay', 'kubernetes'] });
    const loose = await svc.admin(svc.request.post('/api/v1/runs')).send({ spec: { model: 'logistic-regression', dataset: 'grocery-reorder', runtime: 'py-loose-ray', backend: 'kuberay' } });
    expect(loose.status).toBe(422);
    expect(loose.body.error).toMatchObject({ field: 'spec.runtime' });
    expect(loose.body.error.message).toMatch(/exact Ray version \(x\.y\.z\), and runtime "py-loose-ray" names "2\.x"/);

    const badResource = await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder', overrides: { backend: 'kubernetes', resources: { customResources: { fpga: 1 } } } });
    expect(badResource.status).toBe(422);
    expect(badResource.body.error.field).toBe('overrides.resources.customResources');

    const noRay = await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder-sweep' });
    expect(noRay.status).toBe(422);
    expect(noRay.body.error.message).toBe('the ray backend is not available: set GRIFFIN_RAY_ADDRESS to the Ray dashboard URL');

    const s3Model = await svc.admin(svc.request.post('/api/v1/models')).send({ name: 'remote-code', framework: 'python-stdlib', codeUri: 's3://bucket/code.zip', entrypoint: 'python train.py' });
    expect(s3Model.status).toBe(201);
    const s3 = await svc.admin(svc.request.post('/api/v1/runs')).send({ spec: { model: 'remote-code', dataset: 'grocery-reorder', runtime: 'python3', backend: 'kubernetes' } });
    expect(s3.status).toBe(422);
    expect(s3.body.error.message).toMatch(/fetches code from Griffin or over https/);
  });

  it('the deployment manifests are valid and the Role grants exactly what the executors use', () => {
    const dir = path.join(PROJECT_ROOT, 'deploy', 'kubernetes');
    const definitions: Record<string, string> = {
      Deployment: 'io.k8s.api.apps.v1.Deployment',
      Service: 'io.k8s.api.core.v1.Service',
      ServiceAccount: 'io.k8s.api.core.v1.ServiceAccount',
      Role: 'io.k8s.api.rbac.v1.Role',
      RoleBinding: 'io.k8s.api.rbac.v1.RoleBinding',
      PersistentVolumeClaim: 'io.k8s.api.core.v1.PersistentVolumeClaim',
    };
    const kinds: Record<string, any[]> = {};
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
      for (const doc of YAML.parseAllDocuments(fs.readFileSync(path.join(dir, file), 'utf8'))) {
        const object = doc.toJS();
        expect(definitions[object.kind], `${file}: unexpected kind ${object.kind}`).toBeDefined();
        expect(k8s(definitions[object.kind])(object), `${file} ${object.kind}`).toEqual([]);
        (kinds[object.kind] ??= []).push(object);
      }
    }
    expect(Object.keys(kinds).sort()).toEqual(Object.keys(definitions).sort());
    const rules = kinds.Role[0].rules.flatMap((r: { apiGroups: string[]; resources: string[]; verbs: string[] }) =>
      r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}/${res}:${v}`))),
    );
    expect(rules.sort()).toEqual(['/pods/log:get', '/pods:list', '/secrets:create', '/secrets:delete', '/secrets:update', 'batch/jobs:create', 'batch/jobs:delete', 'batch/jobs:get', 'batch/jobs:list', 'batch/jobs:watch', 'ray.io/rayjobs:create', 'ray.io/rayjobs:delete', 'ray.io/rayjobs:get', 'ray.io/rayjobs:list', 'ray.io/rayjobs:watch'].sort());
    const binding = kinds.RoleBinding[0];
    expect(binding.roleRef.name).toBe(kinds.Role[0].metadata.name);
    const deployment = kinds.Deployment[0];
    expect(binding.subjects[0].name).toBe(deployment.spec.template.spec.serviceAccountName);
    const env = Object.fromEntries(deployment.spec.template.spec.containers[0].env.map((e: { name: string; value?: string }) => [e.name, e.value]));
    expect(env.GRIFFIN_KUBERNETES).toBe('true');
    expect(kinds.ServiceAccount.map((sa: { metadata: { name: string } }) => sa.metadata.name)).toContain(env.GRIFFIN_KUBERNETES_SERVICE_ACCOUNT);
    expect(kinds.Service[0].spec.selector).toEqual(deployment.spec.selector.matchLabels);
  });
});
