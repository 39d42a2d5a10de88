import type { Knex } from 'knex';
import type { ModelVersion, Page, RegisteredModel } from '../domain/index.ts';
import { Conflict } from '../errors.ts';
import { dialectOf, isUniqueViolation } from '../db/connect.ts';
import { BY_NAME, fromJson, keysetPage, nowIso, toJson } from './rows.ts';

interface ModelRow {
  id: number;
  name: string;
  description: string;
  tags: string;
  created_at: string;
  updated_at: string;
}

interface VersionRow {
  id: number;
  model_id: number;
  name: string;
  version: number;
  artifact_uri: string;
  run_id: string | null;
  metrics: string;
  tags: string;
  description: string;
  created_at: string;
}

const modelFromRow = (r: ModelRow): RegisteredModel => ({
  id: Number(r.id),
  name: r.name,
  description: r.description,
  tags: fromJson(r.tags, {}),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export interface NewModelVersion {
  artifactUri: string;
  runId: string | null;
  metrics: Record<string, number>;
  tags: Record<string, string>;
  description: string;
}

/** The Model Registry: registered models, their immutable versions and movable aliases. */
export class RegistryStore {
  constructor(private readonly db: Knex) {}

  async getModel(name: string): Promise<RegisteredModel | undefined> {
    const row = (await this.db('registered_models').where({ name }).first()) as ModelRow | undefined;
    return row && modelFromRow(row);
  }

  async createModel(name: string, description: string, tags: Record<string, string>): Promise<RegisteredModel> {
    const now = nowIso();
    try {
      await this.db('registered_models').insert({ name, description, tags: toJson(tags), created_at: now, updated_at: now });
    } catch (error) {
      if (isUniqueViolation(error)) throw new Conflict(`registered model "${name}" already exists`, 'name');
      throw error;
    }
    return (await this.getModel(name))!;
  }

  /** Returns the model, creating it when absent (registration from a run names its model). */
  async ensureModel(name: string): Promise<RegisteredModel> {
    const existing = await this.getModel(name);
    if (existing) return existing;
    try {
      return await this.createModel(name, '', {});
    } catch (error) {
      if (error instanceof Conflict) return (await this.getModel(name))!;
      throw error;
    }
  }

  async listModels(filter: { limit: number; pageToken?: string }): Promise<Page<RegisteredModel>> {
    return keysetPage<ModelRow, RegisteredModel>(this.db('registered_models'), BY_NAME, filter, (rows) => rows.map(modelFromRow), (row) => [row.name]);
  }

  private versionQuery() {
    return this.db('model_versions as v')
      .join('registered_models as m', 'm.id', 'v.model_id')
      .select('v.*', 'm.name as name');
  }

  private async withAliases(rows: VersionRow[]): Promise<ModelVersion[]> {
    if (rows.length === 0) return [];
    const aliasRows = (await this.db('model_aliases')
      .whereIn('version_id', rows.map((r) => r.id))
      .select('alias', 'version_id')
      .orderBy('alias')) as Array<{ alias: string; version_id: number }>;
    return rows.map((r) => ({
      id: Number(r.id),
      name: r.name,
      version: Number(r.version),
      artifactUri: r.artifact_uri,
      runId: r.run_id,
      metrics: fromJson(r.metrics, {}),
      tags: fromJson(r.tags, {}),
      description: r.description,
      aliases: aliasRows.filter((a) => Number(a.version_id) === Number(r.id)).map((a) => a.alias),
      createdAt: r.created_at,
    }));
  }

  async getVersion(name: string, version: number): Promise<ModelVersion | undefined> {
    const row = (await this.versionQuery().where({ 'm.name': name, 'v.version': version }).first()) as VersionRow | undefined;
    return row && (await this.withAliases([row]))[0];
  }

  async versionForRun(modelId: number, runId: string): Promise<ModelVersion | undefined> {
    const row = (await this.versionQuery().where({ 'v.model_id': modelId, 'v.run_id': runId }).first()) as VersionRow | undefined;
    return row && (await this.withAliases([row]))[0];
  }

  async listVersions(filter: { name: string; runId?: string; limit: number; pageToken?: string }): Promise<Page<ModelVersion>> {
    const query = this.versionQuery().where({ 'm.name': filter.name });
    if (filter.runId) query.where({ 'v.run_id': filter.runId });
    return keysetPage<VersionRow, ModelVersion>(query, [{ column: 'v.version', order: 'desc', kind: 'int' }], filter, (rows) => this.withAliases(rows), (_row, item) => [item.version]);
  }

  /**
   * Adds version max+1. The unique (model, run) index makes registering one run twice find the
   * first version instead of creating a second; the unique (model, version) index settles races.
   */
  async addVersion(model: RegisteredModel, v: NewModelVersion): Promise<{ version: ModelVersion; created: boolean }> {
    for (let tries = 0; tries < 5; tries += 1) {
      if (v.runId) {
        const existing = await this.versionForRun(model.id, v.runId);
        if (existing) return { version: existing, created: false };
      }
      const latest = await this.db('model_versions').where({ model_id: model.id }).max({ n: 'version' }).first();
      const number = Number(latest?.n ?? 0) + 1;
      try {
        await this.db('model_versions').insert({
          model_id: model.id,
          version: number,
          artifact_uri: v.artifactUri,
          run_id: v.runId,
          metrics: toJson(v.metrics),
          tags: toJson(v.tags),
          description: v.description,
          created_at: nowIso(),
        });
        await this.db('registered_models').where({ id: model.id }).update({ updated_at: nowIso() });
        return { version: (await this.getVersion(model.name, number))!, created: true };
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
      }
    }
    throw new Conflict(`could not add a version to "${model.name}": too many concurrent registrations`, 'name');
  }

  /**
   * Merges tags into a version (a given key replaces that key only) and replaces its description
   * when one is given, in one transaction so two concurrent merges both land. Returns false when
   * the version does not exist.
   */
  async updateVersion(name: string, version: number, change: { tags?: Record<string, string>; description?: string }): Promise<boolean> {
    return this.db.transaction(async (trx) => {
      const read = trx('model_versions as v').join('registered_models as m', 'm.id', 'v.model_id').where({ 'm.name': name, 'v.version': version }).select('v.id', 'v.tags').first();
      if (dialectOf(this.db) === 'postgres') read.forUpdate();
      const row = (await read) as { id: number; tags: string } | undefined;
      if (!row) return false;
      const update: Record<string, unknown> = {};
      if (change.tags) update.tags = toJson({ ...fromJson<Record<string, string>>(row.tags, {}), ...change.tags });
      if (change.description !== undefined) update.description = change.description;
      await trx('model_versions').where({ id: row.id }).update(update);
      return true;
    });
  }

  /** Points an alias at a version; an alias names one version per model, so setting it moves it. */
  async setAlias(modelId: number, alias: string, versionId: number): Promise<void> {
    await this.db('model_aliases')
      .insert({ model_id: modelId, alias, version_id: versionId, updated_at: nowIso() })
      .onConflict(['model_id', 'alias'])
      .merge(['version_id', 'updated_at']);
  }

  async deleteAlias(modelId: number, alias: string): Promise<boolean> {
    return (await this.db('model_aliases').where({ model_id: modelId, alias }).delete()) > 0;
  }

  async aliases(modelId: number): Promise<Record<string, number>> {
    const rows = (await this.db('model_aliases as a')
      .join('model_versions as v', 'v.id', 'a.version_id')
      .where({ 'a.model_id': modelId })
      .select('a.alias', 'v.version')
      .orderBy('a.alias')) as Array<{ alias: string; version: number }>;
    return Object.fromEntries(rows.map((r) => [r.alias, Number(r.version)]));
  }

  async latestVersionNumber(modelId: number): Promise<number | null> {
    const row = await this.db('model_versions').where({ model_id: modelId }).max({ n: 'version' }).first();
    return row?.n === null || row?.n === undefined ? null : Number(row.n);
  }
}
