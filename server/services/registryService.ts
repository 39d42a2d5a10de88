import { timeContextOf, type LineageView, type ModelVersion, type Page, type Principal, type RegisteredModel, type RegistryChange, type RegistryChangeKind, type RegistryChangesView, type Run, type VersionView } from '../domain/index.ts';
import { NotFound, Unprocessable } from '../errors.ts';
import type { AliasMove, RegistryStore } from '../store/registryStore.ts';
import type { RunStore } from '../store/runStore.ts';
import type { CatalogStore } from '../store/catalogStore.ts';
import type { Logger } from '../logger.ts';
import { prepareBody, ReadCache, weighJson, type PreparedBody } from './readCache.ts';
import { RegistryCacheSync } from './registryCacheSync.ts';

/** How a change names who made it: the token's name, or the run whose token it was. */
export const actorOf = (principal: Principal): string => (principal.kind === 'user' ? `token:${principal.name}` : `run:${principal.runId}`);

/** What the service writes as the actor of its own changes (a workflow's `register` block). */
export const SERVICE_ACTOR = 'griffin';

/** Read-cache keys: a model's entries are one group, dropped together when this instance changes the model. */
const modelGroup = (name: string): string => `model\0${name}`;
const aliasKey = (name: string, alias: string): string => `alias\0${name}\0${alias}`;
const versionKey = (name: string, version: number): string => `version\0${name}\0${version}`;
const versionsPageKey = (f: VersionsFilter): string => `versions\0${f.name}\0${f.limit}\0${f.pageToken ?? ''}\0${f.runId ?? ''}`;

type VersionsFilter = { name: string; runId?: string; limit: number; pageToken?: string };

/**
 * Pages of versions kept at once, and their JSON's size in all: a page of 100 versions is about
 * 30 KB, so the bound (not the entry count) is what limits a registry of many busy models.
 */
const VERSION_PAGES = { maxEntries: 2_000, maxBytes: 32 * 1024 * 1024 };

/**
 * The longest a cached registry read is kept. Not what bounds staleness (the changes feed does,
 * see RegistryCacheSync): a backstop for a change that bypassed the feed, such as a hand edit of
 * the database.
 */
const ENTRY_MAX_AGE_MS = 10 * 60_000;

type Load = () => Promise<{ body: PreparedBody; keep: boolean }>;

/** The Model Registry's rules: versions from runs, idempotent on (model, run), movable aliases, lineage. */
export class RegistryService {
  /** Alias and version reads; a registry write on this instance drops its model's entries at once. */
  private readonly cache: ReadCache;
  /** Pages of a model's versions: the same invalidation as `cache`, bounded in bytes. */
  private readonly pages: ReadCache;
  /** Drops what other replicas changed; undefined when the read cache is off. */
  private readonly sync: RegistryCacheSync | undefined;

  constructor(
    private readonly registry: RegistryStore,
    private readonly runs: RunStore,
    private readonly catalog: CatalogStore,
    /** readCacheMs: how stale a cached read may be after another replica's change (0: no cache). */
    private readonly options: { publicUrl: string; readCacheMs?: number; logger?: Logger },
    /** A run's record changed (its registered version): cached views of it are dropped. */
    private readonly onRunChanged: (runId: string) => void = () => {},
  ) {
    const bound = options.readCacheMs ?? 0;
    const maxAge = bound > 0 ? Math.max(bound, ENTRY_MAX_AGE_MS) : 0;
    this.cache = new ReadCache(maxAge);
    this.pages = new ReadCache(maxAge, VERSION_PAGES.maxEntries, { maxWeight: VERSION_PAGES.maxBytes, weigh: weighJson });
    this.sync = bound > 0 ? new RegistryCacheSync(registry, bound, (model) => (model === undefined ? this.changedAll() : this.changed(model)), options.logger) : undefined;
  }

  /** `load`'s body, from `cache` while the sync with other replicas is within its bound. */
  private async cachedRead(cache: ReadCache, group: string, key: string, load: Load): Promise<PreparedBody> {
    const usable = this.sync !== undefined && (this.sync.current() || (await this.sync.settled()));
    if (!usable) return (await load()).body;
    return cache.through(group, key, load);
  }

  /**
   * The version an alias points at, prepared for the wire (cached; see RegistryCacheSync for staleness).
   * Its ETag is the version number ("3"): what If-Match takes for a compare-and-set move.
   */
  aliasBody(name: string, alias: string): Promise<PreparedBody> {
    return this.cachedRead(this.cache, modelGroup(name), aliasKey(name, alias), async () => {
      const version = this.view(await this.getAlias(name, alias));
      return { body: prepareBody(version, `"${version.version}"`), keep: true };
    });
  }

  versionBody(name: string, version: number): Promise<PreparedBody> {
    return this.cachedRead(this.cache, modelGroup(name), versionKey(name, version), async () => ({ body: prepareBody(this.view(await this.getVersion(name, version))), keep: true }));
  }

