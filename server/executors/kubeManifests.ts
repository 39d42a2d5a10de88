import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { ResolvedRunSpec, Run } from '../domain/index.ts';
import { localDatasetFile, PYTHON_HELPER_DIR, STAGED_DATASET_DIR, STAGED_HELPER_DIR } from '../files/codeBundle.ts';
import { isRemoteUri, resolveInside } from '../files/paths.ts';
import { isUploadedCodeUri, uploadedRequirements, type CodeStore } from '../files/codeStore.ts';
import { backendObjectName, type LaunchRequest } from './types.ts';
import { secretEnvRefs } from './kubeSecrets.ts';

/** Where and how training pods run; the same for every run of this service. */
export interface PodPlacement {
  namespace: string;
  serviceAccountName?: string;
  nodeSelector: Record<string, string>;
  tolerations: Record<string, unknown>[];
}

export interface ManifestContext {
  placement: PodPlacement;
  codeRoot: string;
  /** Uploaded code (griffin://code/...): pods get it in the run bundle; its requirements.txt is read here. */
  code?: CodeStore;
}

export const LABEL = {
  managedBy: 'app.kubernetes.io/managed-by',
  component: 'app.kubernetes.io/component',
  runId: 'griffin.dev/run-id',
  attempt: 'griffin.dev/attempt',
  workflow: 'griffin.dev/workflow',
} as const;

/** Finished Jobs and RayJobs stay a day for `kubectl logs` and post-mortems, then Kubernetes removes them. */
export const TTL_SECONDS_AFTER_FINISHED = 86_400;
export const TRAINING_CONTAINER = 'training';
export const STAGE_CONTAINER = 'stage';
/** The emptyDir a Job's init container stages the run's files into; the training container starts there. */
export const JOB_WORKSPACE = '/workspace';
const GPU_RESOURCE = 'nvidia.com/gpu';
const DEFAULT_RAY_WORKERS = 1;

const STAGE_SCRIPT = fs.readFileSync(path.join(PYTHON_HELPER_DIR, 'griffin_stage.py'), 'utf8');
// Images differ in whether they call their interpreter python3 or python.
const STAGE_COMMAND = 'PY=$(command -v python3 || command -v python) && exec "$PY" -c "$GRIFFIN_STAGE_SCRIPT"';

/** A label value: at most 63 characters of [A-Za-z0-9._-], starting and ending alphanumeric. */
export function labelValue(text: string): string {
  return text
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}

export function runLabels(run: Run): Record<string, string> {
  const labels: Record<string, string> = {
    [LABEL.managedBy]: 'griffin',
    [LABEL.component]: 'training-run',
    [LABEL.runId]: run.id,
    [LABEL.attempt]: String(run.attempt),
  };
  if (run.spec.workflow) labels[LABEL.workflow] = labelValue(run.spec.workflow.name);
  return labels;
}

export function runAnnotations(run: Run, env: Record<string, string>): Record<string, string> {
  const { spec } = run;
  const annotations: Record<string, string> = {
    'griffin.dev/model': `${spec.model.name}@${spec.model.version}`,
    'griffin.dev/dataset': `${spec.dataset.name}@${spec.dataset.version}`,
    'griffin.dev/runtime': spec.runtime.name,
  };
  if (spec.workflow) annotations['griffin.dev/workflow'] = `${spec.workflow.name}@${spec.workflow.version}`;
  if (env.GRIFFIN_API_URL) annotations['griffin.dev/run-url'] = `${env.GRIFFIN_API_URL}/runs/${run.id}`;
  return annotations;
}

/** Label selector for the pods of one run attempt. */
/** Every Job and RayJob Griffin made for a run (and nothing else), for the executors' watches. */
export const RUN_OBJECTS_SELECTOR = `${LABEL.managedBy}=griffin,${LABEL.component}=training-run`;

export const podSelector = (run: Pick<Run, 'id' | 'attempt'>): string => `${LABEL.runId}=${run.id},${LABEL.attempt}=${run.attempt}`;

/** Quantities from the run's resources: CPU as a decimal, memory in Mi, GPUs and extended resources as counts. */
export function containerResources(resources: ResolvedRunSpec['resources']): { requests?: Record<string, string>; limits?: Record<string, string> } {
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  if (resources.cpu !== undefined) requests.cpu = String(resources.cpu);
  if (resources.memoryMb !== undefined) {
    // Memory is a hard limit; a pod that exceeds it is OOM-killed rather than slowing its node down.
    requests.memory = `${resources.memoryMb}Mi`;
    limits.memory = `${resources.memoryMb}Mi`;
  }
  if (resources.gpu) limits[GPU_RESOURCE] = String(resources.gpu);
  for (const [name, amount] of Object.entries(resources.customResources ?? {})) limits[name] = String(amount);
  return { ...(Object.keys(requests).length ? { requests } : {}), ...(Object.keys(limits).length ? { limits } : {}) };
}

