import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import type { RunCreateInput, RunListQuery } from '../api/schemas.ts';
import type { z } from 'zod';
import type { Artifact, Metric, Page, Run, RunEvent } from '../domain.ts';
import { isTerminal, RERUNNABLE_STATES } from '../domain.ts';
import { Conflict, GriffinError, NotFound } from '../errors.ts';
import { isUniqueViolation } from '../db/connect.ts';
import { canonicalJson, newRunId, sha256Hex } from '../ids.ts';
import type { RunStore } from '../store/runStore.ts';
import type { CatalogService } from './catalogService.ts';
import { parseRef } from './catalogService.ts';
import { checkArtifactPath, uriForProcess } from './paths.ts';
import type { ExecutorRegistry } from '../executors/registry.ts';
import type { LogChunk } from '../executors/types.ts';
import type { AuthService } from './authService.ts';
import { experimentIdOfRun } from '../domain/mlflow.ts';

export interface RunView extends Omit<Run, 'leaseOwner' | 'leaseExpiresAt' | 'requestHash' | 'idempotencyGeneration' | 'workflowName' | 'workflowVersion' | 'registeredModel' | 'registeredVersion' | 'triggerInfo'> {
  terminal: boolean;
  workflow: { name: string; version: number } | null;
  airflow: Record<string, unknown> | null;
  schedule: Record<string, unknown> | null;
  url: string;
  airflowUrl: string | null;
  artifactUri: string;
  modelVersion: { name: string; version: number } | null;
  latestMetrics?: Record<string, Omit<Metric, 'key'>>;
  /** What the training process logged (e.g. through MLflow): params beside the spec's hyperparameters, and tags. */
  params?: Record<string, string>;
  tags?: Record<string, string>;
  events?: RunEvent[];
}

export interface SubmitResult {
  run: Run;
  created: boolean;
}

const MAX_SUBMIT_ATTEMPTS = 4;

/**
 * The part of a submission that decides "same request". An Airflow retry sends the same body with
 * a higher try number, and must re-attach rather than conflict. rerunIfFailed says what to do with
 * the run a key already has, not what to run, so a first request without it and a later one with it
 * are the same request.
 */
function idempotentPart(input: RunCreateInput): Omit<RunCreateInput, 'rerunIfFailed'> {
  const { rerunIfFailed: _policy, ...request } = input;
  if (!request.airflow) return request;
  const { tryNumber: _ignored, ...airflow } = request.airflow;
  return { ...request, airflow: airflow as RunCreateInput['airflow'] };
}

/**
 * Whether a stored run's request hash is this request's: today's form, or one of the two forms that
 * runs stored before rerunIfFailed left the hash carry (it was hashed as given, false by default).
 * The older forms are hashed only when today's does not match, so the common case costs one hash.
 */
function sameRequest(storedHash: string | null, currentHash: string, part: ReturnType<typeof idempotentPart>): boolean {
  if (storedHash === currentHash) return true;
  return [false, true].some((rerunIfFailed) => sha256Hex(canonicalJson({ ...part, rerunIfFailed })) === storedHash);
}

/**
 * Whether a submission under a key already used starts a new run rather than returning the latest.
 * A run some Airflow try has finished with (consumed) is never re-attached: the next try of that
 * task is a user's clear, which means "train again". With rerunIfFailed, a run that failed, was
 * cancelled or is being cancelled is not worth waiting on either. Anything else is re-attached,
 * including a succeeded run no try has recorded yet (the task died after the run succeeded).
 */
function startsNewGeneration(existing: Run, input: RunCreateInput): boolean {
  if (existing.consumedAt) return true;
  return input.rerunIfFailed && RERUNNABLE_STATES.includes(existing.state);
}

/** Submitting, reading and cancelling runs, and what training processes report back. */
export class RunService {
  constructor(
    private readonly runs: RunStore,
    private readonly catalog: CatalogService,
    private readonly executors: ExecutorRegistry,
    private readonly auth: AuthService,
    private readonly options: { publicUrl: string; dataDir: string; codeRoot: string; airflowBaseUrl?: string; maxArtifactBytes: number; reportTimeoutSeconds: number },
    private readonly wakeDispatcher: () => void = () => {},
  ) {}

