import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import type { RunSubmission } from '../domain/index.ts';
import type { Artifact, DryRunView, Metric, Page, Run, RunView } from '../domain/index.ts';
import { canMake, EXTERNAL_BACKEND, isTerminal, RERUNNABLE, retryPolicyOf, timeContextEnvironment, timeContextOf, Transitions, type BackendName } from '../domain/index.ts';
import { Conflict, GriffinError, NotFound } from '../errors.ts';
import { isUniqueViolation } from '../db/connect.ts';
import { canonicalJson, newRunId, sha256Hex } from '../ids.ts';
import type { RunFilter, RunStore } from '../store/runStore.ts';
import type { InputModelRef } from '../domain/index.ts';
import type { RegistryStore } from '../store/registryStore.ts';
import { resolveInputModel } from './inputModels.ts';
import type { CatalogService } from './catalogService.ts';
import { parseRef } from './catalogService.ts';
import { checkArtifactPath, uriForProcess } from '../files/paths.ts';
import type { ExecutorRegistry } from '../executors/registry.ts';
import type { LogBytes, LogChunk } from '../executors/types.ts';
import type { AuthService } from './authService.ts';
import { prepareBody, ReadCache, type PreparedBody } from './readCache.ts';
import { literalEnv, secretRefs, type RunEnv } from '../domain/index.ts';
import type { QueueService } from './queueService.ts';

const redactedSecrets = (env: RunEnv | undefined) => Object.fromEntries(Object.keys(secretRefs(env)).map((name) => [name, '[redacted]']));
import { experimentIdOfRun } from './mlflowModel.ts';

export interface SubmitResult {
  run: Run;
  created: boolean;
}

const MAX_SUBMIT_ATTEMPTS = 4;

/** The artifact directory a training process saves checkpoints into (griffin_run.save_checkpoint). */
const CHECKPOINT_PREFIX = 'checkpoints/';

/**
 * The part of a submission that decides "same request". An Airflow retry sends the same body with
 * a higher try number, and must re-attach rather than conflict. rerunIfFailed says what to do with
 * the run a key already has, not what to run, so a first request without it and a later one with it
 * are the same request.
 */
function idempotentPart(input: RunSubmission): Omit<RunSubmission, 'rerunIfFailed' | 'triggerInfo'> {
  const { rerunIfFailed: _policy, triggerInfo: _derived, ...request } = input;
  // A firing's time context follows from its scheduled time, which its key already names.
  if (request.trigger === 'schedule') delete request.timeContext;
  if (!request.airflow) return request;
  const { tryNumber: _ignored, ...airflow } = request.airflow;
  return { ...request, airflow: airflow as RunSubmission['airflow'] };
}

/** What a run records about who started it, and for which slice of time. */
function triggerInfoOf(input: RunSubmission): Record<string, unknown> | null {
  const info: Record<string, unknown> = { ...(input.triggerInfo ?? (input.airflow ? { airflow: input.airflow } : {})) };
  if (input.timeContext) info.timeContext = input.timeContext;
  return Object.keys(info).length ? info : null;
}

/**
 * Whether a stored run's request hash is this request's: today's form, or one of the forms older
 * runs carry: before rerunIfFailed left the hash, it was hashed as given (false by default); and
 * schedule firings were hashed with trigger "http" before a schedule submitted as itself. The older
 * forms are hashed only when today's does not match, so the common case costs one hash.
 */
function sameRequest(storedHash: string | null, currentHash: string, part: ReturnType<typeof idempotentPart>): boolean {
  if (storedHash === currentHash) return true;
  const legacy = part.trigger === 'schedule' ? [part, { ...part, trigger: 'http' as const }] : [part];
  return legacy.some((form) => storedHash === sha256Hex(canonicalJson(form)) || [false, true].some((rerunIfFailed) => sha256Hex(canonicalJson({ ...form, rerunIfFailed })) === storedHash));
}

/**
 * Whether a submission under a key already used starts a new run rather than returning the latest.
 * A run some Airflow try has finished with (consumed) is never re-attached: the next try of that
 * task is a user's clear, which means "train again". With rerunIfFailed, a run that failed, was
 * cancelled or is being cancelled is not worth waiting on either. Anything else is re-attached,
 * including a succeeded run no try has recorded yet (the task died after the run succeeded).
 */
function startsNewGeneration(existing: Run, input: RunSubmission): boolean {
  if (existing.consumedAt) return true;
  return input.rerunIfFailed && RERUNNABLE.includes(existing.state);
}

/** The read-cache key of a run's detail view. */
const detailKey = (id: string): string => `run\0${id}`;

