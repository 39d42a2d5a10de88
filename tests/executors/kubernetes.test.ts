import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BatchV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../server/config.ts';
import type { Run } from '../../server/domain/index.ts';
import { KubeClient } from '../../server/executors/kubeClient.ts';
import { KubernetesExecutor } from '../../server/executors/kubernetes.ts';
import type { Executor } from '../../server/executors/types.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startFakeKubeApi, type FakeKubeApi } from '../helpers/fakeKubeApi.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

/*
 * The kubernetes and kuberay executors' API calls, made through @kubernetes/client-node by the
 * real service, against a STAND-IN API server (tests/helpers/fakeKubeApi.ts) that follows the
 * documented Kubernetes API: 201 on create, 409 AlreadyExists, 404 NotFound Status bodies, the
 * status subresource, DELETE with propagationPolicy, pods by label selector and pods/log. No
 * real kube-apiserver runs on this machine yet. The tests play the cluster's controllers
 * through the API itself (status subresource, pod create), so they can point at a real
 * kube-apiserver later; only pod logs need the stand-in (a real one needs a kubelet).
 * The Job's pod is simulated by running its two containers' commands on this machine, with
 * /workspace mapped to a temporary directory: the staging script fetches the run's files from
 * the service, and the example trains unchanged and reports back.
 */
const NAMESPACE = 'griffin-test';

