import type { Knex } from 'knex';
import type { ModelVersion, Page, RegisteredModel, RegistryChange, RegistryChangeKind } from '../domain/index.ts';
import { Conflict } from '../errors.ts';
import { dialectOf, isUniqueViolation } from '../db/connect.ts';
import { BatchWriter } from '../db/groupCommit.ts';
import { BY_NAME, fromJson, keysetPage, nowIso, toJson, type KeysetColumn } from './rows.ts';

const NEWEST_CHANGE_FIRST: readonly KeysetColumn[] = [{ column: 'c.id', order: 'desc', kind: 'int' }];

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

/** What a page of one model's versions reads (the model's id and name are known). */
const PAGE_COLUMNS = ['v.id', 'v.version', 'v.artifact_uri', 'v.run_id', 'v.metrics', 'v.tags', 'v.description', 'v.created_at'];

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
  /** Who registers it, for the changes feed. */
  actor: string;
}

/** How an alias is to move: who moves it, why, and (compare-and-set) where it must be now. */
export interface AliasMove {
  actor: string;
  reason: string;
  /** The version the alias must point at now; null: it must be unset; undefined: no condition. */
  expectedVersion?: number | null;
}

interface ChangeRow {
  id: number;
  model_id: number;
  name: string;
  kind: RegistryChangeKind;
  alias: string | null;
  from_version: number | null;
  to_version: number | null;
  actor: string;
  reason: string;
  created_at: string;
}

const nullableNumber = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

const changeFromRow = (r: ChangeRow): RegistryChange => ({
  id: Number(r.id),
  model: r.name,
  kind: r.kind,
  alias: r.alias,
  fromVersion: nullableNumber(r.from_version),
  toVersion: nullableNumber(r.to_version),
  actor: r.actor,
  reason: r.reason,
  at: r.created_at,
});

/*
 * The changes feed is read by cursor (`id > after`). On PostgreSQL a sequence hands out ids in
 * the order transactions *start* inserting, not the order they commit, so a reader could pass an
 * id whose transaction commits later and miss it for ever. Every writer of a change takes this
 * transaction-scoped advisory lock just before its insert, which is the last statement of its
 * transaction (a registration's change is inserted by the version's trigger, which takes it too):
 * ids are then handed out in commit order. Registry writes are rare (a few a minute),
 * so serialising them costs nothing that matters. SQLite serialises all writers already.
 */
const CHANGE_LOG_LOCK = 0x67726966; // "grif"
const MODEL_IDS_MAX = 10_000;

/** A registration waiting to be written, its JSON already serialised. */
interface VersionToWrite {
  model: ModelRef;
  v: NewModelVersion;
  metrics: string;
  tags: string;
}

interface WrittenVersion {
  id: number;
  version: number;
  createdAt: string;
}

/**
 * Writes registrations together, as one multi-row insert of the versions, each numbered after its
 * model's committed versions and the ones before it here. The database's trigger (migration
 * 20261205010000) writes each version's "version_registered" change and its model's updated_at
 * within that statement. On SQLite the statement is the whole write: atomic by itself, one round
 * trip to the one connection and one fsync. On PostgreSQL the models' rows are locked first, in id
 * order, so concurrent registrations of a model queue and each reads the number the one before it
 * committed.
 */
async function insertVersions(db: Knex, items: VersionToWrite[]): Promise<WrittenVersion[]> {
  if (dialectOf(db) !== 'postgres') return insertNumbered(db, items);
  return db.transaction(async (trx) => {
    const modelIds = [...new Set(items.map((item) => item.model.id))].sort((x, y) => x - y);
    await trx('registered_models').whereIn('id', modelIds).orderBy('id').select('id').forUpdate();
    return insertNumbered(trx, items);
  });
}

