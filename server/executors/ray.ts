import fs from 'node:fs';
import path from 'node:path';
import type { Run } from '../domain/index.ts';
import { Unavailable } from '../errors.ts';
import { bundle, directoryEntries, helperEntries, type Bundle } from '../files/codeBundle.ts';
import { isRemoteUri, resolveInside } from '../files/paths.ts';
import { isUploadedCodeUri, requireCodeStore, uploadedRequirements, type CodeStore } from '../files/codeStore.ts';
import { sliceLog } from './logs.ts';
import { RayJobsClient, type RayJobDetails, type RaySubmitRequest } from './rayClient.ts';
import { RayJobListing } from './rayJobListing.ts';
import { RayChangeFeed } from './rayChangeFeed.ts';
import type { Logger } from '../logger.ts';
import { describeFailure, isTransient } from './retry.ts';
import { workerSummary, type RunWorkers } from './workers.ts';
import { backendObjectName, type BackendStatus, type Executor, type LaunchRequest, type LogChunk, type SpecProblem } from './types.ts';
import { BackendUnreachable, REACHABLE, unreachableStatus } from './unreachable.ts';
import { describeExitStatus, isRayInfrastructureMessage } from './exitStatus.ts';

export interface RayExecutorOptions {
  /** The dashboard URL of the cluster (Jobs REST API). */
  address: string;
  /** How long the head may stay unreachable before its runs fail. */
  unreachableGraceSeconds: number;
  codeRoot: string;
  /** Uploaded code (griffin://code/...), packed for Ray like a local directory. */
  code?: CodeStore;
}

interface RayPackage {
  name: string;
  uri: string;
  bundle: Bundle;
}

interface RayPlan {
  request: RaySubmitRequest;
  packages: RayPackage[];
}

const packageOf = (b: Bundle): RayPackage => {
  // Ray names packages by content hash; equal code is uploaded once and shared between jobs.
  const name = `_ray_pkg_${b.sha256.slice(0, 32)}.zip`;
  return { name, uri: `gcs://${name}`, bundle: b };
};

/** requirements.txt beside the code becomes runtime_env.pip, as Ray users are used to. */
function requirementsOf(codeDir: string): string[] | undefined {
  const file = path.join(codeDir, 'requirements.txt');
  if (!fs.existsSync(file)) return undefined;
  const lines = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
  return lines.length ? lines : undefined;
}

/**
 * Runs on an existing Ray cluster through its Jobs REST API. The submission_id is the run's
 * backend object name, so a second launch of the same attempt adopts the first job.
 *
 * How the code gets there: a Ray job's working_dir must be a URI the cluster can fetch, never a
 * path on the Griffin host. A local code directory is therefore zipped and uploaded the way
 * Ray's own JobSubmissionClient does it (PUT /api/packages/gcs/_ray_pkg_<hash>.zip) and named
 * as gcs://... in runtime_env.working_dir. That works on a remote cluster as well as on a head on
 * this machine, gives every job its own copy (files the training writes, such as model.json,
 * never land in the source tree) and reaches every Ray worker of the job, not only the driver.
 * A remote codeUri (s3://, gs://, https://...zip) is passed to Ray as the working_dir unchanged.
 * griffin_run.py travels as a second package in runtime_env.py_modules, so it is importable by
 * the driver and by tasks whatever directory the entrypoint starts in. The entrypoint is left as
 * written: its `python` is the cluster's Python, not the runtime's local interpreter. A framework
 * runtime's rayRuntimeEnv.pip (pins of its lock) becomes runtime_env.pip, which Ray installs into a
 * virtualenv of the job on top of the cluster's own packages (a no-op where they are there already).
 */
export class RayExecutor implements Executor {
  readonly name = 'ray' as const;

  /** Ray fetches code from anywhere its runtime_env can (the bundle, https, s3, gs) and needs no image. */
  validate(): SpecProblem | undefined {
    return undefined;
  }
  readonly client: RayJobsClient;
  private readonly target: string;
  /** Status checks read one listing of the head per pass. */
  readonly listing: RayJobListing;

  /** Reports the runs whose Ray job changed, from one listing of the head per interval. */
  private readonly feed: RayChangeFeed | undefined;

