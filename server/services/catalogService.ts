import path from 'node:path';
import type { z } from 'zod';
import type { DatasetCreate, FeatureCreate, ModelCreate, RuntimeCreate, WorkflowCreate, WorkflowSpecInput, RunOverridesInput } from '../domain/index.ts';
import type { Dataset, Feature, Model, Page, ResolvedRunSpec, Runtime, Workflow, WorkflowDefinition } from '../domain/index.ts';
import { retryPolicyOf } from '../domain/index.ts';
import { InputError, NotFound, Unprocessable } from '../errors.ts';
import type { CatalogStore } from '../store/catalogStore.ts';
import type { ExecutorRegistry } from '../executors/registry.ts';
import { checkDeclaredKeys, checkHyperparameters, coerceHyperparameters, hyperparameterSchemaProblem } from './hyperparameters.ts';
import { isRemoteUri, resolveInside, resolveLocal, skippedSegment, SKIPPED_CODE_DIRS } from '../files/paths.ts';
import { isUploadedCodeUri, type CodeStore } from '../files/codeStore.ts';
import { checkPinList, checkRayPins } from '../files/runtimeLocks.ts';

export function parseRef(ref: string): { name: string; version?: number } {
  const [name, version] = ref.split('@');
  return version === undefined ? { name } : { name, version: Number(version) };
}

/**
 * Definitions read for submissions, each for at most `ttlMs`. Concurrent reads of one definition
 * share one query; a definition that does not exist is not remembered; `clear` (a write on this
 * instance) also keeps any read begun before it from being stored.
 */
class DefinitionCache {
  private readonly entries = new Map<string, { value: Promise<unknown>; until: number }>();
  private generation = 0;

  constructor(private readonly ttlMs: number) {}

  through<T>(key: string, read: () => Promise<T | undefined>): Promise<T | undefined> {
    if (this.ttlMs <= 0) return read();
    const entry = this.entries.get(key);
    if (entry && entry.until > Date.now()) return entry.value as Promise<T | undefined>;
    const generation = this.generation;
    const value = read();
    if (this.entries.size >= 1000) this.entries.clear();
    this.entries.set(key, { value, until: Date.now() + this.ttlMs });
    const forget = () => {
      if (this.generation === generation && this.entries.get(key)?.value === value) this.entries.delete(key);
    };
    value.then((found) => found === undefined && forget(), forget);
    return value;
  }

  clear(): void {
    this.generation += 1;
    this.entries.clear();
  }
}

const describeRef = (name: string, version?: number) => (version === undefined ? `"${name}"` : `"${name}@${version}"`);

/** Definitions (Model Store, features, datasets, runtimes, workflows) and their cross-checks. */
export class CatalogService {
  constructor(
    private readonly store: CatalogStore,
    private readonly codeRoot: string,
    /** Griffin's own files: no model or dataset may point into (or contain) this directory. */
    private readonly dataDir: string,
    /** Each configured backend's own rules for a spec (Executor.validate). */
    private readonly executors: ExecutorRegistry,
    /** Uploaded code: a model may name a snapshot (griffin://code/<sha256>) stored here. */
    private readonly code?: CodeStore,
    /** Checks a spec's env (variable names, that referenced secrets exist); see secretService.ts. */
    private readonly checkEnv: (env: WorkflowSpecInput['env'], field: string) => Promise<void> = async () => {},
    /** Refuses a queue that does not exist (services/queueService.ts). */
    private readonly checkQueue: (queue: string | undefined, field: string) => Promise<void> = async () => {},
    /**
     * How long a definition read for a submission is reused (GRIFFIN_READ_CACHE_MS): a submission
     * then costs no catalog query. A definition this instance writes drops them all at once; one
     * written through another replica is seen within this time. 0: always read.
     */
    definitionCacheMs = 0,
  ) {
    this.definitions = new DefinitionCache(definitionCacheMs);
  }

  private readonly definitions: DefinitionCache;

  private checkLocation(uri: string, field: string): void {
    if (isUploadedCodeUri(uri)) {
      if (!this.code) throw new InputError(`${field}: this Griffin takes no uploaded code`, field);
      this.code.get(uri, field);
    } else if (!isRemoteUri(uri)) resolveLocal({ codeRoot: this.codeRoot, dataDir: this.dataDir }, uri, field);
  }