async function insertNumbered(db: Knex, items: VersionToWrite[]): Promise<WrittenVersion[]> {
  const createdAt = nowIso();
  // Each version is max + k for the k-th registration of its model here: the subquery reads the
  // versions committed before this statement (SQLite and PostgreSQL alike evaluate the SELECT
  // before inserting any of its rows), so numbering costs no statement of its own.
  const seen = new Map<number, number>();
  const numbered = items.map((item) => {
    const offset = (seen.get(item.model.id) ?? 0) + 1;
    seen.set(item.model.id, offset);
    return { item, offset };
  });
  const inserted = (await db('model_versions')
    .insert(
      numbered.map(({ item: { model, v, metrics, tags }, offset }) => ({
        model_id: model.id,
        version: db.raw('(select coalesce(max(version), 0) from model_versions where model_id = ?) + ?', [model.id, offset]),
        artifact_uri: v.artifactUri,
        run_id: v.runId,
        metrics,
        tags,
        description: v.description,
        registered_by: v.actor.slice(0, 300),
        created_at: createdAt,
      })),
    )
    .returning(['id', 'model_id', 'version'])) as Array<{ id: number | string; model_id: number | string; version: number | string }>;
  // RETURNING's row order is not promised: a model's k-th registration here is the model's k-th
  // lowest version returned, and its id is that row's.
  const idOf = new Map(inserted.map((row) => [`${row.model_id}:${row.version}`, Number(row.id)]));
  const lowest = new Map<number, number>();
  for (const row of inserted) lowest.set(Number(row.model_id), Math.min(lowest.get(Number(row.model_id)) ?? Infinity, Number(row.version)));
  return numbered.map(({ item, offset }) => {
    const version = lowest.get(item.model.id)! + offset - 1;
    return { id: idOf.get(`${item.model.id}:${version}`)!, version, createdAt };
  });
}

type ChangeToWrite = { modelId: number; kind: RegistryChangeKind; alias: string | null; fromVersion: number | null; toVersion: number | null; actor: string; reason: string };

/** Appends changes to the feed; the last statement of its transaction (see CHANGE_LOG_LOCK). */
async function appendChanges(trx: Knex.Transaction, changes: ChangeToWrite[]): Promise<void> {
  if (dialectOf(trx) === 'postgres') {
    // The models' rows before the change log's lock, in the order a registration takes them (its
    // FOR UPDATE of the model, then the trigger's advisory lock). The insert below takes these
    // KEY SHARE locks anyway, but after the advisory lock: an alias move holding the log's lock
    // while a registration of the model held its row was a deadlock (40P01, a 503 after 1 s).
    const modelIds = [...new Set(changes.map((c) => c.modelId))].sort((x, y) => x - y);
    await trx('registered_models').whereIn('id', modelIds).orderBy('id').select('id').forKeyShare();
    await trx.raw('select pg_advisory_xact_lock(?)', [CHANGE_LOG_LOCK]);
  }
  const at = nowIso();
  await trx('registry_changes').insert(
    changes.map((c) => ({ model_id: c.modelId, kind: c.kind, alias: c.alias, from_version: c.fromVersion, to_version: c.toVersion, actor: c.actor.slice(0, 300), reason: c.reason, created_at: at })),
  );
}

/** A version edit's line in the changes feed: which tags were set, whether the description was. */
function editReason(change: { tags?: Record<string, string>; description?: string }): string {
  const parts: string[] = [];
  const keys = Object.keys(change.tags ?? {});
  if (keys.length) parts.push(`set tag${keys.length > 1 ? 's' : ''} ${keys.slice(0, 20).join(', ')}${keys.length > 20 ? ` and ${keys.length - 20} more` : ''}`);
  if (change.description !== undefined) parts.push('replaced the description');
  return parts.join('; ');
}

/** What writes to a model need of it. */
export type ModelRef = Pick<RegisteredModel, 'id' | 'name'>;