  constructor(
    private readonly options: RayExecutorOptions,
    following?: { onChange: (runId: string) => void; logger: Logger; intervalMs: number },
  ) {
    this.client = new RayJobsClient(options.address);
    this.listing = new RayJobListing(() => this.client.list());
    this.target = `the Ray head at ${options.address}`;
    if (following) this.feed = new RayChangeFeed(() => this.listing.refresh(), following.onChange, following.logger, following.intervalMs, this.target);
  }

  startFollowing(): void {
    this.feed?.start();
  }

  async stopFollowing(): Promise<void> {
    await this.feed?.stop();
  }

  followingChanges(): boolean {
    return this.feed?.following ?? false;
  }

  private plan({ run, env, secretEnv }: LaunchRequest): RayPlan {
    const { spec } = run;
    const packages: RayPackage[] = [];
    let workingDir: string;
    let pip: string[] | undefined;
    if (isRemoteUri(spec.model.codeUri)) {
      workingDir = spec.model.codeUri;
    } else if (isUploadedCodeUri(spec.model.codeUri)) {
      const code = packageOf(bundle(requireCodeStore(this.options.code, spec.model.codeUri).entries(spec.model.codeUri)));
      packages.push(code);
      workingDir = code.uri;
      pip = uploadedRequirements(this.options.code, spec.model.codeUri);
    } else {
      const codeDir = resolveInside(this.options.codeRoot, spec.model.codeUri, 'model.codeUri');
      const code = packageOf(bundle(directoryEntries(codeDir)));
      packages.push(code);
      workingDir = code.uri;
      pip = requirementsOf(codeDir);
    }
    const helper = packageOf(bundle(helperEntries()));
    packages.push(helper);

    const runtimeEnv: Record<string, unknown> = {
      working_dir: workingDir,
      py_modules: [helper.uri],
      // Secret values included: Ray has no secret store, so whoever can read this job's info on the Ray dashboard can read them (README).
      env_vars: { ...env, ...secretEnv, PYTHONUNBUFFERED: '1' },
    };
    // The runtime's pins first (the framework and Ray Train's extras), then what the code itself asks for.
    const allPip = [...(spec.runtime.rayRuntimeEnv?.pip ?? []), ...(pip ?? [])];
    if (allPip.length) runtimeEnv.pip = allPip;

    const request: RaySubmitRequest = {
      entrypoint: spec.entrypoint,
      submission_id: backendObjectName(run.id, run.attempt),
      runtime_env: runtimeEnv,
      metadata: {
        griffin_run_id: run.id,
        griffin_attempt: String(run.attempt),
        ...(spec.workflow ? { griffin_workflow: `${spec.workflow.name}@${spec.workflow.version}` } : {}),
        ...(env.GRIFFIN_API_URL ? { griffin_run_url: `${env.GRIFFIN_API_URL}/runs/${run.id}` } : {}),
      },
    };
    const { cpu, gpu, memoryMb, customResources } = spec.resources;
    if (cpu !== undefined) request.entrypoint_num_cpus = cpu;
    if (gpu) request.entrypoint_num_gpus = gpu;
    if (memoryMb !== undefined) request.entrypoint_memory = memoryMb * 1024 * 1024;
    if (customResources && Object.keys(customResources).length) request.entrypoint_resources = { ...customResources };
    return { request, packages };
  }

  async render(launch: LaunchRequest): Promise<unknown> {
    const { request, packages } = this.plan(launch);
    return {
      address: this.options.address,
      uploads: packages.map((p) => ({
        method: 'PUT',
        url: `${this.options.address}/api/packages/gcs/${p.name}`,
        uri: p.uri,
        bytes: p.bundle.bytes.length,
        files: p.bundle.files,
        sha256: p.bundle.sha256,
        onlyIfMissing: true,
      })),
      method: 'POST',
      url: `${this.options.address}/api/jobs/`,
      body: request,
    };
  }

  async launch(launch: LaunchRequest): Promise<Record<string, unknown>> {
    const { request, packages } = this.plan(launch);
    try {
      for (const p of packages) await this.client.ensurePackage(p.name, p.bundle.bytes);
      const { submissionId, adopted } = await this.client.submit(request);
      return {
        submissionId,
        address: this.options.address,
        dashboardUrl: `${this.options.address}/#/jobs/${submissionId}`,
        workingDir: request.runtime_env.working_dir,
        adopted,
      };
    } catch (error) {
      if (isTransient(error)) throw new BackendUnreachable(this.target, describeFailure(error), this.options.unreachableGraceSeconds);
      throw error;
    }
  }