/** Node selection and service account, plus the usual taint of GPU nodes when the run asks for GPUs. */
function podPlacement(spec: ResolvedRunSpec, placement: PodPlacement): Record<string, unknown> {
  const tolerations = [...placement.tolerations];
  if (spec.resources.gpu && !tolerations.some((t) => t.key === GPU_RESOURCE)) {
    tolerations.push({ key: GPU_RESOURCE, operator: 'Exists', effect: 'NoSchedule' });
  }
  return {
    ...(placement.serviceAccountName ? { serviceAccountName: placement.serviceAccountName } : {}),
    ...(Object.keys(placement.nodeSelector).length ? { nodeSelector: { ...placement.nodeSelector } } : {}),
    ...(tolerations.length ? { tolerations } : {}),
  };
}

const envList = (env: Record<string, string>) => Object.entries(env).map(([name, value]) => ({ name, value }));

/**
 * The environment of a pod that stages the run's files into `stageDir`: the run's GRIFFIN_*
 * variables, with the dataset and the helper pointing at their staged copies.
 */
export function stagedEnvironment(request: LaunchRequest, ctx: ManifestContext, stageDir: string): Record<string, string> {
  const { spec } = request.run;
  const env: Record<string, string> = { ...request.env, GRIFFIN_RUN_DIR: stageDir, GRIFFIN_STAGE_DIR: stageDir, PYTHONUNBUFFERED: '1' };
  const dataset = localDatasetFile(spec, ctx.codeRoot);
  if (dataset) env.GRIFFIN_DATASET_URI = `file://${stageDir}/${STAGED_DATASET_DIR}/${path.basename(dataset)}`;
  if (/^https?:\/\//i.test(spec.model.codeUri)) env.GRIFFIN_CODE_URL = spec.model.codeUri;
  return env;
}

/**
 * A batch/v1 Job running the entrypoint in one container of the runtime's image. An init
 * container stages the run's files (code, griffin_run.py, a local dataset) from Griffin into an
 * emptyDir; the training container starts in it. Retries belong to Griffin (a new attempt is a
 * new Job), so a non-zero exit of the training code fails the Job at once (podFailurePolicy),
 * while a pod evicted or preempted by the cluster is replaced without counting as a failure.
 */
export function jobManifest(request: LaunchRequest, ctx: ManifestContext): Record<string, unknown> {
  const { run } = request;
  const { spec } = run;
  const name = backendObjectName(run.id, run.attempt);
  const labels = runLabels(run);
  const annotations = runAnnotations(run, request.env);
  const env = { ...stagedEnvironment(request, ctx, JOB_WORKSPACE), PYTHONPATH: `${JOB_WORKSPACE}/${STAGED_HELPER_DIR}` };
  const workspace = [{ name: 'workspace', mountPath: JOB_WORKSPACE }];
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: ctx.placement.namespace, labels, annotations },
    spec: {
      backoffLimit: 2,
      activeDeadlineSeconds: spec.timeoutSeconds,
      ttlSecondsAfterFinished: TTL_SECONDS_AFTER_FINISHED,
      podFailurePolicy: {
        rules: [
          { action: 'FailJob', onExitCodes: { containerName: TRAINING_CONTAINER, operator: 'NotIn', values: [0] } },
          { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
        ],
      },
      template: {
        metadata: { labels, annotations },
        spec: {
          restartPolicy: 'Never',
          // Training code talks to Griffin with its run token, never to the Kubernetes API.
          automountServiceAccountToken: false,
          ...podPlacement(spec, ctx.placement),
          initContainers: [
            {
              name: STAGE_CONTAINER,
              image: spec.runtime.image,
              command: ['/bin/sh', '-c', STAGE_COMMAND],
              env: envList({ ...env, GRIFFIN_STAGE_SCRIPT: STAGE_SCRIPT }),
              resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
              volumeMounts: workspace,
            },
          ],
          containers: [
            {
              name: TRAINING_CONTAINER,
              image: spec.runtime.image,
              workingDir: JOB_WORKSPACE,
              command: ['/bin/sh', '-c', spec.entrypoint],
              env: [...envList(env), ...secretEnvRefs(run.id, request.secretEnv)],
              resources: containerResources(spec.resources),
              volumeMounts: workspace,
            },
          ],
          volumes: [{ name: 'workspace', emptyDir: {} }],
        },
      },
    },
  };
}