  /**
   * A page of a model's versions, newest first, prepared for the wire and cached like
   * versionBody: what a poller of a model's versions asks again and again. An empty page asks
   * whether the model exists (a 404, never cached), not every read of a list.
   */
  versionsPageBody(filter: VersionsFilter): Promise<PreparedBody> {
    return this.cachedRead(this.pages, modelGroup(filter.name), versionsPageKey(filter), async () => {
      const page = await this.registry.listVersions(filter);
      if (page.items.length === 0) await this.getModel(filter.name);
      return { body: prepareBody({ items: page.items.map((v) => this.view(v)), nextPageToken: page.nextPageToken }), keep: true };
    });
  }

  /** aliasBody's and versionBody's answers when the read cache holds them; no query. */
  cachedAliasBody(name: string, alias: string): PreparedBody | undefined {
    return this.sync?.current() ? this.cache.get(aliasKey(name, alias)) : undefined;
  }

  cachedVersionBody(name: string, version: number): PreparedBody | undefined {
    return this.sync?.current() ? this.cache.get(versionKey(name, version)) : undefined;
  }

  private changed(model: string): void {
    this.cache.deleteGroup(modelGroup(model));
    this.pages.deleteGroup(modelGroup(model));
  }

  private changedAll(): void {
    this.cache.deleteAll();
    this.pages.deleteAll();
  }

  /** Built field by field, not by spreading: a page of 100 versions is built on every poll of it. */
  view(v: ModelVersion): VersionView {
    return {
      name: v.name,
      version: v.version,
      artifactUri: v.artifactUri,
      runId: v.runId,
      metrics: v.metrics,
      tags: v.tags,
      description: v.description,
      aliases: v.aliases,
      createdAt: v.createdAt,
      url: `${this.options.publicUrl}/registry/${encodeURIComponent(v.name)}/versions/${v.version}`,
    };
  }

  createModel(name: string, description: string, tags: Record<string, string>): Promise<RegisteredModel> {
    return this.registry.createModel(name, description, tags);
  }

  async getModel(name: string): Promise<RegisteredModel & { aliases: Record<string, number>; latestVersion: number | null }> {
    const model = await this.registry.getModel(name);
    if (!model) throw new NotFound(`registered model "${name}" does not exist`, 'name');
    const [aliases, latestVersion] = await Promise.all([this.registry.aliases(model.id), this.registry.latestVersionNumber(model.id)]);
    return { ...model, aliases, latestVersion };
  }

  listModels(filter: { limit: number; pageToken?: string }): Promise<Page<RegisteredModel>> {
    return this.registry.listModels(filter);
  }

  /**
   * Registers a version from a run (artifact and metrics taken from the run) or from an artifact
   * URI. A run registered twice under one model returns its first version (created: false).
   */
  async registerVersion(
    name: string,
    input: { runId?: string; artifactUri?: string; aliases: string[]; tags: Record<string, string>; description: string },
    options: { runFinishedOk?: boolean; actor: string },
  ): Promise<{ version: ModelVersion; created: boolean }> {
    let run: Run | undefined;
    if (input.runId) {
      run = await this.runs.get(input.runId);
      if (!run) throw new NotFound(`run ${input.runId} does not exist`, 'runId');
      if (run.state !== 'succeeded' && !options.runFinishedOk) throw new Unprocessable(`run ${run.id} is ${run.state}; only a succeeded run can be registered`, 'runId');
      const undelivered = run.backendRef?.undeliveredReports;
      if (typeof undelivered === 'string') throw new Unprocessable(`run ${run.id} cannot be registered: ${undelivered}`, 'runId');
    }
    const metrics = run ? Object.fromEntries(Object.entries(await this.runs.latestMetrics(run.id)).map(([k, m]) => [k, m.value])) : {};
    const model = await this.registry.ensureModelRef(name);
    const result = await this.registry.addVersion(model, {
      artifactUri: input.artifactUri ?? `${this.options.publicUrl}/api/v1/runs/${run!.id}/artifacts/`,
      runId: run?.id ?? null,
      metrics,
      tags: input.tags,
      description: input.description,
      actor: options.actor,
    });
    const reason = `registered version ${result.version.version}${run ? ` from run ${run.id}` : ''} with this alias`;
    try {
      for (const alias of input.aliases) await this.registry.setAlias(model, alias, result.version, { actor: options.actor, reason });
    } finally {
      this.changed(name);
    }
    if (run) {
      await this.runs.setRegisteredVersion(run.id, name, result.version.version);
      this.onRunChanged(run.id);
    }
    const version = input.aliases.length ? (await this.registry.getVersion(name, result.version.version))! : result.version;
    return { version, created: result.created };
  }

  /**
   * Called once the backend reports success and before the run is marked succeeded, so that
   * anyone who sees the run succeeded also sees its model version.
   */
  async registerFromRun(run: Run): Promise<ModelVersion | undefined> {
    if (!run.spec.register) return undefined;
    const { version } = await this.registerVersion(
      run.spec.register.modelName,
      {
        runId: run.id,
        aliases: run.spec.register.aliases,
        tags: { ...run.spec.register.tags, 'griffin.run': run.id },
        description: run.spec.workflow ? `trained by workflow ${run.spec.workflow.name}@${run.spec.workflow.version}` : 'trained from an inline spec',
      },
      { runFinishedOk: true, actor: SERVICE_ACTOR },
    );
    return version;
  }

