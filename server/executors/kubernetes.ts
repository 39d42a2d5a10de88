import type { V1Job, V1JobCondition, V1Pod } from '@kubernetes/client-node';
import type { Run } from '../domain/index.ts';
import { isRemoteUri } from '../files/paths.ts';
import { Unavailable } from '../errors.ts';
import { KubeClient, RAYJOB } from './kubeClient.ts';
import { jobManifest, LABEL, podSelector, RUN_OBJECTS_SELECTOR, rayJobManifest, TRAINING_CONTAINER, type ManifestContext } from './kubeManifests.ts';
import { INFORMER_DEFAULTS, KubeInformer, type InformerOptions, type InformerSource, type KubeObject } from './kubeInformer.ts';
import type { Logger } from '../logger.ts';
import { sliceLog } from './logs.ts';
import type { RunWorkers } from './workers.ts';
import { runSecretManifest, runSecretName } from './kubeSecrets.ts';
import { secretRefs } from '../domain/index.ts';
import { describeFailure, isTransient } from './retry.ts';
import { backendObjectName, type BackendStatus, type Executor, type LaunchRequest, type LogChunk, type SpecProblem, type SpecToValidate } from './types.ts';
import { BackendUnreachable, REACHABLE, unreachableStatus } from './unreachable.ts';
import { describeExitStatus, isRayInfrastructureMessage } from './exitStatus.ts';

export interface KubeExecutorOptions extends ManifestContext {
  /** How long the API server may stay unreachable before runs on it fail. */
  unreachableGraceSeconds: number;
}

/** How an executor follows its objects between reconciler sweeps: a watch, and whom it tells. */
export interface KubeFollowing {
  /** Called with the run id of every Job or RayJob the watch sees added, changed or deleted. */
  onChange: (runId: string) => void;
  logger: Logger;
  informer?: InformerOptions;
}

/** What the watch keeps of each object: its status, which is all status() reads. */
interface CachedObject {
  status?: Record<string, any>;
}

/** Five minutes: API servers restart during control-plane upgrades; a running pod does not notice. */
export const KUBE_UNREACHABLE_GRACE_SECONDS = 300;

const nameOf = (run: Run): string => {
  const fromRef = run.backendRef?.name;
  return typeof fromRef === 'string' ? fromRef : backendObjectName(run.id, run.attempt);
};

/** Kubernetes extended resources are domain-qualified (nvidia.com/gpu, example.com/fpga); Ray's custom resources are plain names. */
const KUBERNETES_RESOURCE_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)\/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Shared by both Kubernetes backends: their rules for a spec, reachability bookkeeping and pod logs. */
abstract class KubeExecutorBase {
  private informer: KubeInformer<CachedObject> | undefined;

  constructor(
    protected readonly client: KubeClient,
    protected readonly options: KubeExecutorOptions,
    private readonly following?: KubeFollowing,
  ) {}

  /** The collection this backend's objects live in, as a list and a watch. */
  protected abstract source(): InformerSource;

  /**
   * Starts the watch of this backend's objects (Griffin's, by label, in the namespace). Until it
   * has listed them and its watch is open, status() asks the API server per run, and the
   * reconciler polls this backend's runs on every pass.
   */
  startFollowing(): void {
    if (!this.following) return;
    const { onChange, logger, informer } = this.following;
    const tell = (object: KubeObject) => {
      const runId = object.metadata?.labels?.[LABEL.runId];
      if (runId) onChange(runId);
    };
    this.informer ??= new KubeInformer<CachedObject>(this.source(), (object) => ({ status: object.status as CachedObject['status'] }), tell, logger, informer ?? INFORMER_DEFAULTS);
    this.informer.start();
  }

  async stopFollowing(): Promise<void> {
    await this.informer?.stop();
  }

  /** True while the watch follows every change: the reconciler then looks at a run only when told. */
  followingChanges(): boolean {
    return this.informer?.synced ?? false;
  }

  /**
   * The object from the watch's copy, or from the API server when the copy cannot answer: the
   * watch is not following, or it has not seen the object (just created, or deleted: a GET tells).
   */
  protected async read(name: string, get: () => Promise<CachedObject | undefined>): Promise<CachedObject | undefined> {
    const cached = this.informer?.synced ? this.informer.get(name) : undefined;
    return cached ?? (await get());
  }

  /** Both run a container image, and name resources as Kubernetes does. */
  validate(spec: SpecToValidate): SpecProblem | undefined {
    if (!spec.runtime.image) {
      return { message: `the ${spec.backend} backend needs a container image, and runtime "${spec.runtime.name}" names none`, field: 'runtime' };
    }
    const problem = this.validateOwn(spec);
    if (problem) return problem;
    const bad = Object.keys(spec.resources.customResources ?? {}).find((name) => !KUBERNETES_RESOURCE_NAME.test(name));
    if (bad !== undefined) {
      return { message: `the ${spec.backend} backend needs Kubernetes extended resource names such as example.com/fpga, not "${bad}"`, field: 'resources.customResources' };
    }
    return undefined;
  }

