import type { Knex } from 'knex';
import type { Dataset, Feature, Model, Page, Runtime, Workflow, WorkflowDefinition, BackendName } from '../domain/index.ts';
import { Conflict } from '../errors.ts';
import { isUniqueViolation } from '../db/connect.ts';
import { BY_ID, BY_NAME, fromJson, keysetPage, nowIso, toJson } from './rows.ts';

/**
 * The definitions users build runs from: models (Model Store), datasets and workflows are versioned
 * and immutable once written; features and runtimes are named entries.
 */

type VersionedTable = 'models' | 'datasets' | 'workflows';

interface ModelRow {
  name: string;
  version: number;
  framework: string;
  code_uri: string;
  entrypoint: string;
  default_hyperparameters: string;
  hyperparameter_schema: string;
  description: string;
  created_at: string;
}

interface DatasetRow {
  name: string;
  version: number;
  uri: string;
  format: string;
  features: string;
  label: string | null;
  split: string;
  description: string;
  created_at: string;
}

interface WorkflowRow {
  name: string;
  version: number;
  spec: string;
  description: string;
  created_at: string;
}

interface FeatureRow {
  name: string;
  entity_key: string;
  dtype: string;
  source: string;
  description: string;
  created_at: string;
  updated_at: string;
}

interface RuntimeRow {
  name: string;
  image: string | null;
  python_version: string | null;
  ray_version: string | null;
  local_interpreter: string | null;
  frameworks: string;
  backends: string;
  description: string;
  lock_file: string | null;
  packages: string | null;
  ray_runtime_env: string | null;
  created_at: string;
  updated_at: string;
}

const modelFromRow = (r: ModelRow): Model => ({
  name: r.name,
  version: Number(r.version),
  framework: r.framework,
  codeUri: r.code_uri,
  entrypoint: r.entrypoint,
  defaultHyperparameters: fromJson(r.default_hyperparameters, {}),
  hyperparameterSchema: fromJson(r.hyperparameter_schema, {}),
  description: r.description,
  createdAt: r.created_at,
});

const datasetFromRow = (r: DatasetRow): Dataset => ({
  name: r.name,
  version: Number(r.version),
  uri: r.uri,
  format: r.format,
  features: fromJson(r.features, []),
  label: r.label,
  split: fromJson(r.split, {}),
  description: r.description,
  createdAt: r.created_at,
});

const workflowFromRow = (r: WorkflowRow): Workflow => ({
  ...fromJson<WorkflowDefinition>(r.spec, {} as WorkflowDefinition),
  name: r.name,
  version: Number(r.version),
  description: r.description,
  createdAt: r.created_at,
});