/** The Model Registry: registered models, their immutable versions and movable aliases. */
export class RegistryStore {
  private readonly versionWrites: BatchWriter<VersionToWrite, WrittenVersion>;
  /**
   * Model ids by name, for registrations. Models are never renamed or deleted, so an id read
   * once stays right for the life of the process; bounded by dropping all when full.
   */
  private readonly modelIds = new Map<string, number>();

  constructor(private readonly db: Knex) {
    this.versionWrites = new BatchWriter(db, { atomic: insertVersions });
  }

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

  /** The id and name of a model, creating it when absent: what registering a version needs. */
  async ensureModelRef(name: string): Promise<ModelRef> {
    const id = this.modelIds.get(name);
    if (id !== undefined) return { id, name };
    const model = await this.ensureModel(name);
    this.rememberModelId(name, model.id);
    return { id: model.id, name };
  }

  /** A model's id, undefined when there is no such model (not remembered: it may be created later). */
  private async modelIdOf(name: string): Promise<number | undefined> {
    const known = this.modelIds.get(name);
    if (known !== undefined) return known;
    const row = (await this.db('registered_models').where({ name }).first('id')) as { id: number | string } | undefined;
    if (row === undefined) return undefined;
    this.rememberModelId(name, Number(row.id));
    return Number(row.id);
  }