  /** The executors never copy dependency and cache directories, so code cannot live in one. */
  private checkCodeDir(codeUri: string): void {
    if (isRemoteUri(codeUri) || isUploadedCodeUri(codeUri)) return;
    const relative = path.relative(this.codeRoot, resolveInside(this.codeRoot, codeUri, 'codeUri'));
    const skipped = skippedSegment(relative);
    if (skipped) {
      throw new InputError(`codeUri: ${codeUri} lies in a ${skipped} directory, which Griffin never copies into a run (${SKIPPED_CODE_DIRS.join(', ')}); point codeUri at the training code`, 'codeUri');
    }
  }

  async createModel(input: z.infer<typeof ModelCreate>): Promise<Model> {
    this.checkLocation(input.codeUri, 'codeUri');
    this.checkCodeDir(input.codeUri);
    const schemaProblem = hyperparameterSchemaProblem(input.hyperparameterSchema);
    if (schemaProblem) throw new InputError(`hyperparameterSchema: is not a JSON Schema (${schemaProblem})`, 'hyperparameterSchema');
    checkDeclaredKeys(input.defaultHyperparameters, input.hyperparameterSchema, (key) => `defaultHyperparameters.${key}`, input.name);
    checkHyperparameters(input.defaultHyperparameters, input.hyperparameterSchema, 'defaultHyperparameters');
    this.definitions.clear();
    return this.store.createModel(input).finally(() => this.definitions.clear());
  }

  async getModel(name: string, version?: number): Promise<Model> {
    const model = await this.store.getModel(name, version);
    if (!model) throw new NotFound(`model ${describeRef(name, version)} does not exist`, 'model');
    return model;
  }

  listModels(filter: { name?: string; limit: number; pageToken?: string }): Promise<Page<Model>> {
    return this.store.listModels(filter);
  }

  async createDataset(input: z.infer<typeof DatasetCreate>): Promise<Dataset> {
    this.checkLocation(input.uri, 'uri');
    const known = new Set(await this.store.featuresExist(input.features));
    const missing = input.features.findIndex((f) => !known.has(f));
    if (missing >= 0) throw new Unprocessable(`feature "${input.features[missing]}" is not registered`, `features.${missing}`);
    this.definitions.clear();
    return this.store.createDataset({ ...input, label: input.label ?? null }).finally(() => this.definitions.clear());
  }

  async getDataset(name: string, version?: number): Promise<Dataset> {
    const dataset = await this.store.getDataset(name, version);
    if (!dataset) throw new NotFound(`dataset ${describeRef(name, version)} does not exist`, 'dataset');
    return dataset;
  }

  listDatasets(filter: { name?: string; limit: number; pageToken?: string }): Promise<Page<Dataset>> {
    return this.store.listDatasets(filter);
  }

  async upsertFeature(input: z.infer<typeof FeatureCreate>): Promise<{ feature: Feature; created: boolean }> {
    return this.store.upsertFeature(input);
  }

  async getFeature(name: string): Promise<Feature> {
    const feature = await this.store.getFeature(name);
    if (!feature) throw new NotFound(`feature "${name}" does not exist`, 'name');
    return feature;
  }

  listFeatures(filter: { limit: number; pageToken?: string }): Promise<Page<Feature>> {
    return this.store.listFeatures(filter);
  }

  async deleteFeature(name: string): Promise<void> {
    if (!(await this.store.deleteFeature(name))) throw new NotFound(`feature "${name}" does not exist`, 'name');
  }

  upsertRuntime(input: z.infer<typeof RuntimeCreate>): Promise<{ runtime: Runtime; created: boolean }> {
    // The same rules as a lock file's lines, so that a runtime made over the API builds like a curated one.
    const packages = checkPinList(input.packages);
    if (input.rayRuntimeEnv) checkRayPins(input.name, input.rayRuntimeEnv.pip, packages);
    this.definitions.clear();
    return this.store.upsertRuntime({
      ...input,
      packages,
      image: input.image ?? null,
      pythonVersion: input.pythonVersion ?? null,
      rayVersion: input.rayVersion ?? null,
      localInterpreter: input.localInterpreter ?? null,
      lockFile: input.lockFile ?? null,
      rayRuntimeEnv: input.rayRuntimeEnv ?? null,
    }).finally(() => this.definitions.clear());
  }

  async getRuntime(name: string): Promise<Runtime> {
    const runtime = await this.store.getRuntime(name);
    if (!runtime) throw new NotFound(`runtime "${name}" does not exist`, 'runtime');
    return runtime;
  }

  listRuntimes(): Promise<Runtime[]> {
    return this.store.listRuntimes();
  }

