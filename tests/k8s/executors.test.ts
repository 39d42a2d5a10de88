import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import {
  adminClients,
  applyShippedRbac,
  createNamespace,
  deleteNamespace,
  eventually,
  kubeRayExpected,
  readOrGone,
  serviceAccountKubeconfig,
  serviceAccountWithRules,
  shippedRbac,
  SIMULATED_NODE,
  statusCode,
  testKubeconfig,
  type AdminClients,
} from './cluster.ts';

/*
 * The kubernetes and kuberay executors, in the real service, against a REAL control plane
 * (tests/k8s/cluster.sh: kube-apiserver with etcd, kube-controller-manager's Job and garbage
 * collector controllers, kube-scheduler, the KubeRay operator). What cannot run here is
 * simulated: there is no container runtime, so KWOK plays the kubelet (pods are scheduled onto its
 * node and go Running, then Job pods Succeeded, or Failed when the run's hyperparameters say
 * griffin_test_outcome=fail, or stay Running with "hang"; tests/k8s/kwok-stages.yaml), and
 * tests/k8s/ray-dashboard-sim.mjs answers the Ray dashboard requests of the KubeRay operator.
 * Griffin talks to the API server as the ServiceAccount of deploy/kubernetes/rbac.yaml, with a
 * token from the TokenRequest API, so every call is authorised by the shipped Role.
 */
const kubeconfig = testKubeconfig();
const RUN_TIMEOUT_MS = 90_000;

