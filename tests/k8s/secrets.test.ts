import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { adminClients, applyShippedRbac, createNamespace, deleteNamespace, eventually, kubeRayExpected, readOrGone, serviceAccountKubeconfig, testKubeconfig, type AdminClients } from './cluster.ts';

/*
 * A run's secret env on the REAL control plane (tests/k8s/cluster.sh; KWOK plays the kubelet, see
 * executors.test.ts). Griffin acts as the ServiceAccount of deploy/kubernetes/rbac.yaml, so the
 * shipped Role must allow exactly the Secret calls it makes. The test reads as cluster admin: the
 * per-run Secret holds the value, the Job's pod spec names it only by secretKeyRef, and the Secret
 * is gone once the run has ended (succeeded, or cancelled).
 */
const kubeconfig = testKubeconfig();
const RUN_TIMEOUT_MS = 90_000;

describe.skipIf(!kubeconfig)('secret env on Kubernetes (per-run Secret, secretKeyRef)', { timeout: 150_000 }, () => {
  let admin: AdminClients;
  let namespace: string;
  let tmp: string;
  let t: TestDatabase;
  let svc: TestService;
  const value = `k8s-pw-${crypto.randomBytes(10).toString('hex')}`;

  beforeAll(async () => {
    admin = adminClients(kubeconfig!);
    namespace = await createNamespace(admin, 'griffin-k8s-secrets');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'griffin-k8s-secrets-'));
    const serviceAccount = await applyShippedRbac(admin, namespace);
    const asServiceAccount = await serviceAccountKubeconfig(admin, namespace, serviceAccount, tmp);
    t = await createTestDatabase('sqlite');
    svc = await startTestService(t.db, {
      dataDir: t.dataDir,
      env: { GRIFFIN_KUBERNETES: 'true', KUBECONFIG: asServiceAccount, GRIFFIN_KUBERNETES_NAMESPACE: namespace, GRIFFIN_SECRET: 'k8s-secrets-test-master' },
    });
    expect((await svc.admin(svc.request.put('/api/v1/secrets/warehouse-password')).send({ value })).status).toBe(201);
    // The simulated kubelet keeps a pod Running when the run's hyperparameters say griffin_test_outcome=hang.
    for (const workflow of ['grocery-reorder', 'grocery-reorder-sweep']) {
      const { name: _w, version: _wv, createdAt: _wc, ...spec } = (await svc.admin(svc.request.get(`/api/v1/workflows/${workflow}`))).body;
      const [modelName, modelVersion] = String(spec.model).split('@');
      const { name: _m, version: _mv, createdAt: _mc, ...model } = (await svc.admin(svc.request.get(`/api/v1/models/${modelName}/versions/${modelVersion}`))).body;
      const schema = model.hyperparameterSchema ?? {};
      const knob = { type: 'string', enum: ['succeed', 'fail', 'hang'] };
      const created = await svc.admin(svc.request.post('/api/v1/models')).send({ ...model, name: modelName, hyperparameterSchema: { ...schema, properties: { ...schema.properties, griffin_test_outcome: knob } } });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const env = { WAREHOUSE_PASSWORD: { secret: 'warehouse-password' }, WAREHOUSE_USER: 'trainer' };
      // grocery-reorder-sweep runs on ray, which this server does not configure: saved with force.
      const pinned = await svc.admin(svc.request.post('/api/v1/workflows?force=true')).send({ ...spec, name: `${workflow}-with-secret`, model: `${modelName}@${created.body.version}`, env });
      expect(pinned.status, JSON.stringify(pinned.body)).toBe(201);
    }
  }, 120_000);
  afterAll(async () => {
    await svc?.close();
    await t?.destroy();
    if (namespace) await deleteNamespace(admin, namespace);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const submit = async (workflow: string, backend: 'kubernetes' | 'kuberay', outcome: 'succeed' | 'hang') => {
    const res = await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow, overrides: { backend, hyperparameters: { griffin_test_outcome: outcome } } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.id as string;
  };
  const readSecret = (id: string) => readOrGone(() => admin.core.readNamespacedSecret({ namespace, name: `griffin-run-${id}-env` }));
  const drive = async () => {
    await svc.wired.dispatcher.pass();
    await svc.wired.reconciler.pass();
  };
  const runView = async (id: string) => (await svc.admin(svc.request.get(`/api/v1/runs/${id}`))).body;

  it('a Job run: the Secret holds the value, the training container reads it by secretKeyRef, and the Secret is deleted when the run succeeds', async () => {
    const id = await submit('grocery-reorder-with-secret', 'kubernetes', 'succeed');
    // Only the dispatcher runs here (it launches): no reconciler pass can see the run end and delete the Secret yet.
    const secret = await eventually('the run Secret', async () => {
      await svc.wired.dispatcher.pass();
      return readSecret(id);
    }, (s) => s !== undefined, RUN_TIMEOUT_MS);
    expect(Buffer.from(secret!.data!.WAREHOUSE_PASSWORD, 'base64').toString()).toBe(value);
    expect(Object.keys(secret!.data!)).toEqual(['WAREHOUSE_PASSWORD']);
    expect(secret!.metadata!.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'griffin', 'griffin.dev/run-id': id });

    const job = await admin.batch.readNamespacedJob({ namespace, name: `griffin-run-${id}-1` });
    const training = job.spec!.template.spec!.containers.find((c) => c.name === 'training')!;
    expect(training.env).toContainEqual({ name: 'WAREHOUSE_PASSWORD', valueFrom: { secretKeyRef: { name: `griffin-run-${id}-env`, key: 'WAREHOUSE_PASSWORD' } } });
    expect(training.env).toContainEqual({ name: 'WAREHOUSE_USER', value: 'trainer' });
    expect(JSON.stringify(job)).not.toContain(value);

    const run = await svc.waitForRun(id, RUN_TIMEOUT_MS);
    expect(run.state, run.reason).toBe('succeeded');
    expect(JSON.stringify(run)).not.toContain(value);
    expect(await readSecret(id)).toBeUndefined();
  });

  it('a relaunch replaces the Secret\'s value and adopts the Job; a cancelled run deletes its Secret with its Job', async () => {
    const id = await submit('grocery-reorder-with-secret', 'kubernetes', 'hang');
    await eventually('the run to be running', async () => {
      await drive();
      return runView(id);
    }, (r) => r.state === 'running', RUN_TIMEOUT_MS);
    expect(await readSecret(id)).toBeDefined();
    // A second launch of the same attempt (a launch taken over after a crash) with the value changed
    // meanwhile: the Secret is replaced (the Role's "update"), the Job adopted.
    const current = await svc.wired.runs.get(id);
    const ref = await svc.wired.executors.get('kubernetes').launch({ run: current, env: svc.wired.runs.environment(current), secretEnv: { WAREHOUSE_PASSWORD: `${value}-rotated` } });
    expect(ref.adopted).toBe(true);
    expect(Buffer.from((await readSecret(id))!.data!.WAREHOUSE_PASSWORD, 'base64').toString()).toBe(`${value}-rotated`);
    expect((await svc.admin(svc.request.post(`/api/v1/runs/${id}/cancel`)).send({})).status).toBe(202);
    const run = await svc.waitForRun(id, RUN_TIMEOUT_MS);
    expect(run.state).toBe('cancelled');
    expect(await readSecret(id)).toBeUndefined();
  });

  it.skipIf(!kubeRayExpected())('a RayJob run: head and worker containers read the value by secretKeyRef; the Secret goes when the run is cancelled', async () => {
    const id = await submit('grocery-reorder-sweep-with-secret', 'kuberay', 'hang');
    await eventually('the run to be running', async () => {
      await drive();
      return runView(id);
    }, (r) => r.state === 'running', RUN_TIMEOUT_MS);
    const secret = await readSecret(id);
    expect(Buffer.from(secret!.data!.WAREHOUSE_PASSWORD, 'base64').toString()).toBe(value);
    const rayJob = (await admin.custom.getNamespacedCustomObject({ group: 'ray.io', version: 'v1', plural: 'rayjobs', namespace, name: `griffin-run-${id}-1` })) as Record<string, any>;
    const ref = { name: 'WAREHOUSE_PASSWORD', valueFrom: { secretKeyRef: { name: `griffin-run-${id}-env`, key: 'WAREHOUSE_PASSWORD' } } };
    expect(rayJob.spec.rayClusterSpec.headGroupSpec.template.spec.containers[0].env).toContainEqual(ref);
    expect(rayJob.spec.rayClusterSpec.workerGroupSpecs[0].template.spec.containers[0].env).toContainEqual(ref);
    expect(JSON.stringify(rayJob)).not.toContain(value);
    await svc.admin(svc.request.post(`/api/v1/runs/${id}/cancel`)).send({});
    expect((await svc.waitForRun(id, RUN_TIMEOUT_MS)).state).toBe('cancelled');
    expect(await readSecret(id)).toBeUndefined();
  });
});