  async deleteRuntime(name: string): Promise<void> {
    this.definitions.clear();
    const deleted = await this.store.deleteRuntime(name).finally(() => this.definitions.clear());
    if (!deleted) throw new NotFound(`runtime "${name}" does not exist`, 'name');
  }

  /** A new workflow version pins the exact model and dataset versions it was checked against. */
  /**
   * A new workflow version becomes the latest, which CLI submits and schedules use: one on a backend
   * this server cannot run is refused, unless `force` (a backend being set up), and then it carries
   * a warning.
   */
  async createWorkflow(input: z.infer<typeof WorkflowCreate>, options: { force?: boolean } = {}): Promise<Workflow & { warnings?: string[] }> {
    const { name, description, ...spec } = input;
    const checked = await this.checkSpec(spec, '');
    const missing = this.executors.missingHint(spec.backend);
    if (missing && !options.force) {
      throw new Unprocessable(
        `the ${spec.backend} backend is not configured on this server (${missing}), so runs of this version would fail; choose a configured backend, or save it anyway with ?force=true`,
        'backend',
      );
    }
    await this.checkEnv(spec.env, 'env');
    await this.checkQueue(spec.queue, 'queue');
    const definition: WorkflowDefinition = {
      ...spec,
      model: `${checked.model.name}@${checked.model.version}`,
      dataset: `${checked.dataset.name}@${checked.dataset.version}`,
    };
    this.definitions.clear();
    const workflow = await this.store.createWorkflow(name, description, definition).finally(() => this.definitions.clear());
    return missing ? { ...workflow, warnings: [`the ${spec.backend} backend is not configured on this server (${missing}): runs of this version fail until it is`] } : workflow;
  }

  async getWorkflow(name: string, version?: number): Promise<Workflow> {
    const workflow = await this.definitions.through(`workflow\0${name}\0${version ?? 'latest'}`, () => this.store.getWorkflow(name, version));
    if (!workflow) throw new NotFound(`workflow ${describeRef(name, version)} does not exist`, 'workflow');
    return workflow;
  }

  listWorkflows(filter: { name?: string; limit: number; pageToken?: string }): Promise<Page<Workflow>> {
    return this.store.listWorkflows(filter);
  }

  /**
   * Resolves a workflow spec (from a stored version or inline) plus run overrides into the
   * snapshot a run keeps for ever. Every reference must exist and fit together.
   */
  async resolveRunSpec(
    spec: WorkflowSpecInput | WorkflowDefinition,
    overrides: RunOverridesInput,
    workflow: { name: string; version: number } | null,
  ): Promise<ResolvedRunSpec> {
    const fieldPrefix = workflow ? '' : 'spec.';
    const datasetRef = parseRef(spec.dataset);
    const merged: WorkflowSpecInput = {
      ...spec,
      dataset: overrides.datasetVersion ? `${datasetRef.name}@${overrides.datasetVersion}` : spec.dataset,
      backend: overrides.backend ?? spec.backend,
      resources: { ...spec.resources, ...overrides.resources },
      timeoutSeconds: overrides.timeoutSeconds ?? spec.timeoutSeconds,
      hyperparameters: { ...spec.hyperparameters, ...overrides.hyperparameters },
      maxAttempts: overrides.maxAttempts ?? spec.maxAttempts,
      retryOn: overrides.retryOn ?? spec.retryOn,
      retryBackoffSeconds: overrides.retryBackoffSeconds ?? spec.retryBackoffSeconds,
    };
    const checked = await this.checkSpec(merged, fieldPrefix, overrides);
    // Checked at every submission: a secret a workflow names may have been deleted since.
    await this.checkEnv(merged.env, `${fieldPrefix}env`);
    return {
      workflow,
      model: { name: checked.model.name, version: checked.model.version, framework: checked.model.framework, codeUri: checked.model.codeUri },
      dataset: { name: checked.dataset.name, version: checked.dataset.version, uri: checked.dataset.uri, features: checked.dataset.features },
      runtime: {
        name: checked.runtime.name,
        image: checked.runtime.image,
        pythonVersion: checked.runtime.pythonVersion,
        rayVersion: checked.runtime.rayVersion,
        localInterpreter: checked.runtime.localInterpreter,
        packages: checked.runtime.packages,
        rayRuntimeEnv: checked.runtime.rayRuntimeEnv,
      },
      backend: merged.backend,
      entrypoint: merged.entrypoint ?? checked.model.entrypoint,
      hyperparameters: checked.hyperparameters,
      resources: merged.resources,
      timeoutSeconds: merged.timeoutSeconds,
      ...retryPolicyOf(merged),
      register: merged.register ?? null,
      // Resolved to a version by the run service, which reads the registry.
      inputModel: null,
      ...(merged.env && Object.keys(merged.env).length ? { env: merged.env } : {}),
    };
  }

