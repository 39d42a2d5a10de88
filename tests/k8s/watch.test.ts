import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import YAML from 'yaml';
import { KubeClient } from '../../server/executors/kubeClient.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcpProxy.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { adminClients, applyShippedRbac, createNamespace, deleteNamespace, eventually, serviceAccountKubeconfig, testKubeconfig, type AdminClients } from './cluster.ts';

/*
 * The kubernetes executor's watch of Griffin's Jobs against the REAL control plane of
 * tests/k8s/cluster.sh (the Job controller ends Jobs as KWOK's simulated pods end; see
 * executors.test.ts), as the ServiceAccount of deploy/kubernetes/rbac.yaml, whose Role must allow
 * list and watch. Griffin reaches the API server through a TCP proxy of the test's, so the test
 * can drop the watch's connection. The reconciler's full sweep is an hour away: every change a
 * pass acts on came from the watch, and per-run GETs are counted on the client.
 */
const kubeconfig = testKubeconfig();
const RUN_TIMEOUT_MS = 90_000;


describe.skipIf(!kubeconfig)('the kubernetes executor follows its Jobs with one watch on a real API server (tests/k8s/cluster.sh)', { timeout: 180_000 }, () => {
  let admin: AdminClients;
  let namespace: string;
  let tmp: string;
  let t: TestDatabase;
  let svc: TestService;
  let proxy: TcpProxy;
  const readJob = vi.spyOn(KubeClient.prototype, 'readJob');
  const getsOf = (name: string) => readJob.mock.calls.filter(([, n]) => n === name).length;

  beforeAll(async () => {
    admin = adminClients(kubeconfig!);
    namespace = await createNamespace(admin, 'griffin-k8s-watch');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'griffin-k8s-watch-'));
    const serviceAccount = await applyShippedRbac(admin, namespace);
    const asServiceAccount = await serviceAccountKubeconfig(admin, namespace, serviceAccount, tmp);
    proxy = await startTcpProxy(new URL(admin.kc.getCurrentCluster()!.server));
    const config = YAML.parse(fs.readFileSync(asServiceAccount, 'utf8'));
    config.clusters[0].cluster.server = `https://127.0.0.1:${proxy.port}`; // the serving certificate is for 127.0.0.1, whatever the port
    fs.writeFileSync(asServiceAccount, YAML.stringify(config), { mode: 0o600 });
    t = await createTestDatabase('sqlite');
    svc = await startTestService(t.db, {
      dataDir: t.dataDir,
      env: { GRIFFIN_KUBERNETES: 'true', KUBECONFIG: asServiceAccount, GRIFFIN_KUBERNETES_NAMESPACE: namespace, GRIFFIN_KUBERNETES_SERVICE_ACCOUNT: 'griffin-training', GRIFFIN_RECONCILE_FULL_SWEEP_MS: '3600000' },
    });
    await declareTestKnobs();
    svc.wired.executors.get('kubernetes').startFollowing!();
    await following();
  }, 120_000);

  afterAll(async () => {
    await svc?.wired.executors.get('kubernetes').stopFollowing?.();
    await svc?.close();
    await t?.destroy();
    await proxy?.close();
    if (namespace) await deleteNamespace(admin, namespace);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    readJob.mockRestore();
  });

  /** The simulated kubelet's knobs (outcome, duration) as hyperparameters of a version of the example's model and workflow. */
  const declareTestKnobs = async () => {
    const { name: _w, version: _wv, createdAt: _wc, ...workflow } = (await svc.admin(svc.request.get('/api/v1/workflows/grocery-reorder'))).body;
    const [modelName, modelVersion] = String(workflow.model).split('@');
    const { name: _m, version: _mv, createdAt: _mc, ...model } = (await svc.admin(svc.request.get(`/api/v1/models/${modelName}/versions/${modelVersion}`))).body;
    const schema = model.hyperparameterSchema ?? {};
    const knobs = {
      griffin_test_outcome: { type: 'string', enum: ['succeed', 'fail', 'hang'], description: "Test knob: the simulated kubelet's outcome for the pod." },
      griffin_test_duration: { type: 'string', description: 'Test knob: how long the simulated pod runs.' },
    };
    const created = await svc.admin(svc.request.post('/api/v1/models')).send({ ...model, name: modelName, hyperparameterSchema: { ...schema, properties: { ...schema.properties, ...knobs } } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const pinned = await svc.admin(svc.request.post('/api/v1/workflows?force=true')).send({ ...workflow, name: 'grocery-reorder', model: `${modelName}@${created.body.version}` });
    expect(pinned.status, JSON.stringify(pinned.body)).toBe(201);
  };

  const following = () => eventually('the watch of Jobs to follow', async () => svc.wired.executors.get('kubernetes').followingChanges!(), (yes) => yes, 60_000);
  const submit = async (hyperparameters: Record<string, unknown>) => {
    const res = await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder', overrides: { backend: 'kubernetes', hyperparameters } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.id as string;
  };
  const getRun = async (id: string) => (await svc.admin(svc.request.get(`/api/v1/runs/${id}`))).body;
  const passesUntil = (id: string, state: string) =>
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
  /** A run whose pod keeps running: a witness that passes do not poll every run. */
  const hanging = async () => {
    const id = await submit({ griffin_test_outcome: 'hang' });
    expect((await passesUntil(id, 'running')).state).toBe('running');
    return id;
  };

  it('a Job that fails reaches the reconciler between sweeps through the watch, without a GET of any Job', async () => {
    const witness = await hanging();
    const id = await submit({ griffin_test_outcome: 'fail', griffin_test_duration: '8s' });
    expect((await passesUntil(id, 'running')).state).toBe('running');
    readJob.mockClear();
    const run = await passesUntil(id, 'failed');
    expect(run.state).toBe('failed');
    expect(run.reason.startsWith(`the training process exited with code 1 (Kubernetes Job griffin-run-${id}-1)`), run.reason).toBe(true);
    expect(readJob).not.toHaveBeenCalled();
    expect((await getRun(witness)).state).toBe('running');
  });

  it('after its connection drops the watch is opened again, and a Job deleted out of band is caught between sweeps', async () => {
    const witness = await hanging();
    const victim = await hanging();
    const before = proxy.connections();
    proxy.drop();
    await eventually('a new connection to the API server', async () => proxy.connections(), (n) => n > before, 60_000);
    await following();
    readJob.mockClear();
    await admin.batch.deleteNamespacedJob({ namespace, name: `griffin-run-${victim}-1`, propagationPolicy: 'Background' });
    const run = await passesUntil(victim, 'failed');
    expect(run.reason).toMatch(`the Kubernetes Job ${namespace}/griffin-run-${victim}-1 does not exist (deleted outside Griffin?)`);
    // The deleted Job was looked up once (404 said it is gone); the witness, still running, never was.
    expect(getsOf(`griffin-run-${victim}-1`)).toBeGreaterThanOrEqual(1);
    expect(getsOf(`griffin-run-${witness}-1`)).toBe(0);
    expect((await getRun(witness)).state).toBe('running');
  });
});