/** Submitting, reading and cancelling runs, and what training processes report back. */
export class RunService {
  constructor(
    private readonly runs: RunStore,
    private readonly catalog: CatalogService,
    private readonly executors: ExecutorRegistry,
    private readonly auth: AuthService,
    private readonly options: { publicUrl: string; dataDir: string; codeRoot: string; airflowBaseUrl?: string; maxArtifactBytes: number; reportTimeoutSeconds: number },
    private readonly wakeDispatcher: () => void = () => {},
    /** Views of finished runs (they change only when consumed or registered again; see forget). */
    private readonly cache = new ReadCache(0),
    /** The Model Registry, for the input model of a scoring run. */
    private readonly registry?: RegistryStore,
    /** Queues: a run's queue must exist, and its priority defaults to the queue's. */
    private readonly queues?: QueueService,
  ) {}

  /**
   * GET /runs/{id}, prepared for the wire. A finished run is kept in the read cache: pollers that
   * wait on it (an Airflow estate, the UI) then cost no query. A run still in flight is read anew.
   */
  async detailBody(id: string): Promise<PreparedBody> {
    return this.cache.through(id, detailKey(id), async () => {
      const run = await this.get(id);
      return { body: prepareBody(await this.view(run, true)), keep: isTerminal(run.state) };
    });
  }

  /** detailBody's answer when the read cache holds it (a finished run read lately); no query. */
  cachedDetailBody(id: string): PreparedBody | undefined {
    return this.cache.get(detailKey(id));
  }

  /** This instance changed the run's record: its cached view goes. */
  forget(id: string): void {
    this.cache.deleteGroup(id);
  }

