import type { Readable } from 'node:stream';
import type { Metric, ModelVersion, Run } from '../domain/index.ts';
import { EXTERNAL_BACKEND, isTerminal, Transitions } from '../domain/index.ts';
import { newRunId } from '../ids.ts';
import { Conflict, NotFound } from '../errors.ts';
import {
  DEFAULT_EXPERIMENT,
  ENDING_STATUS,
  experimentIdOfRun,
  externalRunSpec,
  PARENT_RUN_TAG,
  isWorkflowExperimentId,
  MLFLOW_ARTIFACT_ROOT,
  MLFLOW_STATUS,
  mlflowArtifactUri,
  MlflowError,
  workflowExperimentId,
  type MlflowExperiment,
  type MlflowKeyValue,
  type MlflowMetric,
  type MlflowModelVersion,
  type MlflowRegisteredModel,
  type MlflowRun,
  type MlflowRunInfo,
  type MlflowRunStatus,
  type MlflowLoggedModel,
  type MlflowLoggedModelStatus,
} from './mlflowModel.ts';
import crypto from 'node:crypto';
import { MAX_NESTING, type RunStore } from '../store/runStore.ts';
import type { CatalogStore } from '../store/catalogStore.ts';
import type { ExperimentStore } from '../store/experimentStore.ts';
import type { LoggedModel, LoggedModelStore } from '../store/loggedModelStore.ts';
import type { RegistryService } from './registryService.ts';
import type { RunService } from './runService.ts';
import { checkArtifactPath } from '../files/paths.ts';

const ms = (iso: string | null | undefined): number | undefined => (iso ? Date.parse(iso) : undefined);
const pairs = (record: Record<string, string>): MlflowKeyValue[] => Object.entries(record).map(([key, value]) => ({ key, value }));
const RUN_NAME_TAG = 'mlflow.runName';
/** The most experiments or runs one search answers with when the client names no limit. */
const DEFAULT_SEARCH_LIMIT = 1000;

/** How MLflow's client writes a param value: Python's str() of it. */
function paramText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (value === null || value === undefined) return 'None';
  return typeof value === 'number' ? String(value) : JSON.stringify(value);
}

/** Whether a logged param says the same as the hyperparameter of that name (0.5 and "0.5", true and "True"). */
function sameAsHyperparameter(hyper: unknown, logged: string): boolean {
  if (paramText(hyper) === logged) return true;
  if (typeof hyper === 'number') return Number(logged) === hyper;
  if (typeof hyper === 'boolean') return logged.toLowerCase() === String(hyper);
  return false;
}