  /**
   * What the spec's backend needs of its runtime, code and resources: the backend's own rules,
   * with the field named as the request spelt it. A backend not configured here has none to
   * apply; a run of it is refused at submission, naming what to configure.
   */
  private checkBackendRules(spec: WorkflowSpecInput, model: Model, runtime: Runtime, fieldPrefix: string, overrides?: RunOverridesInput): void {
    if (!this.executors.has(spec.backend)) return;
    const problem = this.executors.get(spec.backend).validate({ backend: spec.backend, model, runtime, resources: spec.resources });
    if (!problem) return;
    const field = {
      runtime: `${fieldPrefix}runtime`,
      backend: overrides?.backend ? 'overrides.backend' : `${fieldPrefix}backend`,
      'resources.customResources': overrides?.resources?.customResources ? 'overrides.resources.customResources' : `${fieldPrefix}resources.customResources`,
    }[problem.field];
    throw new Unprocessable(problem.message, field);
  }

  private async checkSpec(spec: WorkflowSpecInput, fieldPrefix: string, overrides?: RunOverridesInput) {
    const modelRef = parseRef(spec.model);
    const datasetRef = parseRef(spec.dataset);
    // Three independent reads, in parallel (one round trip on PostgreSQL); checked in this order.
    const [model, dataset, runtime] = await Promise.all([
      this.definitions.through(`model\0${modelRef.name}\0${modelRef.version ?? 'latest'}`, () => this.store.getModel(modelRef.name, modelRef.version)),
      this.definitions.through(`dataset\0${datasetRef.name}\0${datasetRef.version ?? 'latest'}`, () => this.store.getDataset(datasetRef.name, datasetRef.version)),
      this.definitions.through(`runtime\0${spec.runtime}`, () => this.store.getRuntime(spec.runtime)),
    ]);
    if (!model) throw new NotFound(`model ${describeRef(modelRef.name, modelRef.version)} does not exist`, `${fieldPrefix}model`);
    if (!dataset) {
      const field = overrides?.datasetVersion ? 'overrides.datasetVersion' : `${fieldPrefix}dataset`;
      throw new NotFound(`dataset ${describeRef(datasetRef.name, datasetRef.version)} does not exist`, field);
    }

    if (!runtime) throw new NotFound(`runtime "${spec.runtime}" does not exist`, `${fieldPrefix}runtime`);

    if (!runtime.backends.includes(spec.backend)) {
      const field = overrides?.backend ? 'overrides.backend' : `${fieldPrefix}backend`;
      throw new Unprocessable(`runtime "${runtime.name}" does not support the ${spec.backend} backend (it supports: ${runtime.backends.join(', ')})`, field);
    }
    if (runtime.frameworks.length && !runtime.frameworks.includes(model.framework)) {
      throw new Unprocessable(
        `runtime "${runtime.name}" provides ${runtime.frameworks.join(', ')}, not the ${model.framework} framework of model "${model.name}@${model.version}"; pick a runtime that lists ${model.framework} (GET /api/v1/runtimes)`,
        `${fieldPrefix}runtime`,
      );
    }
    this.checkBackendRules(spec, model, runtime, fieldPrefix, overrides);
    // Checked again at submission: a symbolic link may have changed since the definition was stored.
    this.checkLocation(model.codeUri, `${fieldPrefix}model`);
    this.checkLocation(dataset.uri, overrides?.datasetVersion ? 'overrides.datasetVersion' : `${fieldPrefix}dataset`);
    const hyperField = overrides?.hyperparameters ? 'overrides.hyperparameters' : `${fieldPrefix}hyperparameters`;
    const keyField = (key: string) => (overrides?.hyperparameters && key in overrides.hyperparameters ? `overrides.hyperparameters.${key}` : `${fieldPrefix}hyperparameters.${key}`);
    checkDeclaredKeys(spec.hyperparameters, model.hyperparameterSchema, keyField, `${model.name}@${model.version}`);
    const hyperparameters = coerceHyperparameters({ ...model.defaultHyperparameters, ...spec.hyperparameters }, model.hyperparameterSchema);
    checkHyperparameters(hyperparameters, model.hyperparameterSchema, hyperField);
    if (spec.timeoutSeconds <= 0) throw new InputError('timeoutSeconds must be positive', `${fieldPrefix}timeoutSeconds`);
    return { model, dataset, runtime, hyperparameters };
  }
}