  /** What only this one of the two backends needs. */
  protected abstract validateOwn(spec: SpecToValidate): SpecProblem | undefined;

  protected get target(): string {
    return `the Kubernetes API server at ${this.client.server}`;
  }

  protected get namespace(): string {
    return this.options.placement.namespace;
  }

  /** The run's Secret of secret env values, before the object whose pods read it. */
  protected async applyRunSecret(request: LaunchRequest): Promise<void> {
    if (!request.secretEnv || !Object.keys(request.secretEnv).length) return;
    try {
      await this.client.applySecret(this.namespace, runSecretManifest(request.run, request.secretEnv, this.options.placement));
    } catch (error) {
      if (isTransient(error)) this.unreachable(error);
      throw error;
    }
  }

  /** Deletes the run's Secret (none is fine): when the run ends and when it is cancelled. */
  async release(run: Run): Promise<void> {
    if (!Object.keys(secretRefs(run.spec.env)).length) return;
    await this.client.deleteSecret(this.namespace, runSecretName(run.id));
  }

  /** What render() shows of the Secret: its name and keys, values redacted. */
  protected renderSecret(request: LaunchRequest): Record<string, unknown> | undefined {
    if (!request.secretEnv || !Object.keys(request.secretEnv).length) return undefined;
    const redacted = Object.fromEntries(Object.keys(request.secretEnv).map((k) => [k, '[redacted]']));
    return runSecretManifest(request.run, redacted, this.options.placement);
  }

  protected unreachable(error: unknown): never {
    throw new BackendUnreachable(this.target, describeFailure(error), this.options.unreachableGraceSeconds);
  }

  protected async observe(run: Run, read: () => Promise<BackendStatus>): Promise<BackendStatus> {
    try {
      return await read();
    } catch (error) {
      if (isTransient(error)) return unreachableStatus(run, this.target, error, this.options.unreachableGraceSeconds);
      throw error;
    }
  }

  /** The log of one container of the newest pod matching `selector`, paged by byte offset. */
  protected async podLogs(selector: string, container: (pod: V1Pod) => string | undefined, cursor: number, limit: number): Promise<LogChunk> {
    try {
      const pods = await this.client.listPods(this.namespace, selector);
      const newest = pods.sort((a, b) => String(b.metadata?.creationTimestamp ?? '').localeCompare(String(a.metadata?.creationTimestamp ?? '')))[0];
      const name = newest?.metadata?.name;
      const containerName = newest && container(newest);
      if (!name || !containerName) return { text: '', nextCursor: cursor };
      return sliceLog(await this.client.podLog(this.namespace, name, containerName), cursor, limit);
    } catch (error) {
      if (isTransient(error)) throw new Unavailable(`${this.target} is unreachable; try again (${describeFailure(error)})`, 5);
      throw error;
    }
  }
}

function condition(job: V1Job, type: string): V1JobCondition | undefined {
  return job.status?.conditions?.find((c) => c.type === type && c.status === 'True');
}

/**
 * Words for a Failed condition: the training code's exit code when the podFailurePolicy matched it
 * (a signal's status, the OOM killer's 137 above all, is the infrastructure's doing), and whether
 * the cluster rather than the code failed it. Evicted and preempted pods are replaced by the Job
 * (the DisruptionTarget rule); pods that kept failing without a training exit code (lost nodes,
 * evictions past the backoff limit) end in BackoffLimitExceeded.
 */
function describeJobFailure(name: string, failed: V1JobCondition, timeoutSeconds: number): { reason: string; infrastructure: boolean } {
  const exit = /exit code (\d+)/.exec(failed.message ?? '');
  if (failed.reason === 'PodFailurePolicy' && exit) return describeExitStatus(Number(exit[1]), `(Kubernetes Job ${name})`);
  if (failed.reason === 'DeadlineExceeded') return { reason: `the Kubernetes Job ${name} ran past its activeDeadlineSeconds (${timeoutSeconds} s)`, infrastructure: false };
  const reason = `the Kubernetes Job ${name} failed (${failed.reason ?? 'Failed'})${failed.message ? `: ${failed.message}` : ''}`;
  return { reason, infrastructure: failed.reason === 'BackoffLimitExceeded' || /evict|preempt|OOMKilled/i.test(failed.message ?? '') };
}