  /**
   * Stores a run before anything is launched. With an Idempotency-Key, the same body returns the
   * existing run and another body is a conflict; the unique (key, generation) index decides races,
   * so any number of concurrent identical requests leave exactly one run.
   */
  async submit(input: RunCreateInput, idempotencyKey: string | undefined, extra: { trigger?: Run['trigger']; triggerInfo?: Record<string, unknown> } = {}): Promise<SubmitResult> {
    const request = idempotentPart(input);
    const requestHash = sha256Hex(canonicalJson(request));
    for (let attempt = 0; attempt < MAX_SUBMIT_ATTEMPTS; attempt += 1) {
      let generation: number | null = null;
      if (idempotencyKey) {
        const existing = await this.runs.latestByIdempotencyKey(idempotencyKey);
        if (existing) {
          if (!sameRequest(existing.requestHash, requestHash, request)) {
            throw new Conflict(`Idempotency-Key "${idempotencyKey}" was already used for run ${existing.id} with a different request body`, 'Idempotency-Key');
          }
          if (!startsNewGeneration(existing, input)) return { run: existing, created: false };
          generation = (existing.idempotencyGeneration ?? 1) + 1;
        } else {
          generation = 1;
        }
      }
      const spec = await this.resolve(input);
      const airflow = input.airflow ?? null;
      try {
        const run = await this.runs.insert({
          id: newRunId(),
          workflowName: spec.workflow?.name ?? null,
          workflowVersion: spec.workflow?.version ?? null,
          spec,
          backend: spec.backend,
          trigger: extra.trigger ?? input.trigger,
          triggerInfo: extra.triggerInfo ?? (airflow ? { airflow } : null),
          dagId: airflow?.dagId ?? null,
          idempotencyKey: idempotencyKey ?? null,
          idempotencyGeneration: generation,
          requestHash: idempotencyKey ? requestHash : null,
        });
        this.wakeDispatcher();
        return { run, created: true };
      } catch (error) {
        if (!idempotencyKey || !isUniqueViolation(error)) throw error;
        // Another request with this key won the race; loop to return (or conflict with) its run.
      }
    }
    throw new Conflict(`Idempotency-Key "${idempotencyKey}" is being used by concurrent requests; retry`, 'Idempotency-Key');
  }

  private async resolve(input: RunCreateInput) {
    let spec;
    if (input.workflow) {
      const ref = parseRef(input.workflow);
      const workflow = await this.catalog.getWorkflow(ref.name, ref.version);
      spec = await this.catalog.resolveRunSpec(workflow, input.overrides, { name: workflow.name, version: workflow.version });
    } else {
      spec = await this.catalog.resolveRunSpec(input.spec!, input.overrides, null);
    }
    // A run nobody can launch is refused at the door rather than failing later in the queue.
    this.executors.get(spec.backend, input.overrides.backend ? 'overrides.backend' : input.spec ? 'spec.backend' : 'workflow');
    return spec;
  }

  /** What the backend would be sent for this submission; nothing is stored or created. */
  async dryRun(input: RunCreateInput): Promise<{ backend: string; request: unknown }> {
    const spec = await this.resolve(input);
    const now = new Date().toISOString();
    const run: Run = {
      id: 'dryrun000000',
      state: 'queued',
      attempt: 1,
      workflowName: spec.workflow?.name ?? null,
      workflowVersion: spec.workflow?.version ?? null,
      spec,
      backend: spec.backend,
      backendRef: null,
      trigger: input.trigger,
      triggerInfo: input.airflow ? { airflow: input.airflow } : null,
      idempotencyKey: null,
      idempotencyGeneration: null,
      requestHash: null,
      reason: null,
      leaseOwner: null,
      leaseExpiresAt: null,
      deadlineAt: null,
      cancelRequestedAt: null,
      cancelRequestedByTry: null,
      consumedAt: null,
      consumedByTry: null,
      registeredModel: null,
      registeredVersion: null,
      createdAt: now,
      updatedAt: now,
      startedAt: null,
      finishedAt: null,
    };
    const executor = this.executors.get(spec.backend, 'overrides.backend');
    return { backend: spec.backend, request: await executor.render({ run, env: this.environment(run, '[redacted]') }) };
  }

  /** The variables every backend hands to the training process. */
  environment(run: Run, token = this.auth.runToken(run.id)): Record<string, string> {
    return {
      GRIFFIN_RUN_ID: run.id,
      GRIFFIN_ATTEMPT: String(run.attempt),
      GRIFFIN_API_URL: this.options.publicUrl,
      GRIFFIN_RUN_TOKEN: token,
      GRIFFIN_HYPERPARAMETERS: JSON.stringify(run.spec.hyperparameters),
      GRIFFIN_DATASET_URI: uriForProcess(this.options.codeRoot, run.spec.dataset.uri, 'dataset.uri'),
      GRIFFIN_DATASET: `${run.spec.dataset.name}@${run.spec.dataset.version}`,
      GRIFFIN_MODEL: `${run.spec.model.name}@${run.spec.model.version}`,
      GRIFFIN_WORKFLOW: run.spec.workflow ? `${run.spec.workflow.name}@${run.spec.workflow.version}` : '',
      GRIFFIN_ARTIFACT_URI: this.artifactUri(run.id),
      GRIFFIN_REPORT_TIMEOUT: String(this.options.reportTimeoutSeconds),
      // MLflow's client logs into this run through Griffin's MLflow API, with the run's own token.
      MLFLOW_TRACKING_URI: this.options.publicUrl,
      MLFLOW_RUN_ID: run.id,
      MLFLOW_EXPERIMENT_ID: experimentIdOfRun(run),
      MLFLOW_TRACKING_TOKEN: token,
    };
  }