/** Only equality on one attribute, the filters MLflow's client sends for lookups: name='x', run_id='y'. */
function equalityFilter(filter: string | undefined, allowed: string[]): Record<string, string> {
  const found: Record<string, string> = {};
  if (!filter?.trim()) return found;
  for (const clause of filter.split(/\s+and\s+/i)) {
    const match = /^\s*(?:attributes\.)?`?(\w+)`?\s*=\s*(['"])(.*)\2\s*$/.exec(clause);
    if (!match || !allowed.includes(match[1])) {
      throw new MlflowError('INVALID_PARAMETER_VALUE', `Griffin's MLflow API filters only by equality on ${allowed.join(' or ')} (e.g. ${allowed[0]}='x'); got filter "${filter}"`);
    }
    found[match[1]] = match[3];
  }
  return found;
}

/**
 * MLflow's tracking and registry API over Griffin's own records: nothing here is stored twice.
 * Runs Griffin launches are resumed by MLflow inside them (MLFLOW_RUN_ID), and their state is
 * their backend's: MLflow's status updates do not change it. Runs MLflow creates itself (nested
 * runs, autolog's child runs, runs started outside any Griffin run) are external runs: stored
 * running, ended by their client.
 */
export class MlflowService {
  constructor(
    private readonly runs: RunStore,
    private readonly runService: RunService,
    private readonly catalog: CatalogStore,
    private readonly experiments: ExperimentStore,
    private readonly registry: RegistryService,
    private readonly options: { publicUrl: string },
    private readonly loggedModels: LoggedModelStore,
  ) {}

  // ---- experiments ------------------------------------------------------------------------

  private defaultExperiment(): MlflowExperiment {
    return this.experiment(DEFAULT_EXPERIMENT.id, DEFAULT_EXPERIMENT.name, '1970-01-01T00:00:00.000Z');
  }

  private experiment(id: string, name: string, createdAt: string): MlflowExperiment {
    const time = ms(createdAt) ?? 0;
    return { experiment_id: id, name, artifact_location: `mlflow-artifacts:/${MLFLOW_ARTIFACT_ROOT}`, lifecycle_stage: 'active', creation_time: time, last_update_time: time, tags: [] };
  }

  /** The workflow an experiment id names, found by digest among the workflows. */
  private async workflowOfExperiment(id: string): Promise<{ name: string; createdAt: string } | undefined> {
    return (await this.catalog.workflowNames(Number.MAX_SAFE_INTEGER)).find((w) => workflowExperimentId(w.name) === id);
  }

  async getExperiment(id: string): Promise<MlflowExperiment> {
    if (id === DEFAULT_EXPERIMENT.id) return this.defaultExperiment();
    if (isWorkflowExperimentId(id)) {
      const workflow = await this.workflowOfExperiment(id);
      if (workflow) return this.experiment(id, workflow.name, workflow.createdAt);
    } else if (/^[1-9][0-9]{0,9}$/.test(id)) {
      const named = await this.experiments.byId(Number(id));
      if (named) return this.experiment(String(named.id), named.name, named.createdAt);
    }
    throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `No Experiment with id=${id} exists`);
  }

  async getExperimentByName(name: string): Promise<MlflowExperiment> {
    if (name === DEFAULT_EXPERIMENT.name) return this.defaultExperiment();
    const workflow = await this.catalog.getWorkflow(name, 1);
    if (workflow) return this.experiment(workflowExperimentId(name), name, workflow.createdAt);
    const named = await this.experiments.byName(name);
    if (named) return this.experiment(String(named.id), named.name, named.createdAt);
    throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `Could not find experiment with name '${name}'`);
  }

  async createExperiment(name: string): Promise<string> {
    const taken = () => new MlflowError('RESOURCE_ALREADY_EXISTS', `Experiment '${name}' already exists.`);
    if (name === DEFAULT_EXPERIMENT.name || (await this.catalog.getWorkflow(name, 1))) throw taken();
    const created = await this.experiments.create(name);
    if (!created) throw taken();
    return String(created.id);
  }

  /** Default first, then every workflow, then the named experiments. */
  async searchExperiments(maxResults = DEFAULT_SEARCH_LIMIT, filter?: string): Promise<MlflowExperiment[]> {
    const { name } = equalityFilter(filter, ['name']);
    const all = [
      this.defaultExperiment(),
      ...(await this.catalog.workflowNames(maxResults)).map((w) => this.experiment(workflowExperimentId(w.name), w.name, w.createdAt)),
      ...(await this.experiments.list(maxResults)).map((e) => this.experiment(String(e.id), e.name, e.createdAt)),
    ];
    return all.filter((e) => name === undefined || e.name === name).slice(0, maxResults);
  }

  // ---- runs -------------------------------------------------------------------------------

  /** Whether a run token of `ownRunId` may write to `runId`: a run nested in its own. */
  isNestedIn(runId: string, ownRunId: string): Promise<boolean> {
    return this.runs.isNestedIn(runId, ownRunId);
  }

  private async runOrThrow(runId: string): Promise<Run> {
    const run = await this.runs.get(runId);
    if (!run) throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `Run with id=${runId} not found`);
    return run;
  }

  private async writableRun(runId: string): Promise<Run> {
    const run = await this.runOrThrow(runId);
    if (isTerminal(run.state)) throw new MlflowError('INVALID_STATE', `The run ${runId} has ended (${run.state}); it takes no more metrics, params or tags`);
    return run;
  }

  private runInfo(run: Run, tags: Record<string, string>): MlflowRunInfo {
    const creator = (run.triggerInfo?.mlflow as { user?: unknown } | undefined)?.user;
    const info: MlflowRunInfo = {
      run_id: run.id,
      run_uuid: run.id,
      run_name: tags[RUN_NAME_TAG] ?? (run.workflowName ? `${run.workflowName}-${run.id}` : run.id),
      experiment_id: experimentIdOfRun(run),
      user_id: typeof creator === 'string' ? creator : run.trigger,
      status: MLFLOW_STATUS[run.state],
      start_time: ms(run.startedAt ?? run.createdAt)!,
      artifact_uri: mlflowArtifactUri(run.id),
      lifecycle_stage: 'active',
    };
    const end = ms(run.finishedAt);
    return end === undefined ? info : { ...info, end_time: end };
  }

  /** Params are the run's hyperparameters and what it logged; a logged param never repeats one. */
  private async mlflowRun(run: Run): Promise<MlflowRun> {
    const [latest, logged, tags] = await Promise.all([this.runs.latestMetrics(run.id), this.runs.params(run.id), this.runs.tags(run.id)]);
    const hyper = Object.fromEntries(Object.entries(run.spec.hyperparameters ?? {}).map(([k, v]) => [k, paramText(v)]));
    return {
      info: this.runInfo(run, tags),
      data: {
        metrics: Object.entries(latest).map(([key, m]) => ({ key, value: m.value, step: m.step, timestamp: ms(m.timestamp)! })),
        params: pairs({ ...hyper, ...logged }),
        tags: pairs(tags),
      },
      inputs: {},
    };
  }

  async getRun(runId: string): Promise<MlflowRun> {
    return this.mlflowRun(await this.runOrThrow(runId));
  }

  /**
   * A run MLflow creates: nested in `parentRunId` when given (a run token's runs always are: in its
   * own run when the client names no parent), in the experiment the client names. It is running
   * until its client ends it (runs/update) or the run it is nested in ends.
   */
  async createRun(input: { experimentId: string; startTime?: number; runName?: string; tags: MlflowKeyValue[] }, creator: { user: string; parentRunId?: string }): Promise<MlflowRun> {
    await this.getExperiment(input.experimentId);
    const parentId = input.tags.find((t) => t.key === PARENT_RUN_TAG)?.value ?? creator.parentRunId;
    let parent: Run | undefined;
    if (parentId !== undefined) {
      parent = await this.runs.get(parentId);
      if (!parent) throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `Parent run with id=${parentId} not found (tag ${PARENT_RUN_TAG})`);
      if (isTerminal(parent.state)) throw new MlflowError('INVALID_STATE', `The parent run ${parentId} has ended (${parent.state}); a run cannot be nested in it any more`);
      if ((await this.runs.nestingDepth(parentId)) + 1 >= MAX_NESTING) throw new MlflowError('INVALID_PARAMETER_VALUE', `runs nest at most ${MAX_NESTING} deep; run ${parentId} is already that deep`);
    }
    const start = input.startTime === undefined ? new Date() : new Date(input.startTime);
    if (Number.isNaN(start.getTime())) throw new MlflowError('INVALID_PARAMETER_VALUE', `start_time: ${input.startTime} is not a time in milliseconds since the epoch`);
    const tags = [...input.tags];
    if (input.runName && !tags.some((t) => t.key === RUN_NAME_TAG)) tags.push({ key: RUN_NAME_TAG, value: input.runName });
    const run = await this.runs.insertExternal({
      id: newRunId(),
      workflowName: parent?.workflowName ?? null,
      workflowVersion: parent?.workflowVersion ?? null,
      spec: externalRunSpec(parent),
      trigger: 'mlflow',
      triggerInfo: { mlflow: { user: creator.user } },
      parentRunId: parent?.id ?? null,
      experimentId: input.experimentId,
      startedAt: start.toISOString(),
      tags: [...new Map(tags.map((t) => [t.key, t])).values()],
    });
    return this.mlflowRun(run);
  }

  /**
   * A new name is kept (as MLflow keeps it, in the mlflow.runName tag). An ending status ends an
   * external run; a run Griffin launched keeps the state its backend decides.
   */
  async updateRun(runId: string, update: { runName?: string; status?: MlflowRunStatus }): Promise<MlflowRunInfo> {
    let run = await this.runOrThrow(runId);
    if (update.runName) {
      run = await this.writableRun(runId);
      await this.logBatch(runId, { tags: [{ key: RUN_NAME_TAG, value: update.runName }] });
    }
    const ending = update.status && update.status in ENDING_STATUS ? ENDING_STATUS[update.status as keyof typeof ENDING_STATUS] : undefined;
    if (ending && run.backend === EXTERNAL_BACKEND) {
      if (isTerminal(run.state)) {
        if (MLFLOW_STATUS[run.state] !== update.status) throw new MlflowError('INVALID_STATE', `The run ${runId} has already ended as ${MLFLOW_STATUS[run.state]}; it cannot end again as ${update.status}`);
      } else {
        run = await this.runs.transition(runId, Transitions[ending], `ended by its MLflow client (${update.status})`);
        this.runService.forget(runId);
      }
    }
    return this.runInfo(run, await this.runs.tags(run.id));
  }

  async searchRuns(input: { experimentIds: string[]; filter?: string; maxResults?: number; pageToken?: string }): Promise<{ runs: MlflowRun[]; nextPageToken?: string }> {
    if (input.filter?.trim()) {
      throw new MlflowError('INVALID_PARAMETER_VALUE', `Griffin's MLflow API does not filter runs (got filter "${input.filter}"); search without one, or use GET /api/v1/runs?workflow=...`);
    }
    const limit = input.maxResults ?? DEFAULT_SEARCH_LIMIT;
    if (input.experimentIds.length !== 1 && input.pageToken) throw new MlflowError('INVALID_PARAMETER_VALUE', 'page_token is only supported when searching one experiment');
    const runs: MlflowRun[] = [];
    let nextPageToken: string | undefined;
    for (const id of input.experimentIds) {
      const experiment = await this.getExperiment(id);
      // A workflow's and Default's runs are also those whose experiment follows from their workflow.
      const workflow = isWorkflowExperimentId(id) ? experiment.name : id === DEFAULT_EXPERIMENT.id ? null : undefined;
      const page = await this.runs.list({ experiment: { id, workflow }, limit: limit - runs.length, pageToken: input.pageToken });
      for (const run of page.items) runs.push(await this.mlflowRun(run));
      if (input.experimentIds.length === 1) nextPageToken = page.nextPageToken ?? undefined;
      if (runs.length >= limit) break;
    }
    return { runs, ...(nextPageToken ? { nextPageToken } : {}) };
  }

  /**
   * Metrics, params and tags in one write. A param that repeats a hyperparameter with the same
   * value is not stored again; with another value it is refused, as is a logged param changed.
   */
  async logBatch(runId: string, batch: { metrics?: Array<MlflowMetric & { modelId?: string }>; params?: MlflowKeyValue[]; tags?: MlflowKeyValue[] }): Promise<void> {
    const run = await this.writableRun(runId);
    if (batch.metrics?.some((m) => m.modelId)) batch = { ...batch, metrics: await this.withoutModelCopies(runId, batch.metrics) };
    // The spec is parsed only when params need comparing with its hyperparameters: metric batches never do.
    const hyper = batch.params?.length ? (run.spec.hyperparameters ?? {}) : {};
    const params: MlflowKeyValue[] = [];
    for (const p of batch.params ?? []) {
      if (!(p.key in hyper)) params.push(p);
      else if (!sameAsHyperparameter(hyper[p.key], p.value)) throw this.changedParam(runId, p, paramText(hyper[p.key]));
    }
    const now = Date.now();
    const metrics: Metric[] = (batch.metrics ?? []).map((m) => ({ key: m.key, value: m.value, step: m.step ?? 0, timestamp: new Date(m.timestamp ?? now).toISOString() }));
    const { changedParam } = await this.runs.logBatch(runId, { params, tags: batch.tags ?? [], metrics });
    if (changedParam) throw this.changedParam(runId, { key: changedParam.key, value: params.find((p) => p.key === changedParam.key)!.value }, changedParam.stored);
  }

  /**
   * log_model links the run's metrics to the logged model by sending the run's points again with
   * a model_id; Griffin keeps one series per run, so a point the run has already is not stored twice.
   */
  private async withoutModelCopies(runId: string, metrics: Array<MlflowMetric & { modelId?: string }>): Promise<MlflowMetric[]> {
    const stored = new Set((await this.runs.metrics(runId)).map((m) => `${m.key}\0${m.step}\0${m.value}\0${ms(m.timestamp)}`));
    return metrics.filter((m) => !m.modelId || !stored.has(`${m.key}\0${m.step}\0${m.value}\0${m.timestamp}`));
  }

  private changedParam(runId: string, param: MlflowKeyValue, stored: string): MlflowError {
    return new MlflowError(
      'INVALID_PARAMETER_VALUE',
      `Changing param values is not allowed. Param with key='${param.key}' was already logged with value='${stored}' for run ID='${runId}'. Attempted logging new value '${param.value}'.`,
    );
  }

  async deleteTag(runId: string, key: string): Promise<void> {
    await this.writableRun(runId);
    if (!(await this.runs.deleteTag(runId, key))) throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `No tag with name: ${key} in run with id ${runId}`);
  }

  async metricHistory(runId: string, key: string): Promise<MlflowMetric[]> {
    await this.runOrThrow(runId);
    return (await this.runs.metrics(runId, key)).map((m) => ({ key: m.key, value: m.value, step: m.step, timestamp: ms(m.timestamp)! }));
  }

  // ---- logged models (MLflow 3's log_model and autolog): a directory of the source run's artifacts

  private loggedModelView(m: LoggedModel): MlflowLoggedModel {
    return {
      info: {
        model_id: m.id,
        experiment_id: m.experimentId,
        name: m.name,
        creation_timestamp_ms: ms(m.createdAt)!,
        last_updated_timestamp_ms: ms(m.updatedAt)!,
        artifact_uri: mlflowArtifactUri(m.runId, m.artifactPath),
        status: m.status,
        source_run_id: m.runId,
        ...(m.modelType ? { model_type: m.modelType } : {}),
        tags: pairs(m.tags),
      },
      data: { params: pairs(m.params), metrics: [] },
    };
  }

  /**
   * A logged model's files go into its source run's artifacts, in a directory named after the
   * model (`model/`, as MLflow 2 laid them out), or `<name>-<id>/` when the run has one by that name.
   */
  async createLoggedModel(input: { experimentId: string; name?: string; modelType?: string; sourceRunId?: string; params: MlflowKeyValue[]; tags: MlflowKeyValue[] }): Promise<MlflowLoggedModel> {
    if (!input.sourceRunId) {
      throw new MlflowError('INVALID_PARAMETER_VALUE', "source_run_id is required: Griffin keeps a logged model's files in its run's artifacts, so log the model inside a run (mlflow.start_run())");
    }
    const run = await this.writableRun(input.sourceRunId);
    const id = `m-${crypto.randomBytes(16).toString('hex')}`;
    const name = input.name || 'model';
    const dir = name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '_');
    const base = { id, runId: run.id, experimentId: input.experimentId || experimentIdOfRun(run), name, modelType: input.modelType ?? null, status: 'LOGGED_MODEL_PENDING', tags: Object.fromEntries(input.tags.map((t) => [t.key, t.value])), params: Object.fromEntries(input.params.map((p) => [p.key, p.value])) };
    const created = (await this.loggedModels.insert({ ...base, artifactPath: checkArtifactPath(dir) })) ?? (await this.loggedModels.insert({ ...base, artifactPath: checkArtifactPath(`${dir}-${id.slice(2, 10)}`) }));
    if (!created) throw new MlflowError('RESOURCE_ALREADY_EXISTS', `run ${run.id} already has a logged model in ${dir}/`);
    return this.loggedModelView(created);
  }

  private async loggedModel(id: string): Promise<LoggedModel> {
    const model = await this.loggedModels.get(id);
    if (!model) throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `Logged model with ID '${id}' not found.`);
    return model;
  }

  /** The run whose artifacts hold a logged model, for the run-token check. */
  async runOfLoggedModel(id: string): Promise<string | undefined> {
    return (await this.loggedModels.get(id))?.runId;
  }

  async getLoggedModel(id: string): Promise<MlflowLoggedModel> {
    return this.loggedModelView(await this.loggedModel(id));
  }

  async finalizeLoggedModel(id: string, status: MlflowLoggedModelStatus): Promise<MlflowLoggedModel> {
    const model = await this.loggedModel(id);
    await this.writableRun(model.runId);
    await this.loggedModels.setStatus(id, status);
    return this.getLoggedModel(id);
  }

  /** The logged models of the runs of some experiments (search without filters). */
  async searchLoggedModels(experimentIds: string[], maxResults: number): Promise<MlflowLoggedModel[]> {
    const found: MlflowLoggedModel[] = [];
    for (const run of (await this.searchRuns({ experimentIds, maxResults: DEFAULT_SEARCH_LIMIT })).runs) {
      for (const m of await this.loggedModels.ofRun(run.info.run_id)) found.push(this.loggedModelView(m));
      if (found.length >= maxResults) break;
    }
    return found.slice(0, maxResults);
  }

  /** A run says which logged models it produced: they are its own already (their files are its artifacts). */
  async logOutputs(runId: string, modelIds: string[]): Promise<void> {
    await this.writableRun(runId);
    for (const id of modelIds) {
      if ((await this.loggedModel(id)).runId !== runId) throw new MlflowError('INVALID_PARAMETER_VALUE', `logged model ${id} was not logged by run ${runId}`);
    }
  }

  // ---- artifacts (mlflow-artifacts:/runs/<run id>/<path>) -----------------------------------

  /** The run and the path inside its artifacts that an mlflow-artifacts path names. */
  parseArtifactPath(raw: string): { runId: string; path: string } {
    const [root, runId, ...rest] = raw.replace(/^\/+/, '').split('/');
    if (root !== MLFLOW_ARTIFACT_ROOT || !runId || !/^[a-z0-9]{1,32}$/.test(runId)) {
      throw new MlflowError('INVALID_PARAMETER_VALUE', `artifact path "${raw}" is not inside a Griffin run: expected ${MLFLOW_ARTIFACT_ROOT}/<run id>/<path>`);
    }
    const sub = rest.filter((s) => s !== '').join('/');
    return { runId, path: sub === '' ? '' : checkArtifactPath(sub) };
  }

  /** The files and directories directly under a directory of the run's artifacts. */
  async listArtifacts(raw: string): Promise<Array<{ path: string; is_dir: boolean; file_size?: number }>> {
    const { runId, path: dir } = this.parseArtifactPath(raw);
    const prefix = dir ? `${dir}/` : '';
    const children = new Map<string, { path: string; is_dir: boolean; file_size?: number }>();
    for (const artifact of await this.runService.listArtifacts(runId)) {
      if (!artifact.path.startsWith(prefix)) continue;
      const [name, ...below] = artifact.path.slice(prefix.length).split('/');
      if (below.length) children.set(name, { path: name, is_dir: true });
      else children.set(name, { path: name, is_dir: false, file_size: artifact.size });
    }
    return [...children.values()].sort((a, b) => a.path.localeCompare(b.path));
  }

  async putArtifact(raw: string, body: Readable): Promise<void> {
    const { runId, path } = this.parseArtifactPath(raw);
    if (!path) throw new MlflowError('INVALID_PARAMETER_VALUE', 'an artifact upload names a file: runs/<run id>/<path>');
    await this.runService.putArtifact(runId, path, body);
  }

  artifactFile(raw: string): Promise<string> {
    const { runId, path } = this.parseArtifactPath(raw);
    return this.runService.artifactFile(runId, path);
  }

  // ---- registry ---------------------------------------------------------------------------

  /** The MLflow form of a version's artifact URI: Griffin run artifacts become mlflow-artifacts URIs. */
  private downloadUri(artifactUri: string): string {
    const prefix = `${this.options.publicUrl}/api/v1/runs/`;
    if (!artifactUri.startsWith(prefix)) return artifactUri;
    const [runId, marker, ...rest] = artifactUri.slice(prefix.length).split('/');
    if (marker !== 'artifacts') return artifactUri;
    return mlflowArtifactUri(runId, rest.filter((s) => s !== '').join('/'));
  }

  /** runs:/<id>/<path> and mlflow-artifacts:/runs/<id>/<path> name a Griffin run's artifacts; others are kept as given. */
  private griffinArtifactUri(source: string): { artifactUri: string; runId?: string } {
    const fromRuns = /^runs:\/+([a-z0-9]{1,32})(?:\/(.*))?$/.exec(source);
    const fromProxy = new RegExp(`^mlflow-artifacts:/+${MLFLOW_ARTIFACT_ROOT}/([a-z0-9]{1,32})(?:/(.*))?$`).exec(source);
    const match = fromRuns ?? fromProxy;
    if (!match) return { artifactUri: source };
    const sub = (match[2] ?? '').replace(/\/+$/, '');
    return { runId: match[1], artifactUri: `${this.options.publicUrl}/api/v1/runs/${match[1]}/artifacts/${sub ? checkArtifactPath(sub) : ''}` };
  }

  modelVersion(v: ModelVersion): MlflowModelVersion {
    const created = ms(v.createdAt)!;
    return {
      name: v.name,
      version: String(v.version),
      creation_timestamp: created,
      last_updated_timestamp: created,
      current_stage: 'None',
      description: v.description,
      source: this.downloadUri(v.artifactUri),
      run_id: v.runId ?? '',
      status: 'READY',
      tags: pairs(v.tags),
      aliases: v.aliases,
    };
  }

  private async model(name: string): Promise<Awaited<ReturnType<RegistryService['getModel']>>> {
    try {
      return await this.registry.getModel(name);
    } catch (error) {
      if (error instanceof NotFound) throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `Registered Model with name=${name} not found`);
      throw error;
    }
  }

  async createRegisteredModel(name: string, description: string, tags: MlflowKeyValue[]): Promise<MlflowRegisteredModel> {
    try {
      await this.registry.createModel(name, description, Object.fromEntries(tags.map((t) => [t.key, t.value])));
    } catch (error) {
      if (error instanceof Conflict) throw new MlflowError('RESOURCE_ALREADY_EXISTS', `Registered Model (name=${name}) already exists.`);
      throw error;
    }
    return this.getRegisteredModel(name);
  }

  async getRegisteredModel(name: string): Promise<MlflowRegisteredModel> {
    const model = await this.model(name);
    const latest = model.latestVersion === null ? [] : [this.modelVersion(await this.registry.getVersion(name, model.latestVersion))];
    return {
      name: model.name,
      creation_timestamp: ms(model.createdAt)!,
      last_updated_timestamp: ms(model.updatedAt)!,
      description: model.description,
      latest_versions: latest,
      tags: pairs(model.tags),
      aliases: Object.entries(model.aliases).map(([alias, version]) => ({ alias, version: String(version) })),
    };
  }

  async searchRegisteredModels(filter: string | undefined, maxResults: number, pageToken?: string): Promise<{ models: MlflowRegisteredModel[]; nextPageToken?: string }> {
    const { name } = equalityFilter(filter, ['name']);
    if (name !== undefined) return { models: (await this.registry.getModel(name).catch(() => undefined)) ? [await this.getRegisteredModel(name)] : [] };
    const page = await this.registry.listModels({ limit: maxResults, pageToken });
    const models = await Promise.all(page.items.map((m) => this.getRegisteredModel(m.name)));
    return { models, ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}) };
  }

  /** Griffin's registration rules hold: a version comes from a succeeded run, and the same run twice is one version. */
  async createModelVersion(input: { name: string; source: string; runId?: string; tags: MlflowKeyValue[]; description: string }, actor: string): Promise<MlflowModelVersion> {
    const { artifactUri, runId: sourceRun } = this.griffinArtifactUri(input.source);
    if (input.runId && sourceRun && input.runId !== sourceRun) throw new MlflowError('INVALID_PARAMETER_VALUE', `source names run ${sourceRun} but run_id is ${input.runId}`);
    const runId = input.runId || sourceRun;
    if (runId) await this.runOrThrow(runId);
    await this.model(input.name);
    const { version } = await this.registry.registerVersion(input.name, { runId, artifactUri, aliases: [], tags: Object.fromEntries(input.tags.map((t) => [t.key, t.value])), description: input.description }, { actor });
    return this.modelVersion(version);
  }

  private async version(name: string, version: string): Promise<ModelVersion> {
    await this.model(name);
    if (!/^[1-9][0-9]{0,9}$/.test(version)) throw new MlflowError('INVALID_PARAMETER_VALUE', `Model version must be a positive integer; got '${version}'`);
    try {
      return await this.registry.getVersion(name, Number(version));
    } catch (error) {
      if (error instanceof NotFound) throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `Model Version (name=${name}, version=${version}) not found`);
      throw error;
    }
  }

  async getModelVersion(name: string, version: string): Promise<MlflowModelVersion> {
    return this.modelVersion(await this.version(name, version));
  }

  async downloadUriOf(name: string, version: string): Promise<string> {
    return this.downloadUri((await this.version(name, version)).artifactUri);
  }

  async searchModelVersions(filter: string | undefined, maxResults: number, pageToken?: string): Promise<{ versions: MlflowModelVersion[]; nextPageToken?: string }> {
    const { name, run_id: runId } = equalityFilter(filter, ['name', 'run_id']);
    if (name === undefined) throw new MlflowError('INVALID_PARAMETER_VALUE', `Griffin's MLflow API searches the versions of one model: filter "name='<model>'" (optionally "and run_id='<run>'")`);
    await this.model(name);
    const page = await this.registry.listVersions({ name, runId, limit: maxResults, pageToken });
    return { versions: page.items.map((v) => this.modelVersion(v)), ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}) };
  }

  async setAlias(name: string, alias: string, version: string, actor: string): Promise<void> {
    const v = await this.version(name, version);
    await this.registry.setAlias(name, alias, v.version, { actor, reason: 'set through the MLflow API' });
  }

  async versionByAlias(name: string, alias: string): Promise<MlflowModelVersion> {
    const model = await this.model(name);
    const version = model.aliases[alias];
    if (version === undefined) throw new MlflowError('INVALID_PARAMETER_VALUE', `Registered model alias ${alias} not found.`);
    return this.modelVersion(await this.registry.getVersion(name, version));
  }

  async deleteAlias(name: string, alias: string, actor: string): Promise<void> {
    const model = await this.model(name);
    if (model.aliases[alias] === undefined) throw new MlflowError('INVALID_PARAMETER_VALUE', `Registered model alias ${alias} not found.`);
    await this.registry.deleteAlias(name, alias, { actor, reason: 'removed through the MLflow API' });
  }
}