/**
 * Single-container training as a batch/v1 Job (manifest in kubeManifests.ts). Status comes from
 * the watch of Griffin's Jobs (one per namespace, not a GET per run) once it follows them; only
 * the Complete and Failed conditions are terminal (SuccessCriteriaMet and FailureTarget only
 * announce them).
 */
export class KubernetesExecutor extends KubeExecutorBase implements Executor {
  readonly name = 'kubernetes' as const;

  protected source(): InformerSource {
    const { namespace } = this;
    return {
      what: `Jobs in namespace ${namespace}`,
      list: (continueToken) => this.client.listJobs(namespace, RUN_OBJECTS_SELECTOR, continueToken),
      watch: (resourceVersion, onEvent) => this.client.watch(`/apis/batch/v1/namespaces/${encodeURIComponent(namespace)}/jobs`, RUN_OBJECTS_SELECTOR, resourceVersion, onEvent),
    };
  }

  protected validateOwn(spec: SpecToValidate): SpecProblem | undefined {
    if (isRemoteUri(spec.model.codeUri) && !/^https?:\/\//i.test(spec.model.codeUri)) {
      return {
        message: `the kubernetes backend fetches code from Griffin or over https://, but model "${spec.model.name}@${spec.model.version}" lives at ${spec.model.codeUri}; use the ray or kuberay backend, whose Ray fetches it`,
        field: 'backend',
      };
    }
    return undefined;
  }

  async render(request: LaunchRequest): Promise<unknown> {
    const secret = this.renderSecret(request);
    return secret ? { secret, job: jobManifest(request, this.options) } : jobManifest(request, this.options);
  }

  async launch(request: LaunchRequest): Promise<Record<string, unknown>> {
    const manifest = jobManifest(request, this.options) as V1Job;
    let outcome: 'created' | 'exists';
    await this.applyRunSecret(request);
    try {
      outcome = await this.client.createJob(this.namespace, manifest);
    } catch (error) {
      if (isTransient(error)) this.unreachable(error);
      // Refused for good: the run fails to launch, and nothing will read its Secret.
      await this.release(request.run).catch(() => undefined);
      throw error;
    }
    return { kind: 'Job', apiVersion: 'batch/v1', namespace: this.namespace, name: manifest.metadata!.name, adopted: outcome === 'exists' };
  }

  status(run: Run): Promise<BackendStatus> {
    return this.observe(run, async () => {
      const name = nameOf(run);
      const job = (await this.read(name, () => this.client.readJob(this.namespace, name) as Promise<CachedObject | undefined>)) as V1Job | undefined;
      if (!job) return { phase: 'lost', reason: `the Kubernetes Job ${this.namespace}/${name} does not exist (deleted outside Griffin?)`, details: { ...REACHABLE } };
      const details = { ...REACHABLE };
      if (condition(job, 'Complete')) return { phase: 'succeeded', details };
      const failed = condition(job, 'Failed');
      if (failed) return { phase: 'failed', ...describeJobFailure(name, failed, run.spec.timeoutSeconds), details };
      return { phase: (job.status?.active ?? 0) > 0 ? 'running' : 'pending', details };
    });
  }

  async cancel(run: Run): Promise<void> {
    try {
      await this.client.deleteJob(this.namespace, nameOf(run));
      await this.release(run);
    } catch (error) {
      if (isTransient(error)) this.unreachable(error);
      throw error;
    }
  }

  logs(run: Run, cursor: number, limit: number): Promise<LogChunk> {
    if (!run.backendRef) return Promise.resolve({ text: '', nextCursor: cursor });
    return this.podLogs(podSelector(run), () => TRAINING_CONTAINER, cursor, limit);
  }
}

/** Worker replicas of the RayJob's cluster, from status.rayClusterStatus (KubeRay mirrors its RayCluster there). */
function kubeRayWorkers(status: Record<string, unknown> | undefined, requested: number | undefined): RunWorkers | null {
  const cluster = (status?.rayClusterStatus ?? {}) as Record<string, unknown>;
  const number = (v: unknown) => (typeof v === 'number' ? v : undefined);
  const desired = number(cluster.desiredWorkerReplicas) ?? requested;
  if (desired === undefined) return null;
  const ready = number(cluster.readyWorkerReplicas) ?? number(cluster.availableWorkerReplicas) ?? 0;
  const states: Record<string, number> = {};
  if (ready) states.ready = ready;
  if (desired - ready > 0) states.pending = desired - ready;
  return { source: 'kuberay', count: desired, desired, states };
}

/**
 * A Ray cluster made for the run: a ray.io/v1 RayJob (manifest in kubeManifests.ts). Terminal
 * when jobDeploymentStatus is Complete or Failed; the Ray dashboard URL and cluster name are
 * kept on the run. Logs come from KubeRay's submitter pod, which follows the job's driver log.
 */