  artifactUri(runId: string): string {
    return `${this.options.publicUrl}/api/v1/runs/${runId}/artifacts/`;
  }

  async get(id: string): Promise<Run> {
    const run = await this.runs.get(id);
    if (!run) throw new NotFound(`run ${id} does not exist`, 'id');
    return run;
  }

  list(filter: z.infer<typeof RunListQuery>): Promise<Page<Run>> {
    return this.runs.list(filter);
  }

  /** The public shape of a run, with links; `detail` adds its events and latest metrics. */
  async view(run: Run, detail = false): Promise<RunView> {
    const info = run.triggerInfo ?? {};
    const airflow = (info.airflow as Record<string, unknown> | undefined) ?? null;
    const base: RunView = {
      id: run.id,
      state: run.state,
      terminal: isTerminal(run.state),
      attempt: run.attempt,
      workflow: run.workflowName ? { name: run.workflowName, version: run.workflowVersion! } : null,
      spec: run.spec,
      backend: run.backend,
      backendRef: run.backendRef,
      trigger: run.trigger,
      airflow,
      schedule: (info.schedule as Record<string, unknown> | undefined) ?? null,
      idempotencyKey: run.idempotencyKey,
      reason: run.reason,
      deadlineAt: run.deadlineAt,
      cancelRequestedAt: run.cancelRequestedAt,
      cancelRequestedByTry: run.cancelRequestedByTry,
      consumedAt: run.consumedAt,
      consumedByTry: run.consumedByTry,
      createdAt: run.createdAt,
      updatedAt: run.updatedAt,
      startedAt: run.startedAt,
      finishedAt: run.finishedAt,
      url: `${this.options.publicUrl}/runs/${run.id}`,
      airflowUrl: airflow && this.options.airflowBaseUrl ? this.airflowUrl(airflow) : null,
      artifactUri: this.artifactUri(run.id),
      modelVersion: run.registeredModel ? { name: run.registeredModel, version: run.registeredVersion! } : null,
    };
    if (!detail) return base;
    const [events, latestMetrics, params, tags] = await Promise.all([this.runs.events(run.id), this.runs.latestMetrics(run.id), this.runs.params(run.id), this.runs.tags(run.id)]);
    return { ...base, events, latestMetrics, params, tags };
  }

  private airflowUrl(airflow: Record<string, unknown>): string {
    const enc = (v: unknown) => encodeURIComponent(String(v));
    const mapIndex = Number(airflow.mapIndex ?? -1);
    const url = `${this.options.airflowBaseUrl}/dags/${enc(airflow.dagId)}/runs/${enc(airflow.dagRunId)}/tasks/${enc(airflow.taskId)}`;
    return mapIndex >= 0 ? `${url}/mapped/${mapIndex}` : url;
  }

  /**
   * Cancel is a request: a queued run is cancelled at once; a launched one moves to cancelling
   * and the reconciler confirms with the backend. Cancelling twice is harmless.
   */
  async cancel(id: string, reason: string | undefined, byTry: number | null = null): Promise<Run> {
    const run = await this.get(id);
    const why = reason ? `cancelled: ${reason}` : 'cancelled by request';
    if (isTerminal(run.state)) throw new Conflict(`run ${id} already ended (${run.state}); nothing to cancel`, 'id');
    if (run.state === 'cancelling') return run;
    const patch = { cancelRequestedAt: new Date().toISOString(), cancelRequestedByTry: byTry };
    try {
      if (run.state === 'queued') return await this.runs.transition(id, ['queued'], 'cancelled', why, patch);
      const moved = await this.runs.transition(id, ['launching', 'running'], 'cancelling', why, patch);
      if (moved.backendRef) {
        await this.executors.get(moved.backend).cancel(moved).catch(() => {
          // The reconciler repeats the request until the backend confirms.
        });
      }
      return moved;
    } catch (error) {
      if (error instanceof GriffinError && error.status === 409) return this.cancel(id, reason, byTry);
      throw error;
    }
  }