/** The Ray version of a runtime as KubeRay wants it: an exact x.y.z (checked when the workflow is resolved). */
export const exactRayVersion = (version: string | null): string | undefined => (version && /^\d+\.\d+\.\d+$/.test(version) ? version : undefined);

/**
 * A ray.io/v1 RayJob: KubeRay creates a Ray cluster for the run (a head and one worker group in
 * the runtime's image, each pod with the run's resources), submits the entrypoint to it, and
 * deletes the cluster when the job ends. The entrypoint first stages the run's files on the head
 * (the cluster cannot see Griffin's disk); a remote codeUri is Ray's working_dir instead, which
 * Ray fetches on every node. Ray-native code that imports modules from the code directory inside
 * tasks should use a remote codeUri or ship them by value (see examples/ray-sweep).
 */
export function rayJobManifest(request: LaunchRequest, ctx: ManifestContext): Record<string, unknown> {
  const { run } = request;
  const { spec } = run;
  const name = backendObjectName(run.id, run.attempt);
  const labels = runLabels(run);
  const annotations = runAnnotations(run, request.env);
  const stageDir = `/tmp/griffin/${name}`;
  const remoteCode = isRemoteUri(spec.model.codeUri);
  const envVars: Record<string, string> = {
    ...stagedEnvironment(request, ctx, stageDir),
    PYTHONPATH: `${stageDir}/${STAGED_HELPER_DIR}`,
    GRIFFIN_STAGE_SCRIPT: STAGE_SCRIPT,
  };
  // Ray fetches a remote working_dir itself, on every node; the stage script only adds the helper and dataset.
  delete envVars.GRIFFIN_CODE_URL;
  const runtimeEnv: Record<string, unknown> = { env_vars: envVars };
  if (remoteCode) runtimeEnv.working_dir = spec.model.codeUri;
  else if (isUploadedCodeUri(spec.model.codeUri)) {
    const pip = uploadedRequirements(ctx.code, spec.model.codeUri);
    if (pip) runtimeEnv.pip = pip;
  } else {
    const requirements = path.join(resolveInside(ctx.codeRoot, spec.model.codeUri, 'model.codeUri'), 'requirements.txt');
    if (fs.existsSync(requirements)) {
      const pip = fs.readFileSync(requirements, 'utf8').split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
      if (pip.length) runtimeEnv.pip = pip;
    }
  }
  const stage = 'python -c "$GRIFFIN_STAGE_SCRIPT"';
  const entrypoint = remoteCode ? `${stage} && ${spec.entrypoint}` : `${stage} && cd ${stageDir} && ${spec.entrypoint}`;

  const resources = containerResources(spec.resources);
  const secretEnv = secretEnvRefs(run.id, request.secretEnv);
  const pod = (containerName: string, ports: Array<{ containerPort: number; name: string }>) => ({
    metadata: { labels, annotations },
    spec: {
      ...podPlacement(spec, ctx.placement),
      // Ray's workers and the job's driver inherit the environment of the node they run on.
      containers: [{ name: containerName, image: spec.runtime.image, resources, ...(ports.length ? { ports } : {}), ...(secretEnv.length ? { env: secretEnv } : {}) }],
    },
  });
  const workers = spec.resources.workers ?? DEFAULT_RAY_WORKERS;
  const rayVersion = exactRayVersion(spec.runtime.rayVersion);
  return {
    apiVersion: 'ray.io/v1',
    kind: 'RayJob',
    metadata: { name, namespace: ctx.placement.namespace, labels, annotations },
    spec: {
      entrypoint,
      runtimeEnvYAML: YAML.stringify(runtimeEnv, { lineWidth: 0 }),
      shutdownAfterJobFinishes: true,
      ttlSecondsAfterFinished: TTL_SECONDS_AFTER_FINISHED,
      activeDeadlineSeconds: spec.timeoutSeconds,
      submissionMode: 'K8sJobMode',
      rayClusterSpec: {
        ...(rayVersion ? { rayVersion } : {}),
        headGroupSpec: {
          rayStartParams: { 'dashboard-host': '0.0.0.0' },
          template: pod('ray-head', [
            { containerPort: 6379, name: 'gcs' },
            { containerPort: 8265, name: 'dashboard' },
            { containerPort: 10001, name: 'client' },
          ]),
        },
        workerGroupSpecs: workers > 0 ? [{ groupName: 'workers', replicas: workers, minReplicas: workers, maxReplicas: workers, rayStartParams: {}, template: pod('ray-worker', []) }] : [],
      },
    },
  };
}