export class KubeRayExecutor extends KubeExecutorBase implements Executor {
  readonly name = 'kuberay' as const;

  protected source(): InformerSource {
    const { namespace } = this;
    return {
      what: `RayJobs in namespace ${namespace}`,
      list: (continueToken) => this.client.listCustom(namespace, RAYJOB, RUN_OBJECTS_SELECTOR, continueToken),
      watch: (resourceVersion, onEvent) =>
        this.client.watch(`/apis/${RAYJOB.group}/${RAYJOB.version}/namespaces/${encodeURIComponent(namespace)}/${RAYJOB.plural}`, RUN_OBJECTS_SELECTOR, resourceVersion, onEvent),
    };
  }

  protected validateOwn(spec: SpecToValidate): SpecProblem | undefined {
    if (!(spec.runtime.rayVersion && /^\d+\.\d+\.\d+$/.test(spec.runtime.rayVersion))) {
      return {
        message: `the kuberay backend creates a Ray cluster of an exact Ray version (x.y.z), and runtime "${spec.runtime.name}" names ${spec.runtime.rayVersion ? `"${spec.runtime.rayVersion}"` : 'none'}`,
        field: 'runtime',
      };
    }
    return undefined;
  }

  async render(request: LaunchRequest): Promise<unknown> {
    const secret = this.renderSecret(request);
    return secret ? { secret, rayJob: rayJobManifest(request, this.options) } : rayJobManifest(request, this.options);
  }

  async launch(request: LaunchRequest): Promise<Record<string, unknown>> {
    const manifest = rayJobManifest(request, this.options);
    const name = (manifest.metadata as { name: string }).name;
    let outcome: 'created' | 'exists';
    await this.applyRunSecret(request);
    try {
      outcome = await this.client.createCustom(this.namespace, RAYJOB, manifest);
    } catch (error) {
      if (isTransient(error)) this.unreachable(error);
      // Refused for good: the run fails to launch, and nothing will read its Secret.
      await this.release(request.run).catch(() => undefined);
      throw error;
    }
    return { kind: 'RayJob', apiVersion: 'ray.io/v1', namespace: this.namespace, name, adopted: outcome === 'exists' };
  }

  status(run: Run): Promise<BackendStatus> {
    return this.observe(run, async () => {
      const name = nameOf(run);
      const rayJob = await this.read(name, () => this.client.readCustom(this.namespace, RAYJOB, name));
      if (!rayJob) return { phase: 'lost', reason: `the RayJob ${this.namespace}/${name} does not exist (deleted outside Griffin?)`, details: { ...REACHABLE } };
      const status = (rayJob.status ?? {}) as Record<string, string | undefined>;
      const details: Record<string, unknown> = {
        ...REACHABLE,
        dashboardUrl: status.dashboardURL ? (/^https?:\/\//.test(status.dashboardURL) ? status.dashboardURL : `http://${status.dashboardURL}`) : null,
        rayClusterName: status.rayClusterName ?? null,
        rayJobId: status.jobId ?? null,
        workers: kubeRayWorkers(rayJob.status as Record<string, unknown> | undefined, run.spec.resources.workers),
      };
      const why = [status.reason, status.message].filter(Boolean).join(': ');
      switch (status.jobDeploymentStatus) {
        case 'Complete':
          if (status.jobStatus === 'SUCCEEDED') return { phase: 'succeeded', details };
          return { phase: 'failed', reason: `the Ray job of RayJob ${name} ended ${status.jobStatus ?? 'without a status'}${why ? ` (${why})` : ''}`, infrastructure: isRayInfrastructureMessage(why), details };
        case 'Failed':
        case 'ValidationFailed':
          return { phase: 'failed', reason: `the RayJob ${name} failed${why ? `: ${why}` : ''}`, infrastructure: isRayInfrastructureMessage(why), details };
        case 'Running':
          return { phase: 'running', details };
        default:
          // '', New, Initializing, Waiting, Retrying, Suspending, Suspended: the cluster is not running the job yet.
          return { phase: 'pending', details };
      }
    });
  }

  async cancel(run: Run): Promise<void> {
    try {
      // Deleting the RayJob deletes its Ray cluster and submitter Job with it (owner references).
      await this.client.deleteCustom(this.namespace, RAYJOB, nameOf(run));
      await this.release(run);
    } catch (error) {
      if (isTransient(error)) this.unreachable(error);
      throw error;
    }
  }

  logs(run: Run, cursor: number, limit: number): Promise<LogChunk> {
    if (!run.backendRef) return Promise.resolve({ text: '', nextCursor: cursor });
    return this.podLogs(`batch.kubernetes.io/job-name=${nameOf(run)}`, (pod) => pod.spec?.containers?.[0]?.name, cursor, limit);
  }
}