  /**
   * An Airflow try says it has finished with the run (whatever the run's outcome). The first call
   * is kept; repeating it is harmless.
   */
  async consume(id: string, tryNumber: number | null): Promise<Run> {
    await this.get(id);
    await this.runs.markConsumed(id, tryNumber);
    return this.get(id);
  }

  async logCursor(id: string, reader: string): Promise<{ reader: string; cursor: number }> {
    await this.get(id);
    return { reader, cursor: await this.runs.logCursor(id, reader) };
  }

  async advanceLogCursor(id: string, reader: string, cursor: number): Promise<{ reader: string; cursor: number }> {
    await this.get(id);
    return { reader, cursor: await this.runs.advanceLogCursor(id, reader, cursor) };
  }

  async logs(id: string, cursor: number, limit: number): Promise<LogChunk & { complete: boolean }> {
    const run = await this.get(id);
    const chunk = await this.executors.get(run.backend).logs(run, cursor, limit);
    // Terminal and nothing more to read: followers can stop.
    const complete = isTerminal(run.state) && chunk.text === '';
    return { ...chunk, complete };
  }

  /** `duplicate` says the batch id was delivered before and nothing was added this time. */
  async recordMetrics(
    id: string,
    metrics: Array<{ key: string; value: number; step: number; timestamp?: number | string }>,
    batchId?: string,
  ): Promise<{ accepted: number; duplicate: boolean }> {
    const run = await this.get(id);
    if (isTerminal(run.state)) throw new Conflict(`run ${id} has ended (${run.state}); it takes no more metrics`, 'id');
    const now = Date.now();
    const stored = await this.runs.appendMetrics(
      id,
      metrics.map((m) => ({
        key: m.key,
        value: m.value,
        step: m.step,
        timestamp: new Date(m.timestamp === undefined ? now : m.timestamp).toISOString(),
      })),
      batchId,
    );
    return { accepted: metrics.length, duplicate: !stored };
  }

  async metrics(id: string, key?: string): Promise<Metric[]> {
    await this.get(id);
    return this.runs.metrics(id, key);
  }

  private artifactDir(runId: string): string {
    return path.join(this.options.dataDir, 'artifacts', runId);
  }

  /** Streams an upload to disk with a size cap and a checksum; the file appears whole or not at all. */
  async putArtifact(id: string, rawPath: string, body: Readable): Promise<Artifact & { uri: string }> {
    const run = await this.get(id);
    if (isTerminal(run.state)) throw new Conflict(`run ${id} has ended (${run.state}); it takes no more artifacts`, 'id');
    const relative = checkArtifactPath(rawPath);
    const target = path.join(this.artifactDir(id), relative);
    const collision = () => new Conflict(`artifact path "${relative}" collides with another artifact of run ${id}: one path cannot be both a file and a directory`, 'path');
    try {
      fs.mkdirSync(path.dirname(target), { recursive: true });
    } catch (error) {
      if (['ENOTDIR', 'EEXIST'].includes((error as NodeJS.ErrnoException).code ?? '')) throw collision();
      throw error;
    }
    if (fs.existsSync(target) && fs.statSync(target).isDirectory()) throw collision();
    const temp = `${target}.upload-${crypto.randomBytes(4).toString('hex')}`;
    const hash = crypto.createHash('sha256');
    let size = 0;
    const limit = this.options.maxArtifactBytes;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > limit) return done(new GriffinError(413, 'payload_too_large', `artifact is larger than the limit of ${limit} bytes`, 'body'));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(body, meter, fs.createWriteStream(temp));
      fs.renameSync(temp, target);
    } catch (error) {
      fs.rmSync(temp, { force: true });
      throw error;
    }
    const artifact = await this.runs.upsertArtifact(id, { path: relative, size, sha256: hash.digest('hex') });
    return { ...artifact, uri: `${this.artifactUri(id)}${relative}` };
  }

  async listArtifacts(id: string): Promise<Array<Artifact & { uri: string }>> {
    await this.get(id);
    return (await this.runs.artifacts(id)).map((a) => ({ ...a, uri: `${this.artifactUri(id)}${a.path}` }));
  }

  async artifactFile(id: string, rawPath: string): Promise<string> {
    await this.get(id);
    const relative = checkArtifactPath(rawPath);
    const known = (await this.runs.artifacts(id)).some((a) => a.path === relative);
    const file = path.join(this.artifactDir(id), relative);
    if (!known || !fs.existsSync(file)) throw new NotFound(`run ${id} has no artifact "${relative}"`, 'path');
    return file;
  }
}