// Runs take seconds here; the margin is for a machine busy with other work.
describe.skipIf(!kubeconfig)('kubernetes and kuberay executors against a real API server (tests/k8s/cluster.sh)', { timeout: 150_000 }, () => {
  let admin: AdminClients;
  let namespace: string;
  let tmp: string;
  let serviceAccount: string;
  let t: TestDatabase;
  let svc: TestService;

  beforeAll(async () => {
    admin = adminClients(kubeconfig!);
    namespace = await createNamespace(admin, 'griffin-k8s-test');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'griffin-k8s-'));
    serviceAccount = await applyShippedRbac(admin, namespace);
    const asServiceAccount = await serviceAccountKubeconfig(admin, namespace, serviceAccount, tmp);
    t = await createTestDatabase('sqlite');
    svc = await startTestService(t.db, {
      dataDir: t.dataDir,
      // As deploy/kubernetes/deployment.yaml configures it: training pods run as griffin-training.
      env: { GRIFFIN_KUBERNETES: 'true', KUBECONFIG: asServiceAccount, GRIFFIN_KUBERNETES_NAMESPACE: namespace, GRIFFIN_KUBERNETES_SERVICE_ACCOUNT: 'griffin-training' },
    });
    for (const workflow of ['grocery-reorder', 'grocery-reorder-sweep']) await declareTestKnob(workflow);
  }, 120_000);

  /**
   * The simulated kubelet reads griffin_test_outcome from the run's hyperparameters. A model takes
   * only the keys its schema declares, so the test gives the example's model a version that
   * declares the knob, and the workflow a version that uses it.
   */
  const declareTestKnob = async (workflowName: string) => {
    const { name: _w, version: _wv, createdAt: _wc, ...workflow } = (await svc.admin(svc.request.get(`/api/v1/workflows/${workflowName}`))).body;
    const [modelName, modelVersion] = String(workflow.model).split('@');
    const { name: _m, version: _mv, createdAt: _mc, ...model } = (await svc.admin(svc.request.get(`/api/v1/models/${modelName}/versions/${modelVersion}`))).body;
    const schema = model.hyperparameterSchema ?? {};
    const knob = { type: 'string', enum: ['succeed', 'fail', 'hang'], description: "Test knob: the simulated kubelet's outcome for the pod." };
    const created = await svc.admin(svc.request.post('/api/v1/models')).send({ ...model, name: modelName, hyperparameterSchema: { ...schema, properties: { ...schema.properties, griffin_test_outcome: knob } } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    // grocery-reorder-sweep is a ray workflow, and this server runs only local, kubernetes and kuberay.
    const pinned = await svc.admin(svc.request.post('/api/v1/workflows?force=true')).send({ ...workflow, name: workflowName, model: `${modelName}@${created.body.version}` });
    expect(pinned.status, JSON.stringify(pinned.body)).toBe(201);
  };
  afterAll(async () => {
    await svc?.close();
    await t?.destroy();
    if (namespace) await deleteNamespace(admin, namespace);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const submit = async (workflow: string, backend: 'kubernetes' | 'kuberay', hyperparameters: Record<string, unknown> = {}) => {
    const res = await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow, overrides: { backend, hyperparameters } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.id as string;
  };
  const getRun = async (id: string) => (await svc.admin(svc.request.get(`/api/v1/runs/${id}`))).body;
  /** Drives dispatcher and reconciler passes until the run is in `state`. */
  const runReaches = async (id: string, state: string) =>
    eventually(
      `run ${id} to be ${state}`,
      async () => {
        await svc.wired.dispatcher.pass();
        await svc.wired.reconciler.pass();
        return getRun(id);
      },
      (run) => run.state === state || run.terminal,
      RUN_TIMEOUT_MS,
    );
  const podsOf = async (selector: string) => (await admin.core.listNamespacedPod({ namespace, labelSelector: selector })).items;
  const runPods = (id: string) => podsOf(`griffin.dev/run-id=${id}`);
  const readJob = (name: string) => readOrGone(() => admin.batch.readNamespacedJob({ namespace, name }));
  const condition = (job: k8s.V1Job | undefined, type: string) => job?.status?.conditions?.find((c) => c.type === type && c.status === 'True');

  describe('kubernetes backend (batch/v1 Job)', () => {
    it('creates the Job, the scheduler places its pod on the simulated node, the pod succeeds, the Job turns Complete and the run succeeds', async () => {
      const id = await submit('grocery-reorder', 'kubernetes');
      const run = await svc.waitForRun(id, RUN_TIMEOUT_MS);
      expect(run.state, run.reason).toBe('succeeded');
      expect(run.events.map((e: { to: string }) => e.to)).toEqual(['queued', 'launching', 'running', 'succeeded']);
      const name = `griffin-run-${id}-1`;
      expect(run.backendRef).toMatchObject({ kind: 'Job', namespace, name, adopted: false });

      const job = await readJob(name);
      expect(job?.metadata?.labels).toMatchObject({ 'griffin.dev/run-id': id, 'griffin.dev/attempt': '1' });
      expect(condition(job, 'Complete')).toBeDefined();
      expect(job?.status?.succeeded).toBe(1);
      const pods = await runPods(id);
      expect(pods.map((p) => [p.spec?.nodeName, p.spec?.serviceAccountName, p.status?.phase])).toEqual([[SIMULATED_NODE, 'griffin-training', 'Succeeded']]);

      // The training container's log, read through the API server from the (simulated) kubelet.
      const logs = (await svc.admin(svc.request.get(`/api/v1/runs/${id}/logs`))).body;
      expect(logs.text).toContain('simulated container log');
    });

    it('a training container that exits non-zero fails the Job by its podFailurePolicy and fails the run with the exit code', async () => {
      const id = await submit('grocery-reorder', 'kubernetes', { griffin_test_outcome: 'fail' });
      const run = await svc.waitForRun(id, RUN_TIMEOUT_MS);
      const name = `griffin-run-${id}-1`;
      expect(run.state).toBe('failed');
      // The reason starts with what Kubernetes says; the pod log's last line may follow it.
      expect(run.reason.startsWith(`the training process exited with code 1 (Kubernetes Job ${name})`), run.reason).toBe(true);
      const failed = condition(await readJob(name), 'Failed');
      expect(failed?.reason).toBe('PodFailurePolicy');
      // FailJob: no replacement pod was started for an application failure.
      expect((await runPods(id)).map((p) => p.status?.phase)).toEqual(['Failed']);
    });

    it('cancel deletes the Job and its pods; the run is cancelled once they are gone', async () => {
      const id = await submit('grocery-reorder', 'kubernetes', { griffin_test_outcome: 'hang' });
      await runReaches(id, 'running');
      await eventually('the pod to run', () => runPods(id), (pods) => pods.some((p) => p.status?.phase === 'Running'));
      const res = await svc.admin(svc.request.post(`/api/v1/runs/${id}/cancel`)).send({ reason: 'wrong dataset' });
      expect(res.status).toBe(202);
      const run = await svc.waitForRun(id, RUN_TIMEOUT_MS);
      expect(run.state).toBe('cancelled');
      expect(run.reason).toMatch(/wrong dataset/);
      expect(await readJob(`griffin-run-${id}-1`)).toBeUndefined();
      expect(await runPods(id)).toEqual([]);
    });

    it('a re-launch after a crash adopts the existing Job (409 AlreadyExists) instead of starting a second one', async () => {
      const id = await submit('grocery-reorder', 'kubernetes', { griffin_test_outcome: 'hang' });
      await runReaches(id, 'running');
      const name = `griffin-run-${id}-1`;
      const before = await readJob(name);
      // What the launcher does for a run whose launch claim expired: launch the same attempt again.
      const stored = (await svc.wired.stores.runs.get(id))!;
      const again = await svc.wired.executors.get('kubernetes').launch({ run: stored, env: svc.wired.runs.environment(stored) });
      expect(again).toMatchObject({ kind: 'Job', name, adopted: true });
      const jobs = (await admin.batch.listNamespacedJob({ namespace, labelSelector: `griffin.dev/run-id=${id}` })).items;
      expect(jobs.map((j) => j.metadata?.uid)).toEqual([before?.metadata?.uid]);
      await svc.admin(svc.request.post(`/api/v1/runs/${id}/cancel`)).send({});
      expect((await svc.waitForRun(id, RUN_TIMEOUT_MS)).state).toBe('cancelled');
    });
  });

  describe('RBAC', () => {
    it('Griffin ran as the ServiceAccount of deploy/kubernetes/rbac.yaml, which grants no more than its Role', async () => {
      const kc = new k8s.KubeConfig();
      kc.loadFromFile(path.join(tmp, `${serviceAccount}.kubeconfig`));
      const review = await kc.makeApiClient(k8s.AuthenticationV1Api).createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
      expect(review.status?.userInfo?.username).toBe(`system:serviceaccount:${namespace}:${serviceAccount}`);
      // Not an admin in disguise: what the Role does not grant is refused.
      const secrets = await kc.makeApiClient(k8s.CoreV1Api).listNamespacedSecret({ namespace }).then(() => 200, statusCode);
      expect(secrets).toBe(403);
    });

    it('a missing permission fails the run with the API server\'s own explanation', async () => {
      // The shipped Role without "create": Griffin can read Jobs but not start one.
      const { role } = shippedRbac();
      const rules = role.rules.map((r: { verbs: string[] }) => ({ ...r, verbs: r.verbs.filter((v) => v !== 'create') }));
      const limited = await serviceAccountWithRules(admin, namespace, 'griffin-cannot-create', rules);
      const db = await createTestDatabase('sqlite');
      const other = await startTestService(db.db, {
        dataDir: db.dataDir,
        env: {
          GRIFFIN_KUBERNETES: 'true',
          KUBECONFIG: await serviceAccountKubeconfig(admin, namespace, limited, tmp),
          GRIFFIN_KUBERNETES_NAMESPACE: namespace,
          GRIFFIN_KUBERNETES_SERVICE_ACCOUNT: 'griffin-training',
        },
      });
      try {
        const res = await other.admin(other.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder', overrides: { backend: 'kubernetes' } });
        expect(res.status).toBe(201);
        const run = await other.waitForRun(res.body.id, RUN_TIMEOUT_MS);
        expect(run.state).toBe('failed');
        expect(run.reason).toContain('launch failed: the Kubernetes API refused the request (403 Forbidden)');
        expect(run.reason).toContain(`User "system:serviceaccount:${namespace}:${limited}" cannot create resource "jobs" in API group "batch"`);
      } finally {
        await other.close();
        await db.destroy();
      }
    });
  });

  describe.skipIf(!kubeRayExpected())('kuberay backend (ray.io/v1 RayJob, KubeRay operator)', () => {
    beforeAll(() => {
      if (process.env.GRIFFIN_TEST_KUBERAY !== '1') {
        throw new Error('the KubeRay operator is not running in the test cluster (see tests/k8s/README.md); GRIFFIN_TEST_SKIP=kuberay skips these tests on purpose');
      }
    });
    const readRayJob = (name: string) =>
      readOrGone(() => admin.custom.getNamespacedCustomObject({ group: 'ray.io', version: 'v1', plural: 'rayjobs', namespace, name })) as Promise<Record<string, any> | undefined>;
    const readRayCluster = (name: string) =>
      readOrGone(() => admin.custom.getNamespacedCustomObject({ group: 'ray.io', version: 'v1', plural: 'rayclusters', namespace, name })) as Promise<Record<string, any> | undefined>;

    it('the operator creates a Ray cluster for the RayJob (head and worker pods on the simulated node), submits the job, and the run succeeds', async () => {
      const id = await submit('grocery-reorder-sweep', 'kuberay');
      const run = await svc.waitForRun(id, RUN_TIMEOUT_MS);
      expect(run.state, run.reason).toBe('succeeded');
      const name = `griffin-run-${id}-1`;
      const rayJob = await readRayJob(name);
      expect(rayJob?.status).toMatchObject({ jobDeploymentStatus: 'Complete', jobStatus: 'SUCCEEDED' });
      const clusterName = rayJob?.status?.rayClusterName;
      expect(run.backendRef).toMatchObject({ kind: 'RayJob', name, rayClusterName: clusterName });
      expect(run.backendRef.dashboardUrl).toMatch(new RegExp(`^http://.*\\.${namespace}\\.svc\\.cluster\\.local:8265$`));
      // The cluster stays for post-mortems until ttlSecondsAfterFinished (a day), then KubeRay removes it.
      const cluster = await readRayCluster(clusterName);
      expect(cluster?.metadata?.labels?.['griffin.dev/run-id']).toBe(id);
      const rayPods = await podsOf(`ray.io/cluster=${clusterName}`);
      expect(rayPods.map((p) => `${p.metadata?.labels?.['ray.io/node-type']} ${p.spec?.nodeName} ${p.status?.phase}`).sort()).toEqual([
        `head ${SIMULATED_NODE} Running`,
        `worker ${SIMULATED_NODE} Running`,
      ]);
      // KubeRay's submitter Job followed the Ray job to its end.
      expect(condition(await readJob(name), 'Complete')).toBeDefined();
      const logs = (await svc.admin(svc.request.get(`/api/v1/runs/${id}/logs`))).body;
      expect(logs.text).toContain('simulated container log');
    });

    it('the distributed example gets a worker group sized to resources.workers, and the run records its workers', async () => {
      const dry = await svc.admin(svc.request.post('/api/v1/runs?dryRun=true')).send({ workflow: 'grocery-reorder-distributed', overrides: { backend: 'kuberay', resources: { workers: 3 } } });
      expect(dry.status, JSON.stringify(dry.body)).toBe(200);
      expect(dry.body.request.spec.rayClusterSpec.workerGroupSpecs).toMatchObject([{ groupName: 'workers', replicas: 3, minReplicas: 3, maxReplicas: 3 }]);
      expect(dry.body.request.spec.rayClusterSpec.rayVersion).toBe('2.60.0');
      expect(dry.body.request.spec.rayClusterSpec.workerGroupSpecs[0].template.spec.containers[0].image).toBe('griffin-runtime-xgboost-cpu:ray2.60.0-py311');

      const id = await submit('grocery-reorder-distributed', 'kuberay');
      const run = await svc.waitForRun(id, RUN_TIMEOUT_MS);
      expect(run.state, run.reason).toBe('succeeded');
      const rayJob = await readRayJob(`griffin-run-${id}-1`);
      expect(rayJob?.spec?.rayClusterSpec?.workerGroupSpecs?.[0]).toMatchObject({ replicas: 2, minReplicas: 2, maxReplicas: 2 });
      const rayPods = await podsOf(`ray.io/cluster=${rayJob?.status?.rayClusterName}`);
      expect(rayPods.filter((p) => p.metadata?.labels?.['ray.io/node-type'] === 'worker')).toHaveLength(2);
      expect(run.backendRef.workers).toMatchObject({ source: 'kuberay', count: 2, desired: 2 });
    });

    it('a Ray job that fails fails the run with KubeRay\'s reason', async () => {
      const id = await submit('grocery-reorder-sweep', 'kuberay', { griffin_test_outcome: 'fail' });
      const run = await svc.waitForRun(id, RUN_TIMEOUT_MS);
      expect(run.state).toBe('failed');
      expect(run.reason).toMatch(new RegExp(`^the RayJob griffin-run-${id}-1 failed: AppFailed`));
      expect((await readRayJob(`griffin-run-${id}-1`))?.status).toMatchObject({ jobDeploymentStatus: 'Failed', jobStatus: 'FAILED' });
    });

    it('a re-launch adopts the RayJob (409); cancel deletes the RayJob, its Ray cluster and their pods', async () => {
      const id = await submit('grocery-reorder-sweep', 'kuberay', { griffin_test_outcome: 'hang' });
      const name = `griffin-run-${id}-1`;
      await eventually(
        'the RayJob to run',
        async () => {
          await svc.wired.dispatcher.pass();
          await svc.wired.reconciler.pass();
          return readRayJob(name);
        },
        (rayJob) => rayJob?.status?.jobStatus === 'RUNNING',
        RUN_TIMEOUT_MS,
      );
      const before = await readRayJob(name);
      const stored = (await svc.wired.stores.runs.get(id))!;
      const again = await svc.wired.executors.get('kuberay').launch({ run: stored, env: svc.wired.runs.environment(stored) });
      expect(again).toMatchObject({ kind: 'RayJob', name, adopted: true });
      expect((await readRayJob(name))?.metadata?.uid).toBe(before?.metadata?.uid);

      const clusterName = before?.status?.rayClusterName;
      expect(await podsOf(`ray.io/cluster=${clusterName}`)).toHaveLength(2);
      const res = await svc.admin(svc.request.post(`/api/v1/runs/${id}/cancel`)).send({ reason: 'enough' });
      expect(res.status).toBe(202);
      const run = await svc.waitForRun(id, RUN_TIMEOUT_MS);
      expect(run.state).toBe('cancelled');
      expect(await readRayJob(name)).toBeUndefined();
      await eventually('the Ray cluster and its pods to be gone', async () => [await readRayCluster(clusterName), await podsOf(`ray.io/cluster=${clusterName}`)], ([c, pods]) => !c && (pods as unknown[]).length === 0);
      expect(await readJob(name)).toBeUndefined();
    });
  });
});