  private submissionId(run: Run): string {
    const fromRef = run.backendRef?.submissionId;
    return typeof fromRef === 'string' ? fromRef : backendObjectName(run.id, run.attempt);
  }

  async status(run: Run): Promise<BackendStatus> {
    const submissionId = this.submissionId(run);
    let job: RayJobDetails | undefined;
    try {
      job = (await this.listing.find(submissionId)) ?? (await this.client.get(submissionId));
    } catch (error) {
      if (isTransient(error)) return unreachableStatus(run, this.target, error, this.options.unreachableGraceSeconds);
      throw error;
    }
    if (!job) {
      return { phase: 'lost', reason: `the Ray cluster at ${this.options.address} has no job ${submissionId} (was the head restarted, or the job deleted?)`, details: { ...REACHABLE } };
    }
    const details: Record<string, unknown> = { ...REACHABLE, rayJobId: job.job_id };
    if (job.job_id && job.status !== 'PENDING') {
      const workers = await this.trainWorkers(job.job_id);
      if (workers) details.workers = workers;
    }
    switch (job.status) {
      case 'PENDING':
        return { phase: 'pending', details };
      case 'RUNNING':
        return { phase: 'running', details };
      case 'SUCCEEDED':
        return { phase: 'succeeded', details };
      case 'STOPPED':
        return { phase: 'failed', reason: `the Ray job ${submissionId} was stopped`, details };
      case 'FAILED':
        return { phase: 'failed', ...describeRayFailure(job), details };
      default:
        return { phase: 'unknown', reason: `the Ray job ${submissionId} reports an unknown status ${String(job.status)}`, details };
    }
  }

  /**
   * The Ray Train workers of the job (actors of class RayTrainWorker), how many and in which state,
   * for the run page. Undefined when the job has none, or the state API cannot be asked: the run's
   * status does not depend on it.
   */
  private async trainWorkers(jobId: string): Promise<RunWorkers | undefined> {
    let actors;
    try {
      actors = await this.client.jobActors(jobId);
    } catch {
      return undefined;
    }
    const workers = actors.filter((a) => a.class_name === 'RayTrainWorker').sort((a, b) => a.actor_id.localeCompare(b.actor_id));
    if (!workers.length) return undefined;
    return workerSummary(
      'ray-state-api',
      workers.map((a) => ({ id: a.actor_id, state: a.state, ...(a.pid ? { pid: a.pid } : {}) })),
    );
  }

  async cancel(run: Run): Promise<void> {
    // Ray escalates from SIGTERM to SIGKILL by itself, so a forced cancel asks the same way again.
    await this.client.stop(this.submissionId(run));
  }

  async logs(run: Run, cursor: number, limit: number): Promise<LogChunk> {
    if (!run.backendRef) return { text: '', nextCursor: cursor };
    try {
      return sliceLog(await this.client.logs(this.submissionId(run)), cursor, limit);
    } catch (error) {
      if (isTransient(error)) throw new Unavailable(`${this.target} is unreachable; try again (${describeFailure(error)})`, 5);
      throw error;
    }
  }
}

/** Ray's failure message carries the last 20,000 characters of the log; the run reason keeps the first line. */
/** Why a Ray job failed, and whether its node, a worker or the memory monitor ended it rather than the driver's code. */
function describeRayFailure(job: RayJobDetails): { reason: string; infrastructure: boolean } {
  const lostWorker = isRayInfrastructureMessage(job.message ?? '');
  if (typeof job.driver_exit_code === 'number') {
    const exit = describeExitStatus(job.driver_exit_code, `(Ray job ${job.submission_id})`);
    return { reason: exit.reason, infrastructure: exit.infrastructure || lostWorker };
  }
  const firstLine = (job.message ?? '').split('\n')[0].trim().slice(0, 300);
  return { reason: `the Ray job ${job.submission_id} failed${firstLine ? `: ${firstLine}` : ''}`, infrastructure: lostWorker };
}