const featureFromRow = (r: FeatureRow): Feature => ({
  name: r.name,
  entityKey: r.entity_key,
  dtype: r.dtype,
  source: r.source,
  description: r.description,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const runtimeFromRow = (r: RuntimeRow): Runtime => ({
  name: r.name,
  image: r.image,
  pythonVersion: r.python_version,
  rayVersion: r.ray_version,
  localInterpreter: r.local_interpreter,
  frameworks: fromJson(r.frameworks, []),
  backends: fromJson<BackendName[]>(r.backends, ['local']),
  description: r.description,
  lockFile: r.lock_file ?? null,
  packages: fromJson<string[]>(r.packages, []),
  rayRuntimeEnv: fromJson<{ pip: string[] } | null>(r.ray_runtime_env, null),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export type ExampleKind = 'dataset' | 'model' | 'workflow';

export class CatalogStore {
  constructor(private readonly db: Knex) {}

  /**
   * Appends version max+1 of `name`. Two writers racing for the same number collide on the
   * unique (name, version) index; the loser simply takes the next number.
   */
  private async insertNextVersion(table: VersionedTable, name: string, row: Record<string, unknown>): Promise<number> {
    for (let tries = 0; tries < 5; tries += 1) {
      const latest = await this.db(table).where({ name }).max({ v: 'version' }).first();
      const version = Number(latest?.v ?? 0) + 1;
      try {
        await this.db(table).insert({ ...row, name, version, created_at: nowIso() });
        return version;
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
      }
    }
    throw new Conflict(`could not allocate a new version of ${table} "${name}": too many concurrent writers`, 'name');
  }

  private async getVersion<Row>(table: VersionedTable, name: string, version?: number): Promise<Row | undefined> {
    const query = this.db(table).where({ name });
    if (version !== undefined) return (await query.andWhere({ version }).first()) as Row | undefined;
    return (await query.orderBy('version', 'desc').first()) as Row | undefined;
  }

  private async listVersions<Row, T>(
    table: VersionedTable,
    filter: { name?: string; limit: number; pageToken?: string },
    map: (row: Row) => T,
  ): Promise<Page<T>> {
    const query = this.db(table).select('*');
    if (filter.name) query.where({ name: filter.name });
    return keysetPage<Row & { id: number }, T>(query, BY_ID, filter, (rows) => rows.map(map), (row) => [row.id]);
  }

  async createModel(m: Omit<Model, 'version' | 'createdAt'>): Promise<Model> {
    const version = await this.insertNextVersion('models', m.name, {
      framework: m.framework,
      code_uri: m.codeUri,
      entrypoint: m.entrypoint,
      default_hyperparameters: toJson(m.defaultHyperparameters),
      hyperparameter_schema: toJson(m.hyperparameterSchema),
      description: m.description,
    });
    return (await this.getModel(m.name, version))!;
  }

  async getModel(name: string, version?: number): Promise<Model | undefined> {
    const row = await this.getVersion<ModelRow>('models', name, version);
    return row && modelFromRow(row);
  }

  listModels(filter: { name?: string; limit: number; pageToken?: string }): Promise<Page<Model>> {
    return this.listVersions('models', filter, modelFromRow);
  }

  async createDataset(d: Omit<Dataset, 'version' | 'createdAt'>): Promise<Dataset> {
    const version = await this.insertNextVersion('datasets', d.name, {
      uri: d.uri,
      format: d.format,
      features: toJson(d.features),
      label: d.label,
      split: toJson(d.split),
      description: d.description,
    });
    return (await this.getDataset(d.name, version))!;
  }

  async getDataset(name: string, version?: number): Promise<Dataset | undefined> {
    const row = await this.getVersion<DatasetRow>('datasets', name, version);
    return row && datasetFromRow(row);
  }

  listDatasets(filter: { name?: string; limit: number; pageToken?: string }): Promise<Page<Dataset>> {
    return this.listVersions('datasets', filter, datasetFromRow);
  }

  async createWorkflow(name: string, description: string, definition: WorkflowDefinition): Promise<Workflow> {
    const version = await this.insertNextVersion('workflows', name, { spec: toJson(definition), description });
    return (await this.getWorkflow(name, version))!;
  }

  async getWorkflow(name: string, version?: number): Promise<Workflow | undefined> {
    const row = await this.getVersion<WorkflowRow>('workflows', name, version);
    return row && workflowFromRow(row);
  }

  listWorkflows(filter: { name?: string; limit: number; pageToken?: string }): Promise<Page<Workflow>> {
    return this.listVersions('workflows', filter, workflowFromRow);
  }

  /** Every workflow name with the time its first version was created, oldest first. */
  async workflowNames(limit: number): Promise<Array<{ name: string; createdAt: string }>> {
    const rows = (await this.db('workflows').select('name').min({ created_at: 'created_at' }).groupBy('name').orderBy('name').limit(limit)) as Array<{ name: string; created_at: string }>;
    return rows.map((r) => ({ name: r.name, createdAt: r.created_at }));
  }

  /** What the last load of an example definition recorded: the file's hash and the version it left latest. */
  async exampleLoad(kind: ExampleKind, name: string): Promise<{ contentHash: string; version: number | null } | undefined> {
    const row = (await this.db('example_loads').where({ kind, name }).first()) as { content_hash: string; version: number | null } | undefined;
    return row && { contentHash: row.content_hash, version: row.version === null ? null : Number(row.version) };
  }

  async recordExampleLoad(kind: ExampleKind, name: string, contentHash: string, version: number | null): Promise<void> {
    await this.db('example_loads')
      .insert({ kind, name, content_hash: contentHash, version, loaded_at: nowIso() })
      .onConflict(['kind', 'name'])
      .merge(['content_hash', 'version', 'loaded_at']);
  }

  async upsertFeature(f: Omit<Feature, 'createdAt' | 'updatedAt'>): Promise<{ feature: Feature; created: boolean }> {
    const now = nowIso();
    const row = { entity_key: f.entityKey, dtype: f.dtype, source: f.source, description: f.description, updated_at: now };
    const updated = await this.db('features').where({ name: f.name }).update(row);
    if (!updated) await this.db('features').insert({ ...row, name: f.name, created_at: now });
    return { feature: (await this.getFeature(f.name))!, created: !updated };
  }

  async getFeature(name: string): Promise<Feature | undefined> {
    const row = (await this.db('features').where({ name }).first()) as FeatureRow | undefined;
    return row && featureFromRow(row);
  }

  async listFeatures(filter: { limit: number; pageToken?: string }): Promise<Page<Feature>> {
    return keysetPage<FeatureRow, Feature>(this.db('features'), BY_NAME, filter, (rows) => rows.map(featureFromRow), (row) => [row.name]);
  }

  async deleteFeature(name: string): Promise<boolean> {
    return (await this.db('features').where({ name }).delete()) > 0;
  }

  async upsertRuntime(r: Omit<Runtime, 'createdAt' | 'updatedAt'>): Promise<{ runtime: Runtime; created: boolean }> {
    const now = nowIso();
    const row = {
      image: r.image,
      python_version: r.pythonVersion,
      ray_version: r.rayVersion,
      local_interpreter: r.localInterpreter,
      frameworks: toJson(r.frameworks),
      backends: toJson(r.backends),
      description: r.description,
      lock_file: r.lockFile,
      packages: toJson(r.packages),
      ray_runtime_env: r.rayRuntimeEnv ? toJson(r.rayRuntimeEnv) : null,
      updated_at: now,
    };
    const updated = await this.db('runtimes').where({ name: r.name }).update(row);
    if (!updated) await this.db('runtimes').insert({ ...row, name: r.name, created_at: now });
    return { runtime: (await this.getRuntime(r.name))!, created: !updated };
  }

  async getRuntime(name: string): Promise<Runtime | undefined> {
    const row = (await this.db('runtimes').where({ name }).first()) as RuntimeRow | undefined;
    return row && runtimeFromRow(row);
  }

  async listRuntimes(): Promise<Runtime[]> {
    return ((await this.db('runtimes').orderBy('name')) as RuntimeRow[]).map(runtimeFromRow);
  }

  async deleteRuntime(name: string): Promise<boolean> {
    return (await this.db('runtimes').where({ name }).delete()) > 0;
  }

  async featuresExist(names: string[]): Promise<string[]> {
    if (names.length === 0) return [];
    const rows = (await this.db('features').whereIn('name', names).select('name')) as Array<{ name: string }>;
    return rows.map((r) => r.name);
  }
}