  private rememberModelId(name: string, id: number): void {
    if (this.modelIds.size >= MODEL_IDS_MAX) this.modelIds.clear();
    this.modelIds.set(name, id);
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

  /**
   * The versions of `rows` with their aliases. `ofModel`: all rows are that model's (a page of
   * its versions), so its aliases are one range of the (model_id, alias) key, and the name is
   * not read per row.
   */
  private async withAliases(rows: VersionRow[], ofModel?: { id: number; name: string }): Promise<ModelVersion[]> {
    if (rows.length === 0) return [];
    const scope = ofModel ? this.db('model_aliases').where({ model_id: ofModel.id }) : this.db('model_aliases').whereIn('version_id', rows.map((r) => r.id));
    const aliasRows = (await scope.select('alias', 'version_id').orderBy('alias')) as Array<{ alias: string; version_id: number }>;
    const aliasesOf = new Map<number, string[]>();
    for (const a of aliasRows) {
      const id = Number(a.version_id);
      const list = aliasesOf.get(id);
      if (list) list.push(a.alias);
      else aliasesOf.set(id, [a.alias]);
    }
    return rows.map((r) => ({
      id: Number(r.id),
      name: ofModel?.name ?? r.name,
      version: Number(r.version),
      artifactUri: r.artifact_uri,
      runId: r.run_id,
      metrics: fromJson(r.metrics, {}),
      tags: fromJson(r.tags, {}),
      description: r.description,
      aliases: aliasesOf.get(Number(r.id)) ?? [],
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

  /**
   * A model's versions, newest first. The model's id comes from the same map registration uses
   * (ids never change), so the page is one index range of model_versions, without a join.
   */
  async listVersions(filter: { name: string; runId?: string; limit: number; pageToken?: string }): Promise<Page<ModelVersion>> {
    const modelId = await this.modelIdOf(filter.name);
    if (modelId === undefined) return { items: [], nextPageToken: null };
    // The columns a view takes, not v.*: turning rows into objects is most of a page's cost, and
    // each column read is a value per row (a 101-row page: 1.1 -> 0.8 ms).
    const query = this.db('model_versions as v').where({ 'v.model_id': modelId }).select(PAGE_COLUMNS);
    if (filter.runId) query.where({ 'v.run_id': filter.runId });
    const ofModel = { id: modelId, name: filter.name };
    return keysetPage<VersionRow, ModelVersion>(query, [{ column: 'v.version', order: 'desc', kind: 'int' }], filter, (rows) => this.withAliases(rows, ofModel), (_row, item) => [item.version]);
  }

  /**
   * Adds version max+1. The unique (model, run) index makes registering one run twice find the
   * first version instead of creating a second; the unique (model, version) index settles races
   * with other processes. Concurrent registrations are written together (see insertVersions).
   */
  async addVersion(model: ModelRef, v: NewModelVersion): Promise<{ version: ModelVersion; created: boolean }> {
    for (let tries = 0; tries < 5; tries += 1) {
      if (v.runId) {
        const existing = await this.versionForRun(model.id, v.runId);
        if (existing) return { version: existing, created: false };
      }
      const metrics = toJson(v.metrics);
      const tags = toJson(v.tags);
      try {
        const { id, version, createdAt } = await this.versionWrites.write({ model, v, metrics, tags });
        // A new version has no alias yet; what was written is what a read-back would return.
        const added: ModelVersion = { id, name: model.name, version, artifactUri: v.artifactUri, runId: v.runId, metrics: fromJson(metrics, {}), tags: fromJson(tags, {}), description: v.description, aliases: [], createdAt };
        return { version: added, created: true };
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
      }
    }
    throw new Conflict(`could not add a version to "${model.name}": too many concurrent registrations`, 'name');
  }

  /**
   * Merges tags into a version (a given key replaces that key only) and replaces its description
   * when one is given, in one transaction so two concurrent merges both land, and records the
   * edit in the changes feed (which other replicas' read caches follow). Returns false when the
   * version does not exist.
   */
  async updateVersion(name: string, version: number, change: { tags?: Record<string, string>; description?: string }, actor: string): Promise<boolean> {
    return this.db.transaction(async (trx) => {
      const read = trx('model_versions as v').join('registered_models as m', 'm.id', 'v.model_id').where({ 'm.name': name, 'v.version': version }).select('v.id', 'v.model_id', 'v.tags').first();
      if (dialectOf(this.db) === 'postgres') read.forUpdate();
      const row = (await read) as { id: number; model_id: number; tags: string } | undefined;
      if (!row) return false;
      const update: Record<string, unknown> = {};
      if (change.tags && Object.keys(change.tags).length) update.tags = toJson({ ...fromJson<Record<string, string>>(row.tags, {}), ...change.tags });
      if (change.description !== undefined) update.description = change.description;
      if (Object.keys(update).length === 0) return true;
      await trx('model_versions').where({ id: row.id }).update(update);
      await appendChanges(trx, [{ modelId: Number(row.model_id), kind: 'version_updated', alias: null, fromVersion: null, toVersion: version, actor, reason: editReason(change) }]);
      return true;
    });
  }

  /**
   * Points an alias at a version (an alias names one version per model, so setting it moves it)
   * and records the move, in one transaction. With `expectedVersion` the move is a
   * compare-and-set: the alias row is locked (PostgreSQL) or the writer is alone (SQLite), so of
   * two moves expecting the same version exactly one succeeds and the other gets a Conflict.
   * Setting an alias to the version it holds already is not a move and records nothing.
   */
  async setAlias(model: ModelRef, alias: string, target: { id: number; version: number }, move: AliasMove): Promise<{ fromVersion: number | null; moved: boolean }> {
    try {
      return await this.db.transaction(async (trx) => {
        const current = await this.lockedAliasVersion(trx, model.id, alias);
        this.checkExpected(model.name, alias, current, move.expectedVersion);
        if (current === target.version) return { fromVersion: current, moved: false };
        if (current === null) await trx('model_aliases').insert({ model_id: model.id, alias, version_id: target.id, updated_at: nowIso() });
        else await trx('model_aliases').where({ model_id: model.id, alias }).update({ version_id: target.id, updated_at: nowIso() });
        await appendChanges(trx, [{ modelId: model.id, kind: 'alias_moved', alias, fromVersion: current, toVersion: target.version, actor: move.actor, reason: move.reason }]);
        return { fromVersion: current, moved: true };
      });
    } catch (error) {
      // Two first-time sets of one alias: the primary key lets one insert win.
      if (!isUniqueViolation(error)) throw error;
      if (move.expectedVersion === undefined) return this.setAlias(model, alias, target, move);
      throw new Conflict(`alias "${alias}" of model "${model.name}" was set by someone else meanwhile; expected it unset. Read it again and retry if the move still holds`, 'expectedVersion');
    }
  }

  /** Removes an alias and records it; false when the alias does not exist. */
  async deleteAlias(model: RegisteredModel, alias: string, move: AliasMove): Promise<boolean> {
    return this.db.transaction(async (trx) => {
      const current = await this.lockedAliasVersion(trx, model.id, alias);
      if (current === null) return false;
      this.checkExpected(model.name, alias, current, move.expectedVersion);
      await trx('model_aliases').where({ model_id: model.id, alias }).delete();
      await appendChanges(trx, [{ modelId: model.id, kind: 'alias_removed', alias, fromVersion: current, toVersion: null, actor: move.actor, reason: move.reason }]);
      return true;
    });
  }

  /** The version number an alias holds, its row locked until the transaction ends (PostgreSQL). */
  private async lockedAliasVersion(trx: Knex.Transaction, modelId: number, alias: string): Promise<number | null> {
    // Lock the alias row alone, without a join, so a concurrent move re-reads the row it changed.
    const read = trx('model_aliases').where({ model_id: modelId, alias }).select('version_id').first();
    if (dialectOf(this.db) === 'postgres') read.forUpdate();
    const row = (await read) as { version_id: number } | undefined;
    if (!row) return null;
    const version = (await trx('model_versions').where({ id: row.version_id }).select('version').first()) as { version: number };
    return Number(version.version);
  }

  private checkExpected(model: string, alias: string, current: number | null, expected: number | null | undefined): void {
    if (expected === undefined || expected === current) return;
    const now = current === null ? 'it is unset' : `it points at version ${current}`;
    const wanted = expected === null ? 'unset' : `at version ${expected}`;
    throw new Conflict(`alias "${alias}" of model "${model}" moved meanwhile: expected it ${wanted}, but ${now}. Read it again and retry if the move still holds`, 'expectedVersion');
  }

  /** Moves of one alias, newest first. */
  async aliasHistory(filter: { modelId: number; alias: string; limit: number; pageToken?: string }): Promise<Page<RegistryChange>> {
    const query = this.changeQuery().where({ 'c.model_id': filter.modelId, 'c.alias': filter.alias }).whereIn('c.kind', ['alias_moved', 'alias_removed']);
    return keysetPage<ChangeRow, RegistryChange>(query, NEWEST_CHANGE_FIRST, filter, (rows) => rows.map(changeFromRow), (_row, change) => [change.id]);
  }

  /** Changes after a cursor, oldest first: one index range scan, bounded by `limit`. */
  async changesAfter(filter: { after: number; modelId?: number; alias?: string; kinds?: RegistryChangeKind[]; limit: number }): Promise<{ items: RegistryChange[]; hasMore: boolean }> {
    const query = this.changeQuery().where('c.id', '>', filter.after).orderBy('c.id', 'asc').limit(filter.limit + 1);
    if (filter.modelId !== undefined) query.where('c.model_id', filter.modelId);
    if (filter.alias !== undefined) query.where('c.alias', filter.alias);
    if (filter.kinds?.length) query.whereIn('c.kind', filter.kinds);
    const rows = (await query) as ChangeRow[];
    return { items: rows.slice(0, filter.limit).map(changeFromRow), hasMore: rows.length > filter.limit };
  }

  /** The newest change's id (0 when there is none): where a reader that wants only new changes starts. */
  async headCursor(): Promise<number> {
    const row = await this.db('registry_changes').max({ n: 'id' }).first();
    return Number(row?.n ?? 0);
  }

  private changeQuery() {
    return this.db('registry_changes as c').join('registered_models as m', 'm.id', 'c.model_id').select('c.*', 'm.name as name');
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