  async getVersion(name: string, version: number): Promise<ModelVersion> {
    const found = await this.registry.getVersion(name, version);
    if (!found) throw new NotFound(`model "${name}" has no version ${version}`, 'version');
    return found;
  }

  /** Merges tags into a version and replaces its description; other tags are kept. */
  async updateVersion(name: string, versionNumber: number, change: { tags?: Record<string, string>; description?: string }, actor: string): Promise<ModelVersion> {
    const updated = await this.registry.updateVersion(name, versionNumber, change, actor);
    this.changed(name);
    if (!updated) throw new NotFound(`model "${name}" has no version ${versionNumber}`, 'version');
    return (await this.registry.getVersion(name, versionNumber))!;
  }

  listVersions(filter: { name: string; runId?: string; limit: number; pageToken?: string }): Promise<Page<ModelVersion>> {
    return this.registry.listVersions(filter);
  }

  /** Moves an alias; with `move.expectedVersion` only if it still points there (409 otherwise). */
  async setAlias(name: string, alias: string, versionNumber: number, move: AliasMove): Promise<ModelVersion> {
    const model = await this.getModel(name);
    const version = await this.registry.getVersion(name, versionNumber);
    if (!version) throw new NotFound(`model "${name}" has no version ${versionNumber}`, 'version');
    try {
      await this.registry.setAlias(model, alias, version, move);
    } finally {
      // Also after a lost compare-and-set: what this replica cached is known to be stale.
      this.changed(name);
    }
    return (await this.registry.getVersion(name, versionNumber))!;
  }

  async getAlias(name: string, alias: string): Promise<ModelVersion> {
    const model = await this.getModel(name);
    const version = model.aliases[alias];
    if (version === undefined) throw new NotFound(`model "${name}" has no alias "${alias}"`, 'alias');
    return (await this.registry.getVersion(name, version))!;
  }

  async deleteAlias(name: string, alias: string, move: AliasMove): Promise<void> {
    const model = await this.getModel(name);
    const deleted = await this.registry.deleteAlias(model, alias, move);
    this.changed(name);
    if (!deleted) throw new NotFound(`model "${name}" has no alias "${alias}"`, 'alias');
  }

  /** Every move of an alias, newest first; an alias that was removed keeps its history. */
  async aliasHistory(name: string, alias: string, page: { limit: number; pageToken?: string }): Promise<Page<RegistryChange>> {
    const model = await this.getModel(name);
    return this.registry.aliasHistory({ modelId: model.id, alias, ...page });
  }

  /**
   * Registry changes after a cursor, oldest first. `cursor` is where the next call continues
   * (the last change returned, else `after`); `head` is the newest change overall, where a reader
   * that wants only what happens from now on starts.
   */
  async changes(filter: { after: number; model?: string; alias?: string; kinds?: RegistryChangeKind[]; limit: number }): Promise<RegistryChangesView> {
    let modelId: number | undefined;
    if (filter.model !== undefined) modelId = (await this.getModel(filter.model)).id;
    const [page, head] = await Promise.all([this.registry.changesAfter({ ...filter, modelId }), this.registry.headCursor()]);
    const cursor = page.items.length ? page.items[page.items.length - 1].id : filter.after;
    return { items: page.items, cursor, hasMore: page.hasMore, head: Math.max(head, cursor) };
  }

  /** Where a version came from: its run, the workflow, model, dataset and features, and the trigger. */
  async lineage(name: string, versionNumber: number): Promise<LineageView> {
    const version = await this.getVersion(name, versionNumber);
    const run = version.runId ? await this.runs.get(version.runId) : undefined;
    if (!run) return { modelVersion: this.view(version), run: null, workflow: null, model: null, dataset: null, features: [], trigger: null, timeContext: null, hyperparameters: null };
    const dataset = await this.catalog.getDataset(run.spec.dataset.name, run.spec.dataset.version);
    const features = await Promise.all((dataset?.features ?? []).map(async (f) => (await this.catalog.getFeature(f)) ?? { name: f, missing: true as const }));
    return {
      modelVersion: this.view(version),
      run: { id: run.id, state: run.state, attempt: run.attempt, backend: run.backend, startedAt: run.startedAt, finishedAt: run.finishedAt, url: `${this.options.publicUrl}/runs/${run.id}` },
      workflow: run.spec.workflow,
      model: { name: run.spec.model.name, version: run.spec.model.version, framework: run.spec.model.framework },
      dataset: { name: run.spec.dataset.name, version: run.spec.dataset.version, uri: run.spec.dataset.uri },
      features,
      trigger: { type: run.trigger, ...(run.triggerInfo ?? {}) },
      timeContext: timeContextOf(run),
      hyperparameters: run.spec.hyperparameters,
    };
  }
}