  /**
   * Stores a run before anything is launched. With an Idempotency-Key, the same body returns the
   * existing run and another body is a conflict; the unique (key, generation) index decides races,
   * so any number of concurrent identical requests leave exactly one run.
   */
  async submit(input: RunSubmission, idempotencyKey: string | undefined): Promise<SubmitResult> {
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
        const run = await this.runs.insertSubmitted({
          id: newRunId(),
          workflowName: spec.workflow?.name ?? null,
          workflowVersion: spec.workflow?.version ?? null,
          spec,
          backend: spec.backend,
          trigger: input.trigger,
          triggerInfo: triggerInfoOf(input),
          dagId: airflow?.dagId ?? null,
          idempotencyKey: idempotencyKey ?? null,
          idempotencyGeneration: generation,
          requestHash: idempotencyKey ? requestHash : null,
          queue: spec.queue,
          priority: spec.priority,
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

  private async resolve(input: RunSubmission) {
    let spec;
    let wantedInput: { name: string; alias: string } | undefined;
    let definition: { queue?: string; priority?: number };
    if (input.workflow) {
      const ref = parseRef(input.workflow);
      const workflow = await this.catalog.getWorkflow(ref.name, ref.version);
      spec = await this.catalog.resolveRunSpec(workflow, input.overrides, { name: workflow.name, version: workflow.version });
      wantedInput = workflow.inputModel;
      definition = workflow;
    } else {
      spec = await this.catalog.resolveRunSpec(input.spec!, input.overrides, null);
      wantedInput = input.spec!.inputModel;
      definition = input.spec!;
    }
    if (this.queues) {
      const prefix = input.spec ? 'spec.' : '';
      const { queue, priority } = await this.queues.resolve({
        queue: input.overrides.queue ?? definition.queue,
        priority: input.overrides.priority ?? definition.priority,
        // A submitted spec names a configured backend, never the external one of MLflow-created runs.
        backend: spec.backend as BackendName,
        resources: spec.resources,
        fields: {
          queue: input.overrides.queue ? 'overrides.queue' : `${prefix}queue`,
          resources: input.overrides.resources ? 'overrides.resources' : `${prefix}resources`,
        },
      });
      spec.queue = queue;
      spec.priority = priority;
    }
    if (wantedInput || input.overrides.inputModel) {
      if (!this.registry) throw new Error('the run service was built without the Model Registry');
      spec.inputModel = await resolveInputModel(this.registry, wantedInput, input.overrides, input.spec ? 'spec.' : '');
    }
    // A run nobody can launch is refused at the door rather than failing later in the queue.
    this.executors.get(spec.backend, input.overrides.backend ? 'overrides.backend' : input.spec ? 'spec.backend' : 'workflow');
    return spec;
  }

  /** What the backend would be sent for this submission; nothing is stored or created. */
  async dryRun(input: RunSubmission): Promise<DryRunView> {
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
      triggerInfo: triggerInfoOf(input),
      idempotencyKey: null,
      idempotencyGeneration: null,
      requestHash: null,
      reason: null,
      queue: spec.queue ?? 'default',
      priority: spec.priority ?? 0,
      leaseOwner: null,
      leaseExpiresAt: null,
      deadlineAt: null,
      cancelRequestedAt: null,
      cancelRequestedByTry: null,
      consumedAt: null,
      consumedByTry: null,
      registeredModel: null,
      registeredVersion: null,
      parentRunId: null,
      experimentId: null,
      createdAt: now,
      updatedAt: now,
      startedAt: null,
      finishedAt: null,
      notBefore: null,
    };
    const executor = this.executors.get(spec.backend, 'overrides.backend');
    // resolve() found the backend's executor: a submitted spec never names the external backend.
    return { backend: spec.backend as BackendName, request: await executor.render({ run, env: this.environment(run, '[redacted]'), secretEnv: redactedSecrets(spec.env) }) };
  }

  /** The variables every backend hands to the training process. */
  environment(run: Run, token = this.auth.runToken(run.id)): Record<string, string> {
    return {
      // The spec's literal env first: GRIFFIN_* names are reserved, so nothing below is shadowed.
      ...literalEnv(run.spec.env),
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
      ...timeContextEnvironment(timeContextOf(run)),
      ...(run.spec.inputModel
        ? {
            GRIFFIN_INPUT_MODEL: `${run.spec.inputModel.name}@${run.spec.inputModel.version}`,
            GRIFFIN_INPUT_MODEL_URI: run.spec.inputModel.artifactUri,
            ...(run.spec.inputModel.alias ? { GRIFFIN_INPUT_MODEL_ALIAS: run.spec.inputModel.alias } : {}),
          }
        : {}),
      // How many workers the run was given (kuberay: worker pods), so distributed code can size itself.
      ...(run.spec.resources.workers !== undefined ? { GRIFFIN_WORKERS: String(run.spec.resources.workers) } : {}),
      // MLflow's client logs into this run through Griffin's MLflow API, with the run's own token.
      MLFLOW_TRACKING_URI: this.options.publicUrl,
      MLFLOW_RUN_ID: run.id,
      MLFLOW_EXPERIMENT_ID: experimentIdOfRun(run),
      MLFLOW_TRACKING_TOKEN: token,
    };
  }

  /**
   * The variables of a launch: environment() and, from attempt 2 on, GRIFFIN_RESUME_FROM when an
   * earlier attempt saved checkpoints (artifacts under checkpoints/).
   */
  async launchEnvironment(run: Run): Promise<Record<string, string>> {
    const env = this.environment(run);
    if (run.attempt < 2) return env;
    const saved = (await this.runs.artifacts(run.id)).some((a) => a.path.startsWith(CHECKPOINT_PREFIX));
    return saved ? { ...env, GRIFFIN_RESUME_FROM: this.checkpointUri(run.id) } : env;
  }

  /** Where a run's checkpoints are: the checkpoints/ directory of its artifacts, shared by its attempts. */
  checkpointUri(runId: string): string {
    return `${this.artifactUri(runId)}${CHECKPOINT_PREFIX}`;
  }

  artifactUri(runId: string): string {
    return `${this.options.publicUrl}/api/v1/runs/${runId}/artifacts/`;
  }

  async get(id: string): Promise<Run> {
    const run = await this.runs.get(id);
    if (!run) throw new NotFound(`run ${id} does not exist`, 'id');
    return run;
  }

  list(filter: RunFilter): Promise<Page<Run>> {
    return this.runs.list(filter);
  }

  /** A page of runs in their public shape; with latestMetrics, each with its metrics' last values, read in one query. */
  async viewPage(page: Page<Run>, include: { latestMetrics?: boolean } = {}): Promise<Page<RunView>> {
    const latest = include.latestMetrics ? await this.runs.latestMetricsOf(page.items.map((r) => r.id)) : null;
    const items = await Promise.all(
      page.items.map(async (r) => {
        const view = await this.view(r);
        return latest ? { ...view, latestMetrics: latest.get(r.id) ?? {} } : view;
      }),
    );
    return { items, nextPageToken: page.nextPageToken };
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
      maxAttempts: retryPolicyOf(run.spec).maxAttempts,
      workflow: run.workflowName ? { name: run.workflowName, version: run.workflowVersion! } : null,
      // Runs resolved before retries existed show the policy they run under: one attempt.
      spec: { ...run.spec, ...retryPolicyOf(run.spec) },
      backend: run.backend,
      backendRef: run.backendRef,
      trigger: run.trigger,
      airflow,
      schedule: (info.schedule as Record<string, unknown> | undefined) ?? null,
      timeContext: timeContextOf(run),
      idempotencyKey: run.idempotencyKey,
      reason: run.reason,
      queue: run.queue,
      priority: run.priority,
      deadlineAt: run.deadlineAt,
      cancelRequestedAt: run.cancelRequestedAt,
      cancelRequestedByTry: run.cancelRequestedByTry,
      consumedAt: run.consumedAt,
      consumedByTry: run.consumedByTry,
      createdAt: run.createdAt,
      updatedAt: run.updatedAt,
      startedAt: run.startedAt,
      finishedAt: run.finishedAt,
      notBefore: run.notBefore,
      url: `${this.options.publicUrl}/runs/${run.id}`,
      airflowUrl: airflow && this.options.airflowBaseUrl ? this.airflowUrl(airflow) : null,
      artifactUri: this.artifactUri(run.id),
      modelVersion: run.registeredModel ? { name: run.registeredModel, version: run.registeredVersion! } : null,
      inputModel: run.spec.inputModel ?? null,
      parentRunId: run.parentRunId,
      experimentId: run.experimentId,
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
      // Nothing of an external run executes here: it ends at once, and its client's writes stop.
      if (run.backend === EXTERNAL_BACKEND) return await this.runs.transition(id, Transitions.externalKilled, why, patch);
      if (canMake(Transitions.cancelledQueued, run.state)) return await this.runs.transition(id, Transitions.cancelledQueued, why, patch);
      const moved = await this.runs.transition(id, Transitions.cancelRequested, why, patch);
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
    this.forget(id);
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
    // No process of Griffin's wrote an external run's log: there is none.
    if (run.backend === EXTERNAL_BACKEND) return { text: '', nextCursor: cursor, complete: isTerminal(run.state) };
    const chunk = await this.executors.get(run.backend).logs(run, cursor, limit);
    // Terminal and nothing more to read: followers can stop.
    const complete = isTerminal(run.state) && chunk.text === '';
    return { ...chunk, complete };
  }

  /**
   * A follower's reader of the run's log as bytes. A backend whose log is a file (local) is read
   * straight from it, undecoded, and the run's record is read again only when the follower has
   * caught up (has the run ended?), not for every chunk of a long log: a 200 MB follow is then a
   * few thousand file reads rather than as many database queries beside them. Other backends are
   * read as `logs` is, with the run read anew for each chunk.
   */
  async logFollower(id: string): Promise<(cursor: number, limit: number, into?: Buffer) => Promise<LogBytes & { complete: boolean }>> {
    let run = await this.get(id);
    return async (cursor, limit, into) => {
      const executor = this.executors.get(run.backend);
      if (!executor.logBytes) {
        const chunk = await this.logs(id, cursor, limit);
        return { bytes: Buffer.from(chunk.text, 'utf8'), nextCursor: chunk.nextCursor, complete: chunk.complete };
      }
      const chunk = await executor.logBytes(run, cursor, limit, into);
      if (chunk.bytes.length) return { ...chunk, complete: false };
      run = await this.get(id);
      if (!isTerminal(run.state)) return { ...chunk, complete: false };
      // It ended after that read: what it wrote before ending is read before the follower stops.
      const last = await executor.logBytes(run, cursor, limit, into);
      return { ...last, complete: last.bytes.length === 0 };
    };
  }

  /** `duplicate` says the batch id was delivered before and nothing was added this time. */
  async recordMetrics(
    id: string,
    metrics: Array<{ key: string; value: number; step: number; timestamp?: number | string }>,
    batchId?: string,
  ): Promise<{ accepted: number; duplicate: boolean }> {
    // The store checks that the run exists and has not ended, in the transaction that writes.
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

  /**
   * What a run read and what it wrote: model@version (for a scoring run, the registered version it
   * was given) -> this run -> its artifacts (predictions.csv) and the version it registered.
   */
  async lineage(id: string) {
    const run = await this.get(id);
    const input = run.spec.inputModel ?? null;
    const registryUrl = (name: string, version: number) => `${this.options.publicUrl}/registry/${encodeURIComponent(name)}/versions/${version}`;
    return {
      run: { id: run.id, state: run.state, backend: run.backend, workflow: run.spec.workflow, url: `${this.options.publicUrl}/runs/${run.id}`, startedAt: run.startedAt, finishedAt: run.finishedAt },
      inputs: {
        modelVersion: input ? { name: input.name, version: input.version, alias: input.alias, artifactUri: input.artifactUri, sourceRunId: input.runId, url: registryUrl(input.name, input.version) } : null,
        model: { name: run.spec.model.name, version: run.spec.model.version, framework: run.spec.model.framework },
        dataset: { name: run.spec.dataset.name, version: run.spec.dataset.version, uri: run.spec.dataset.uri },
        runtime: run.spec.runtime.name,
      },
      outputs: {
        artifacts: await this.listArtifacts(id),
        modelVersion: run.registeredModel ? { name: run.registeredModel, version: run.registeredVersion!, url: registryUrl(run.registeredModel, run.registeredVersion!) } : null,
      },
    };
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