describe('kubernetes and kuberay executors against a stand-in API server', () => {
  let api: FakeKubeApi;
  let t: TestDatabase;
  let svc: TestService;
  let batch: BatchV1Api;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;

  beforeAll(async () => {
    api = await startFakeKubeApi({ namespace: NAMESPACE });
    t = await createTestDatabase('sqlite');
    // Workers are driven by the test (waitForRun runs dispatcher and reconciler passes), so each
    // status the "controllers" set is observed in a known order.
    svc = await startTestService(t.db, {
      dataDir: t.dataDir,
      // No full sweep comes between the test's passes: what a pass sees of a run comes from the watch or a poll.
      env: { GRIFFIN_KUBERNETES: 'true', KUBECONFIG: api.kubeconfig, GRIFFIN_KUBERNETES_NAMESPACE: NAMESPACE, GRIFFIN_KUBERNETES_SERVICE_ACCOUNT: 'griffin-training', GRIFFIN_SECRET: 'stand-in-master-secret', GRIFFIN_RECONCILE_FULL_SWEEP_MS: '3600000' },
    });
    const kc = new KubeConfig();
    kc.loadFromFile(api.driverKubeconfig);
    batch = kc.makeApiClient(BatchV1Api);
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
  });
  afterAll(async () => {
    await svc?.close();
    await t?.destroy();
    await api?.close();
  });

  const submit = async (body: Record<string, unknown>) => {
    const res = await svc.admin(svc.request.post('/api/v1/runs')).send(body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body as { id: string };
  };
  const getRun = async (id: string) => (await svc.admin(svc.request.get(`/api/v1/runs/${id}`))).body;
  const pass = async () => {
    await svc.wired.dispatcher.pass();
    await svc.wired.reconciler.pass();
  };
  const launched = async (id: string) => {
    await pass();
    const run = await getRun(id);
    expect(run.state, run.reason).toBe('running');
    return run;
  };
  const setJobStatus = async (name: string, status: Record<string, unknown>) => {
    const job = await batch.readNamespacedJob({ name, namespace: NAMESPACE });
    await batch.replaceNamespacedJobStatus({ name, namespace: NAMESPACE, body: { ...job, status } });
  };
  const setRayJobStatus = async (name: string, status: Record<string, unknown>) => {
    const kind = { group: 'ray.io', version: 'v1', plural: 'rayjobs', namespace: NAMESPACE, name };
    const rayJob = (await custom.getNamespacedCustomObject(kind)) as Record<string, unknown>;
    await custom.replaceNamespacedCustomObjectStatus({ ...kind, body: { ...rayJob, status } });
  };

  /**
   * Runs a container of the Job's pod template here, with /workspace mapped to `workspace`.
   * Asynchronously: the service it talks to answers from this same process.
   */
  function runContainer(container: Record<string, any>, workspace: string): Promise<{ status: number | null; output: string }> {
    const mapped = (value: string) => value.split('/workspace').join(workspace);
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: os.homedir() };
    for (const { name, value } of container.env) env[name] = mapped(value);
    const [cmd, ...args] = container.command;
    const child = spawn(cmd, args, { cwd: container.workingDir ? mapped(container.workingDir) : workspace, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    return new Promise((resolve) => {
      child.on('close', (status) => {
        clearTimeout(timer);
        resolve({ status, output });
      });
    });
  }

  it('creates the Job under its deterministic name with the run id in labels and annotations; a second launch adopts it (409)', async () => {
    const { id } = await submit({ workflow: 'grocery-reorder', overrides: { backend: 'kubernetes' } });
    const run = await launched(id);
    const name = `griffin-run-${id}-1`;
    expect(run.backendRef).toMatchObject({ kind: 'Job', namespace: NAMESPACE, name, adopted: false });
    const job = api.get('jobs', NAMESPACE, name)!;
    expect(job.metadata.labels).toMatchObject({ 'griffin.dev/run-id': id, 'griffin.dev/attempt': '1', 'app.kubernetes.io/managed-by': 'griffin' });
    expect(job.metadata.annotations['griffin.dev/run-url']).toBe(`${svc.baseUrl}/runs/${id}`);
    expect(job.spec.template.spec.serviceAccountName).toBe('griffin-training');
    const create = api.requests.find((r) => r.method === 'POST' && r.path.endsWith('/jobs') && r.status === 201);
    expect(create?.query.fieldValidation).toBe('Strict');

    const stored = (await svc.wired.stores.runs.get(id))!;
    const again = await svc.wired.executors.get('kubernetes').launch({ run: stored, env: svc.wired.runs.environment(stored) });
    expect(again).toMatchObject({ name, adopted: true });
    expect(api.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/jobs')).map((r) => r.status)).toContain(409);
    expect(api.list('jobs').filter((j) => j.metadata.name === name)).toHaveLength(1);
  });

  it("the Job's pod stages the run's files from Griffin and trains the example unchanged; Complete means succeeded", async () => {
    const { id } = await submit({ workflow: 'grocery-reorder', overrides: { backend: 'kubernetes' } });
    await launched(id);
    const name = `griffin-run-${id}-1`;
    const template = api.get('jobs', NAMESPACE, name)!.spec.template.spec;
    const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'griffin-pod-'));
    try {
      await setJobStatus(name, { active: 1 });
      await pass();
      expect((await getRun(id)).state).toBe('running');
      const stage = await runContainer(template.initContainers[0], workspace);
      expect(stage.status, stage.output).toBe(0);
      expect(stage.output).toMatch(/griffin-stage: \d+ files of run/);
      expect(fs.existsSync(path.join(workspace, 'train.py'))).toBe(true);
      expect(fs.existsSync(path.join(workspace, '.griffin', 'griffin_run.py'))).toBe(true);
      expect(fs.existsSync(path.join(workspace, '.griffin', 'dataset', 'grocery_reorder_v1.csv'))).toBe(true);
      const training = await runContainer(template.containers[0], workspace);
      expect(training.status, training.output).toBe(0);
    } finally {
      fs.rmSync(workspace, { recursive: true, force: true });
    }
    await setJobStatus(name, { succeeded: 1, conditions: [{ type: 'SuccessCriteriaMet', status: 'True' }, { type: 'Complete', status: 'True' }] });
    const run = await svc.waitForRun(id);
    expect(run.state, run.reason).toBe('succeeded');
    expect(run.latestMetrics.auc.value).toBeGreaterThan(0.7);
    expect(run.modelVersion).toMatchObject({ name: 'grocery-reorder' });
  });

  it('only Complete and Failed are terminal: FailureTarget waits, a podFailurePolicy failure fails the run with the exit code', async () => {
    const { id } = await submit({ workflow: 'grocery-reorder', overrides: { backend: 'kubernetes' } });
    await launched(id);
    const name = `griffin-run-${id}-1`;
    await setJobStatus(name, { failed: 1, conditions: [{ type: 'FailureTarget', status: 'True', reason: 'PodFailurePolicy' }] });
    await pass();
    expect((await getRun(id)).state).toBe('running');
    await setJobStatus(name, {
      failed: 1,
      conditions: [
        { type: 'FailureTarget', status: 'True', reason: 'PodFailurePolicy' },
        { type: 'Failed', status: 'True', reason: 'PodFailurePolicy', message: `Container training for pod ${NAMESPACE}/${name}-x7k2p failed with exit code 2 matching FailJob rule at index 0` },
      ],
    });
    const run = await svc.waitForRun(id);
    expect(run.state).toBe('failed');
    expect(run.reason).toBe(`the training process exited with code 2 (Kubernetes Job ${name})`);
  });

  it('an OOM-killed attempt (exit 137) is retried as a new Job named for attempt 2, whose GRIFFIN_ATTEMPT is 2; a code failure of the last attempt fails the run', async () => {
    const { id } = await submit({ workflow: 'grocery-reorder', overrides: { backend: 'kubernetes', maxAttempts: 2, retryBackoffSeconds: 0 } });
    await launched(id);
    const first = `griffin-run-${id}-1`;
    await setJobStatus(first, {
      failed: 1,
      conditions: [{ type: 'Failed', status: 'True', reason: 'PodFailurePolicy', message: `Container training for pod ${NAMESPACE}/${first}-q9z8x failed with exit code 137 matching FailJob rule at index 0` }],
    });
    await pass();
    const retried = await getRun(id);
    expect(retried).toMatchObject({ state: 'queued', attempt: 2 });
    expect(retried.reason).toMatch(new RegExp(`^attempt 1 ended: the training process was killed by signal SIGKILL \\(exit code 137\\) \\(Kubernetes Job ${first}\\); retrying`));
    const second = `griffin-run-${id}-2`;
    await launched(id);
    const job = api.get('jobs', NAMESPACE, second) as any;
    expect(job, 'the second attempt is a Job of its own').toBeTruthy();
    const env = Object.fromEntries(job.spec.template.spec.containers[0].env.map((e: { name: string; value?: string }) => [e.name, e.value]));
    expect(env.GRIFFIN_ATTEMPT).toBe('2');
    expect(api.get('jobs', NAMESPACE, first)).toBeTruthy();
    await setJobStatus(second, {
      failed: 1,
      conditions: [{ type: 'Failed', status: 'True', reason: 'PodFailurePolicy', message: `Container training for pod ${NAMESPACE}/${second}-a1b2c failed with exit code 1 matching FailJob rule at index 0` }],
    });
    const run = await svc.waitForRun(id);
    expect(run).toMatchObject({ state: 'failed', attempt: 2 });
    expect(run.reason).toBe(`the training process exited with code 1 (Kubernetes Job ${second}) (attempt 2 of 2; no attempts left)`);
  });

  it('logs come from the training container of the run\'s pod, paged with a cursor', async () => {
    const { id } = await submit({ workflow: 'grocery-reorder', overrides: { backend: 'kubernetes' } });
    await launched(id);
    const name = `griffin-run-${id}-1`;
    const job = api.get('jobs', NAMESPACE, name)!;
    const podName = `${name}-abcde`;
    await core.createNamespacedPod({
      namespace: NAMESPACE,
      body: {
        metadata: { name: podName, labels: job.spec.template.metadata.labels, ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name, uid: job.metadata.uid }] },
        spec: { containers: [{ name: 'training', image: 'x' }] },
      },
    });
    // Another run's pod must not leak into this run's log.
    await core.createNamespacedPod({ namespace: NAMESPACE, body: { metadata: { name: 'other-pod', labels: { 'griffin.dev/run-id': 'someoneelse', 'griffin.dev/attempt': '1' } }, spec: { containers: [{ name: 'training', image: 'x' }] } } });
    api.setLog(NAMESPACE, 'other-pod', 'training', 'not this one\n');
    const empty = (await svc.admin(svc.request.get(`/api/v1/runs/${id}/logs`))).body;
    expect(empty).toMatchObject({ text: '', nextCursor: 0 });
    const lines = Array.from({ length: 8 }, (_, i) => `epoch ${i + 1}/8 val_auc=0.8\n`).join('');
    api.setLog(NAMESPACE, podName, 'training', lines);
    const first = (await svc.admin(svc.request.get(`/api/v1/runs/${id}/logs?limit=50`))).body;
    expect(first.text).toBe('epoch 1/8 val_auc=0.8\nepoch 2/8 val_auc=0.8\n');
    const rest = (await svc.admin(svc.request.get(`/api/v1/runs/${id}/logs?cursor=${first.nextCursor}`))).body;
    expect(first.text + rest.text).toBe(lines);
  });

  it('cancel deletes the Job with Foreground propagation; the run is cancelled once the Job is gone', async () => {
    const { id } = await submit({ workflow: 'grocery-reorder', overrides: { backend: 'kubernetes' } });
    await launched(id);
    const name = `griffin-run-${id}-1`;
    await setJobStatus(name, { active: 1 });
    const res = await svc.admin(svc.request.post(`/api/v1/runs/${id}/cancel`)).send({ reason: 'wrong data' });
    expect(res.status).toBe(202);
    const deletes = api.requests.filter((r) => r.method === 'DELETE' && r.path.endsWith(`/jobs/${name}`));
    expect(deletes[0]?.query.propagationPolicy).toBe('Foreground');
    // Pods are still being removed: the run waits in cancelling.
    await pass();
    expect((await getRun(id)).state).toBe('cancelling');
    api.settleDeletions();
    const run = await svc.waitForRun(id);
    expect(run.state).toBe('cancelled');
    expect(run.reason).toMatch(/wrong data/);
    expect(api.get('jobs', NAMESPACE, name)).toBeUndefined();
  });

  it('a Job deleted outside Griffin fails the run with a clear reason', async () => {
    const { id } = await submit({ workflow: 'grocery-reorder', overrides: { backend: 'kubernetes' } });
    await launched(id);
    const name = `griffin-run-${id}-1`;
    await batch.deleteNamespacedJob({ name, namespace: NAMESPACE, propagationPolicy: 'Background' });
    const run = await svc.waitForRun(id);
    expect(run.state).toBe('failed');
    expect(run.reason).toBe(`the Kubernetes Job ${NAMESPACE}/${name} does not exist (deleted outside Griffin?)`);
  });

  it('RayJob: created once (409 adopts), pending until Running, the dashboard URL kept on the run, succeeded on Complete/SUCCEEDED', async () => {
    const { id } = await submit({ workflow: 'grocery-reorder-sweep', overrides: { backend: 'kuberay' } });
    const running = await launched(id);
    const name = `griffin-run-${id}-1`;
    expect(running.backendRef).toMatchObject({ kind: 'RayJob', name, namespace: NAMESPACE, adopted: false });
    const rayJob = api.get('rayjobs', NAMESPACE, name)!;
    expect(rayJob.metadata.labels['griffin.dev/run-id']).toBe(id);
    expect(rayJob.spec.rayClusterSpec.headGroupSpec.template.spec.containers[0].image).toBe('rayproject/ray:2.40.0-py311');
    const stored = (await svc.wired.stores.runs.get(id))!;
    expect(await svc.wired.executors.get('kuberay').launch({ run: stored, env: svc.wired.runs.environment(stored) })).toMatchObject({ adopted: true });

    await setRayJobStatus(name, { jobDeploymentStatus: 'Initializing', rayClusterName: `${name}-raycluster-x2b9`, dashboardURL: `${name}-raycluster-x2b9-head-svc.${NAMESPACE}.svc.cluster.local:8265` });
    await pass();
    let run = await getRun(id);
    expect(run.state).toBe('running');
    expect(run.backendRef.dashboardUrl).toBe(`http://${name}-raycluster-x2b9-head-svc.${NAMESPACE}.svc.cluster.local:8265`);
    expect(run.backendRef.rayClusterName).toBe(`${name}-raycluster-x2b9`);
    await setRayJobStatus(name, { jobDeploymentStatus: 'Running', jobStatus: 'FAILED', rayClusterName: `${name}-raycluster-x2b9` });
    await pass();
    expect((await getRun(id)).state).toBe('running'); // not terminal until jobDeploymentStatus says so
    await setRayJobStatus(name, { jobDeploymentStatus: 'Complete', jobStatus: 'SUCCEEDED', rayClusterName: `${name}-raycluster-x2b9` });
    run = await svc.waitForRun(id);
    expect(run.state, run.reason).toBe('succeeded');
  });

  it('RayJob: Complete with a failed Ray job, or Failed, fails the run; cancel deletes the RayJob', async () => {
    const a = await submit({ workflow: 'grocery-reorder', overrides: { backend: 'kuberay' } });
    await launched(a.id);
    await setRayJobStatus(`griffin-run-${a.id}-1`, { jobDeploymentStatus: 'Complete', jobStatus: 'FAILED', reason: 'AppFailed', message: 'Job entrypoint command failed with exit code 1' });
    const failed = await svc.waitForRun(a.id);
    expect(failed.state).toBe('failed');
    expect(failed.reason).toBe(`the Ray job of RayJob griffin-run-${a.id}-1 ended FAILED (AppFailed: Job entrypoint command failed with exit code 1)`);

    const b = await submit({ workflow: 'grocery-reorder', overrides: { backend: 'kuberay' } });
    await launched(b.id);
    await setRayJobStatus(`griffin-run-${b.id}-1`, { jobDeploymentStatus: 'Failed', reason: 'DeadlineExceeded', message: 'The RayJob has passed the activeDeadlineSeconds.' });
    const deadline = await svc.waitForRun(b.id);
    expect(deadline.reason).toBe(`the RayJob griffin-run-${b.id}-1 failed: DeadlineExceeded: The RayJob has passed the activeDeadlineSeconds.`);

    const c = await submit({ workflow: 'grocery-reorder', overrides: { backend: 'kuberay' } });
    await launched(c.id);
    await svc.admin(svc.request.post(`/api/v1/runs/${c.id}/cancel`)).send({});
    const del = api.requests.find((r) => r.method === 'DELETE' && r.path.endsWith(`/rayjobs/griffin-run-${c.id}-1`));
    expect(del?.query.propagationPolicy).toBe('Foreground');
    api.settleDeletions();
    expect((await svc.waitForRun(c.id)).state).toBe('cancelled');
  });

  it('a run with secret env: its Secret is created, replaced on a relaunch and deleted on cancel (against the real API server: tests/k8s/secrets.test.ts)', async () => {
    expect((await svc.admin(svc.request.put('/api/v1/secrets/stand-in-token')).send({ value: 'stand-in-value' })).status).toBe(201);
    const { name: _n, version: _v, description: _d, createdAt: _c, ...spec } = (await svc.admin(svc.request.get('/api/v1/workflows/grocery-reorder'))).body;
    const { id } = await submit({ spec: { ...spec, backend: 'kubernetes', env: { TOKEN: { secret: 'stand-in-token' } } } });
    await launched(id);
    const secretName = `griffin-run-${id}-env`;
    expect(api.get('secrets', NAMESPACE, secretName)?.stringData).toEqual({ TOKEN: 'stand-in-value' });
    const stored = (await svc.wired.stores.runs.get(id))!;
    await svc.wired.executors.get('kubernetes').launch({ run: stored, env: svc.wired.runs.environment(stored), secretEnv: { TOKEN: 'rotated' } });
    expect(api.get('secrets', NAMESPACE, secretName)?.stringData).toEqual({ TOKEN: 'rotated' });
    await svc.admin(svc.request.post(`/api/v1/runs/${id}/cancel`)).send({});
    await pass();
    expect(api.get('secrets', NAMESPACE, secretName)).toBeUndefined();
  });

  /** Runs reconciler passes until the run is in `state` (each pass between sweeps: the service's sweep interval is an hour). */
  const reconciledTo = async (id: string, state: string) => {
    for (let i = 0; i < 200; i += 1) {
      await svc.wired.reconciler.pass();
      const run = await getRun(id);
      if (run.state === state) return run;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`run ${id} never became ${state}: ${JSON.stringify(await getRun(id))}`);
  };
  const WATCH_TEST_TIMEOUT_MS = 180_000;
  const following = async (executor: Executor) => {
    // The first list waits for the client library to load: seconds on a busy machine.
    for (let i = 0; i < 1200 && !executor.followingChanges?.(); i += 1) await new Promise((r) => setTimeout(r, 50));
    expect(executor.followingChanges?.()).toBe(true);
    await svc.wired.reconciler.pass(); // the runs of the first listing
  };
  const failedJob = { failed: 1, conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' }] };

  it('with its watch following, a Job that fails reaches the reconciler between sweeps without a GET of any Job; after a dropped stream and a 410 Gone it follows again', { timeout: WATCH_TEST_TIMEOUT_MS }, async () => {
    const executor = svc.wired.executors.get('kubernetes');
    const runs = [];
    for (let i = 0; i < 3; i += 1) {
      const { id } = await submit({ workflow: 'grocery-reorder', overrides: { backend: 'kubernetes' } });
      await launched(id);
      runs.push(id);
    }
    const jobGets = () => api.requests.filter((r) => r.actor === 'griffin' && r.method === 'GET' && /\/jobs\/[^/]+$/.test(r.path)).length;
    const jobLists = () => api.requests.filter((r) => r.actor === 'griffin' && r.method === 'GET' && r.path.endsWith('/jobs') && r.query.watch !== 'true').length;
    const jobWatches = () => api.requests.filter((r) => r.actor === 'griffin' && r.method === 'GET' && r.path.endsWith('/jobs') && r.query.watch === 'true').length;
    /** Fails the run's Job; the reconciler must see it from the watch alone (no GET of any Job). */
    const failedThroughWatch = async (id: string) => {
      const gets = jobGets();
      await setJobStatus(`griffin-run-${id}-1`, failedJob);
      const failed = await reconciledTo(id, 'failed');
      expect(failed.reason).toMatch(/^the Kubernetes Job griffin-run-\w+-1 failed \(BackoffLimitExceeded\): Job has reached the specified backoff limit/);
      expect(jobGets()).toBe(gets);
    };
    /** The informer opened a new watch after the one before ended, and follows again. */
    const reopened = async (watchesBefore: number) => {
      for (let i = 0; i < 1200 && jobWatches() <= watchesBefore; i += 1) await new Promise((r) => setTimeout(r, 50));
      await following(executor);
    };
    executor.startFollowing!();
    try {
      await following(executor);
      expect(api.watches('jobs')).toBe(1);
      await failedThroughWatch(runs[0]);

      // The connection drops (an API server restart): the watch reopens from where it was, without a new list.
      let lists = jobLists();
      let watches = jobWatches();
      api.dropWatches();
      await reopened(watches);
      await failedThroughWatch(runs[1]);
      expect(jobLists()).toBe(lists);

      // The API server no longer has the history the watch would resume from (410 Gone): it lists again.
      lists = jobLists();
      watches = jobWatches();
      api.forgetHistory();
      api.dropWatches();
      await reopened(watches + 1); // the watch from the old version that got 410, then the one after the list
      expect(jobLists()).toBe(lists + 1);
      await failedThroughWatch(runs[2]);
      expect(api.watches('jobs')).toBe(1);
    } finally {
      await executor.stopFollowing!();
    }
    expect(executor.followingChanges!()).toBe(false);
    // Stopping closes the stream; the server sees the connection go a moment later.
    for (let i = 0; i < 200 && api.watches('jobs') > 0; i += 1) await new Promise((r) => setTimeout(r, 50));
    expect(api.watches('jobs')).toBe(0);
  });

  it('with its watch following, a run whose Job is deleted outside Griffin is found lost between sweeps', { timeout: WATCH_TEST_TIMEOUT_MS }, async () => {
    const executor = svc.wired.executors.get('kubernetes');
    const { id } = await submit({ workflow: 'grocery-reorder', overrides: { backend: 'kubernetes' } });
    await launched(id);
    executor.startFollowing!();
    try {
      await following(executor);
      await batch.deleteNamespacedJob({ name: `griffin-run-${id}-1`, namespace: NAMESPACE, propagationPolicy: 'Background' });
      const lost = await reconciledTo(id, 'failed');
      expect(lost.reason).toMatch(`the Kubernetes Job ${NAMESPACE}/griffin-run-${id}-1 does not exist (deleted outside Griffin?)`);
    } finally {
      await executor.stopFollowing!();
    }
  });

  it('with its watch following, a RayJob that fails reaches the reconciler between sweeps without a GET of any RayJob', { timeout: WATCH_TEST_TIMEOUT_MS }, async () => {
    const executor = svc.wired.executors.get('kuberay');
    const { id } = await submit({ workflow: 'grocery-reorder-sweep', overrides: { backend: 'kuberay' } });
    await launched(id);
    const rayJobGets = () => api.requests.filter((r) => r.actor === 'griffin' && r.method === 'GET' && /\/rayjobs\/[^/]+$/.test(r.path)).length;
    executor.startFollowing!();
    try {
      await following(executor);
      const gets = rayJobGets();
      await setRayJobStatus(`griffin-run-${id}-1`, { jobDeploymentStatus: 'Failed', reason: 'DeadlineExceeded', message: 'the RayJob ran past activeDeadlineSeconds' });
      const failed = await reconciledTo(id, 'failed');
      expect(failed.reason).toMatch(`the RayJob griffin-run-${id}-1 failed: DeadlineExceeded: the RayJob ran past activeDeadlineSeconds`);
      expect(rayJobGets()).toBe(gets);
    } finally {
      await executor.stopFollowing!();
    }
  });

  it('the calls Griffin made are exactly those the Role in deploy/kubernetes/rbac.yaml grants', () => {
    const used = new Set<string>();
    for (const r of api.requests.filter((q) => q.actor === 'griffin')) {
      const m = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)\/namespaces\/[^/]+\/([^/]+)(?:\/[^/]+)?(?:\/([^/]+))?$/.exec(r.path)!;
      const [, group = '', plural, sub] = m;
      const named = r.path.split('/').length > (group ? 7 : 6);
      const verb = { POST: 'create', DELETE: 'delete', PUT: 'update', PATCH: 'patch' }[r.method] ?? (named ? 'get' : r.query.watch === 'true' ? 'watch' : 'list');
      used.add(`${group}/${plural}${sub ? `/${sub}` : ''}:${verb}`);
    }
    const role = YAML.parseAllDocuments(fs.readFileSync(path.join(PROJECT_ROOT, 'deploy', 'kubernetes', 'rbac.yaml'), 'utf8')).map((d) => d.toJS()).find((o) => o.kind === 'Role');
    const granted = new Set<string>(
      role.rules.flatMap((rule: { apiGroups: string[]; resources: string[]; verbs: string[] }) => rule.apiGroups.flatMap((g) => rule.resources.flatMap((res) => rule.verbs.map((v) => `${g}/${res}:${v}`)))),
    );
    expect([...used].sort()).toEqual([...granted].sort());
  });

  it('an API server that stays unreachable fails the run after the grace period, and only then', async () => {
    const gone = await startFakeKubeApi({ namespace: NAMESPACE });
    const client = KubeClient.load(gone.kubeconfig);
    await client.check(); // credentials are read before the server (and its kubeconfig file) go away
    const executor = new KubernetesExecutor(client, {
      placement: { namespace: NAMESPACE, nodeSelector: {}, tolerations: [] },
      codeRoot: svc.wired.config.codeRoot,
      unreachableGraceSeconds: 60,
    });
    await gone.close();
    const run = { id: 'abc123', attempt: 1, backendRef: { name: 'griffin-run-abc123-1' }, spec: { timeoutSeconds: 60 } } as unknown as Run;
    const first = await executor.status(run);
    expect(first.phase).toBe('unknown');
    expect(first.details?.unreachableSince).toEqual(expect.any(String));
    const longAgo = new Date(Date.now() - 61_000).toISOString();
    const later = await executor.status({ ...run, backendRef: { ...run.backendRef, unreachableSince: longAgo } });
    expect(later.phase).toBe('failed');
    expect(later.reason).toMatch(new RegExp(`^the Kubernetes API server at ${gone.server} has been unreachable for 6\\d s`));
  });
});
