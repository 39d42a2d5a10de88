import type { Knex } from 'knex';
import type { Artifact, BackendName, HeldResources, Metric, Page, QueueCaps, ResolvedRunSpec, Run, RunBackendName, RunEvent, RunState, Transition, Trigger } from '../domain/index.ts';
import { DEFAULT_QUEUE, EXTERNAL_BACKEND, heldResources, IN_FLIGHT, isTerminal, keepsReason, queueHold, Transitions, type QueueHold } from '../domain/index.ts';
import { Conflict, NotFound, StateConflict, Unprocessable } from '../errors.ts';
import { dialectOf } from '../db/connect.ts';
import { BatchWriter, groupCommitOf, type GroupCommit } from '../db/groupCommit.ts';
import { managedRuns } from './managedRuns.ts';
import { groupsOf, latestOf, readPoints, writePoints, type LatestMetrics, type RunPoints } from './metricSeries.ts';
import { compareKeys, fromJson, keysetPage, nowIso, toJson, toNumber, type KeysetColumn } from './rows.ts';

interface RunRow {
  id: string;
  state: RunState;
  attempt: number;
  workflow_name: string | null;
  workflow_version: number | null;
  spec: string;
  backend: RunBackendName;
  backend_ref: string | null;
  trigger: Trigger;
  trigger_info: string | null;
  dag_id: string | null;
  idempotency_key: string | null;
  idempotency_generation: number | null;
  request_hash: string | null;
  reason: string | null;
  queue: string;
  priority: number;
  requested_gpu: number | string;
  requested_cpu: number | string;
  lease_owner: string | null;
  lease_expires_at: string | null;
  deadline_at: string | null;
  cancel_requested_at: string | null;
  cancel_requested_by_try: number | null;
  consumed_at: string | null;
  consumed_by_try: number | null;
  registered_model: string | null;
  registered_version: number | null;
  parent_run_id?: string | null;
  experiment_id?: string | null;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  finished_at: string | null;
  not_before: string | null;
}

const runFromRow = (r: RunRow): Run => withLazySpec(r.spec, {
  id: r.id,
  state: r.state,
  attempt: Number(r.attempt),
  workflowName: r.workflow_name,
  workflowVersion: r.workflow_version === null ? null : Number(r.workflow_version),
  backend: r.backend,
  backendRef: fromJson(r.backend_ref, null),
  trigger: r.trigger,
  triggerInfo: fromJson(r.trigger_info, null),
  idempotencyKey: r.idempotency_key,
  idempotencyGeneration: r.idempotency_generation === null ? null : Number(r.idempotency_generation),
  requestHash: r.request_hash,
  reason: r.reason,
  queue: r.queue,
  priority: Number(r.priority),
  leaseOwner: r.lease_owner,
  leaseExpiresAt: r.lease_expires_at,
  deadlineAt: r.deadline_at,
  cancelRequestedAt: r.cancel_requested_at,
  cancelRequestedByTry: r.cancel_requested_by_try === null || r.cancel_requested_by_try === undefined ? null : Number(r.cancel_requested_by_try),
  consumedAt: r.consumed_at ?? null,
  consumedByTry: r.consumed_by_try === null || r.consumed_by_try === undefined ? null : Number(r.consumed_by_try),
  registeredModel: r.registered_model,
  registeredVersion: r.registered_version === null ? null : Number(r.registered_version),
  parentRunId: r.parent_run_id ?? null,
  experimentId: r.experiment_id ?? null,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  notBefore: r.not_before ?? null,
});

/**
 * The spec snapshot is the largest column; most readers (the reconciler above all, every pass over
 * every in-flight run) never look at it, so it is parsed on first access only.
 */
function withLazySpec(specText: string, run: Omit<Run, 'spec'>): Run {
  let parsed: ResolvedRunSpec | undefined;
  return Object.defineProperty(run, 'spec', {
    enumerable: true,
    configurable: true,
    get: () => (parsed ??= fromJson<ResolvedRunSpec>(specText, {} as ResolvedRunSpec)),
    set: (value: ResolvedRunSpec) => {
      parsed = value;
    },
  }) as Run;
}

export interface NewRun {
  id: string;
  workflowName: string | null;
  workflowVersion: number | null;
  spec: ResolvedRunSpec;
  backend: RunBackendName;
  trigger: Trigger;
  triggerInfo: Record<string, unknown> | null;
  dagId: string | null;
  idempotencyKey: string | null;
  idempotencyGeneration: number | null;
  requestHash: string | null;
  /** The queue the run waits in (default "default") and its priority there (default 0). */
  queue?: string;
  priority?: number;
}

/** A queued run as the claim weighs it. */
interface Candidate extends HeldResources {
  id: string;
  queue: string;
}

/** Candidates are read in pages of the claim's limit plus this many, until enough are claimed. */
const CANDIDATE_SLACK = 20;
/** Pages of candidates one claim reads at most: runs further back wait for the next pass. */
const MAX_CANDIDATE_PAGES = 5;

/** A run created through the MLflow API: stored running, with its first tags; no backend executes it. */
export interface NewExternalRun extends Omit<NewRun, 'backend' | 'dagId' | 'idempotencyKey' | 'idempotencyGeneration' | 'requestHash'> {
  parentRunId: string | null;
  experimentId: string;
  startedAt: string;
  tags: Array<{ key: string; value: string }>;
}

/** How deep MLflow runs may nest under one Griffin run: deeper chains are refused, not walked. */
export const MAX_NESTING = 10;

/** Fields a transition may set alongside the state. */
export interface TransitionPatch {
  backendRef?: Record<string, unknown> | null;
  leaseOwner?: string | null;
  leaseExpiresAt?: string | null;
  deadlineAt?: string | null;
  cancelRequestedAt?: string | null;
  cancelRequestedByTry?: number | null;
  startedAt?: string | null;
  attempt?: number;
  notBefore?: string | null;
}

/** The columns a TransitionPatch sets; fields left undefined are not touched. */
function patchColumns(patch: TransitionPatch): Record<string, unknown> {
  const columns: Record<string, unknown> = {};
  if (patch.backendRef !== undefined) columns.backend_ref = patch.backendRef === null ? null : toJson(patch.backendRef);
  if (patch.leaseOwner !== undefined) columns.lease_owner = patch.leaseOwner;
  if (patch.leaseExpiresAt !== undefined) columns.lease_expires_at = patch.leaseExpiresAt;
  if (patch.deadlineAt !== undefined) columns.deadline_at = patch.deadlineAt;
  if (patch.cancelRequestedAt !== undefined) columns.cancel_requested_at = patch.cancelRequestedAt;
  if (patch.cancelRequestedByTry !== undefined) columns.cancel_requested_by_try = patch.cancelRequestedByTry;
  if (patch.startedAt !== undefined) columns.started_at = patch.startedAt;
  if (patch.attempt !== undefined) columns.attempt = patch.attempt;
  if (patch.notBefore !== undefined) columns.not_before = patch.notBefore;
  return columns;
}

export interface RunFilter {
  state?: RunState;
  /** A workflow's name, or null for runs of inline specs. */
  workflow?: string | null;
  /**
   * An MLflow experiment's runs: those created in it through the MLflow API, and the runs whose
   * experiment follows from their workflow (`workflow`; null: inline runs, the Default experiment).
   */
  experiment?: { id: string; workflow?: string | null };
  trigger?: Trigger;
  dagId?: string;
  idempotencyKey?: string;
  /** The runs nested in this run. */
  parentRunId?: string;
  limit: number;
  pageToken?: string;
}

const NEWEST_FIRST: readonly KeysetColumn[] = [
  { column: 'created_at', order: 'desc', kind: 'text' },
  { column: 'id', order: 'desc', kind: 'text' },
];

/** The row of a run just submitted: queued, first attempt, nothing launched yet. */
function queuedRow(run: NewRun, now: string): RunRow {
  const held = heldResources(run.backend, run.spec.resources ?? {});
  return {
    id: run.id,
    state: 'queued',
    queue: run.queue ?? DEFAULT_QUEUE,
    priority: run.priority ?? 0,
    requested_gpu: held.gpu,
    requested_cpu: held.cpu,
    not_before: null,
    parent_run_id: null,
    experiment_id: null,
    attempt: 1,
    workflow_name: run.workflowName,
    workflow_version: run.workflowVersion,
    spec: toJson(run.spec),
    backend: run.backend,
    backend_ref: null,
    trigger: run.trigger,
    trigger_info: run.triggerInfo ? toJson(run.triggerInfo) : null,
    dag_id: run.dagId,
    idempotency_key: run.idempotencyKey,
    idempotency_generation: run.idempotencyGeneration,
    request_hash: run.requestHash,
    reason: null,
    lease_owner: null,
    lease_expires_at: null,
    deadline_at: null,
    cancel_requested_at: null,
    cancel_requested_by_try: null,
    consumed_at: null,
    consumed_by_try: null,
    registered_model: null,
    registered_version: null,
    created_at: now,
    updated_at: now,
    started_at: null,
    finished_at: null,
  };
}

/** The columns a submission writes; the others keep their defaults (null). */
const SUBMITTED_COLUMNS = ['id', 'state', 'queue', 'priority', 'requested_gpu', 'requested_cpu', 'attempt', 'workflow_name', 'workflow_version', 'spec', 'backend', 'trigger', 'trigger_info', 'dag_id', 'idempotency_key', 'idempotency_generation', 'request_hash', 'created_at', 'updated_at'] as const;

/** Queued runs and their first events, one statement per table. */
async function insertQueued(trx: Knex.Transaction, rows: RunRow[]): Promise<void> {
  // A share lock on each queue's row: a concurrent delete of the queue waits for these runs, and
  // then sees them and refuses (QueueStore.delete); a claim's lock does not conflict with it.
  const queues = [...new Set(rows.map((row) => row.queue))];
  const read = trx('queues').whereIn('name', queues).select('name');
  if (dialectOf(trx) === 'postgres') read.forKeyShare();
  const found = new Set(((await read) as Array<{ name: string }>).map((row) => row.name));
  const missing = queues.find((name) => !found.has(name));
  // In a batch this fails the whole statement; BatchWriter then writes each run alone, so the
  // error reaches only the submission that named the queue.
  if (missing) throw new Unprocessable(`queue "${missing}" does not exist`, 'queue');
  await trx('runs').insert(rows.map((row) => Object.fromEntries(SUBMITTED_COLUMNS.map((column) => [column, row[column]]))));
  await trx('run_events').insert(rows.map((r) => ({ run_id: r.id, from_state: null, to_state: 'queued', reason: 'submitted', at: r.created_at })));
}

/** A logging call's points; with a batch id, stored at most once per run. */
interface MetricBatch extends RunPoints {
  batchId?: string;
}

/** What became of a metric batch: stored, a repeat of a batch id stored before, or refused (its run is missing or has ended). */
type BatchOutcome = 'stored' | 'repeat' | { refused: RunState | 'missing' };

/**
 * Stores metric batches of live runs, each unless its batch id was stored before (or earlier in
 * this list). The runs' states are read in the writing transaction, once for all the batches, not
 * once per request before it: on SQLite nothing can end a run between that read and the commit.
 * A batch id is recorded with ON CONFLICT DO NOTHING ... RETURNING, so finding the repeats costs
 * no statement of its own; on PostgreSQL a concurrent transaction recording the same id makes
 * this one wait for it and then see a repeat. One statement per table for all of them.
 */
async function insertMetricBatches(trx: Knex.Transaction, batches: MetricBatch[]): Promise<BatchOutcome[]> {
  const states = new Map<string, RunState>();
  for (const group of groupsOf([...new Set(batches.map((batch) => batch.runId))])) {
    const rows = (await trx('runs').whereIn('id', group).select('id', 'state')) as Array<{ id: string; state: RunState }>;
    for (const row of rows) states.set(row.id, row.state);
  }
  const outcomes = batches.map((batch): BatchOutcome => {
    const state = states.get(batch.runId);
    if (state === undefined) return { refused: 'missing' };
    return isTerminal(state) ? { refused: state } : 'stored';
  });
  const firsts = new Map<string, { batch: MetricBatch; i: number }>();
  batches.forEach((batch, i) => {
    if (batch.batchId === undefined || outcomes[i] !== 'stored') return;
    const id = `${batch.runId}\0${batch.batchId}`;
    if (firsts.has(id)) outcomes[i] = 'repeat';
    else firsts.set(id, { batch, i });
  });
  if (firsts.size) {
    const now = nowIso();
    const recorded = new Set<string>();
    for (const group of groupsOf([...firsts.values()])) {
      const rows = (await trx('run_metric_batches')
        .insert(group.map(({ batch }) => ({ run_id: batch.runId, batch_id: batch.batchId!, points: batch.metrics.length, created_at: now })))
        .onConflict(['run_id', 'batch_id'])
        .ignore()
        .returning(['run_id', 'batch_id'])) as Array<{ run_id: string; batch_id: string }>;
      for (const row of rows) recorded.add(`${row.run_id}\0${row.batch_id}`);
    }
    for (const [id, { i }] of firsts) if (!recorded.has(id)) outcomes[i] = 'repeat';
  }
  await writePoints(trx, batches.filter((_, i) => outcomes[i] === 'stored'));
  return outcomes;
}

export class RunStore {
  private readonly isPostgres: boolean;
  private readonly submissions: BatchWriter<RunRow>;
  private readonly commits: GroupCommit;
  private readonly metricBatches: BatchWriter<MetricBatch, BatchOutcome>;

  constructor(private readonly db: Knex) {
    this.isPostgres = dialectOf(db) === 'postgres';
    this.submissions = new BatchWriter(db, { inTransaction: insertQueued });
    this.metricBatches = new BatchWriter(db, { inTransaction: insertMetricBatches });
    this.commits = groupCommitOf(db);
  }

  /** Stores a queued run and its first event in one transaction, and reads it back. Unique violations propagate. */
  async insert(run: NewRun): Promise<Run> {
    const row = queuedRow(run, nowIso());
    await this.db.transaction((trx) => insertQueued(trx, [row]));
    return (await this.get(run.id))!;
  }

  /**
   * What a submission stores: the same rows as `insert`, committed together with concurrent
   * submissions (one commit for all; see BatchWriter), and answered from the rows
   * written rather than read back. Resolves only once its commit has returned; a unique violation
   * is this run's alone and propagates to its caller.
   */
  async insertSubmitted(run: NewRun): Promise<Run> {
    const row = queuedRow(run, nowIso());
    await this.submissions.write(row);
    return runFromRow(row);
  }

  /** Stores a run the MLflow API created, already running, with its first event and tags, in one transaction. */
  async insertExternal(run: NewExternalRun): Promise<Run> {
    const now = nowIso();
    await this.db.transaction(async (trx) => {
      await trx('runs').insert({
        id: run.id,
        state: 'running',
        attempt: 1,
        workflow_name: run.workflowName,
        workflow_version: run.workflowVersion,
        spec: toJson(run.spec),
        backend: EXTERNAL_BACKEND,
        trigger: run.trigger,
        trigger_info: run.triggerInfo ? toJson(run.triggerInfo) : null,
        parent_run_id: run.parentRunId,
        experiment_id: run.experimentId,
        created_at: now,
        updated_at: now,
        started_at: run.startedAt,
      });
      await trx('run_events').insert({ run_id: run.id, from_state: null, to_state: 'running', reason: run.parentRunId ? `created through the MLflow API, nested in run ${run.parentRunId}` : 'created through the MLflow API', at: now });
      if (run.tags.length) await trx('run_tags').insert(run.tags.map((t) => ({ run_id: run.id, key: t.key, value: t.value })));
    });
    return (await this.get(run.id))!;
  }

  /**
   * Whether `runId` is nested (at any depth up to MAX_NESTING) in `ancestorId`: a run token writes
   * to the runs its process created under its own run. One indexed read per level.
   */
  async isNestedIn(runId: string, ancestorId: string): Promise<boolean> {
    let current = runId;
    for (let depth = 0; depth < MAX_NESTING; depth += 1) {
      const row = (await this.db('runs').where({ id: current }).first('parent_run_id')) as { parent_run_id: string | null } | undefined;
      const parent = row?.parent_run_id;
      if (!parent) return false;
      if (parent === ancestorId) return true;
      current = parent;
    }
    return false;
  }

  /** How many runs `runId` is nested in (0: a top-level run). */
  async nestingDepth(runId: string): Promise<number> {
    let current: string | null = runId;
    let depth = 0;
    while (current && depth <= MAX_NESTING) {
      const row = (await this.db('runs').where({ id: current }).first('parent_run_id')) as { parent_run_id: string | null } | undefined;
      current = row?.parent_run_id ?? null;
      if (current) depth += 1;
    }
    return depth;
  }

  async get(id: string): Promise<Run | undefined> {
    const row = (await this.db('runs').where({ id }).first()) as RunRow | undefined;
    return row && runFromRow(row);
  }

  /** The newest run submitted under an idempotency key (the highest generation). */
  async latestByIdempotencyKey(key: string): Promise<Run | undefined> {
    const row = (await this.db('runs')
      .where({ idempotency_key: key })
      .orderBy('idempotency_generation', 'desc')
      .first()) as RunRow | undefined;
    return row && runFromRow(row);
  }

  async list(filter: RunFilter): Promise<Page<Run>> {
    const query = this.db('runs');
    if (filter.state) query.where({ state: filter.state });
    if (filter.workflow) query.where({ workflow_name: filter.workflow });
    if (filter.workflow === null) query.whereNull('workflow_name');
    if (filter.experiment) {
      const { id, workflow } = filter.experiment;
      query.where((q) => {
        q.where({ experiment_id: id });
        if (workflow !== undefined) {
          q.orWhere((derived) => {
            derived.whereNull('experiment_id');
            if (workflow === null) derived.whereNull('workflow_name');
            else derived.where({ workflow_name: workflow });
          });
        }
      });
    }
    if (filter.trigger) query.where({ trigger: filter.trigger });
    if (filter.dagId) query.where({ dag_id: filter.dagId });
    if (filter.idempotencyKey) query.where({ idempotency_key: filter.idempotencyKey });
    if (filter.parentRunId) query.where({ parent_run_id: filter.parentRunId });
    return keysetPage<RunRow, Run>(query, NEWEST_FIRST, filter, (rows) => rows.map(runFromRow), (row) => [row.created_at, row.id]);
  }

  /**
   * Makes one lifecycle move (domain/lifecycle.ts) with one conditional UPDATE and records the
   * event in the same transaction. Zero rows changed means another actor moved it first: a
   * StateConflict naming the state it is really in, never a silent overwrite. With `guard.attempt`,
   * only that attempt of the run is moved.
   */
  async transition(id: string, move: Transition, reason: string | null, patch: TransitionPatch = {}, guard: { attempt?: number } = {}): Promise<Run> {
    const now = nowIso();
    const changed = await this.db.transaction(async (trx) => {
      // Lock the row on PostgreSQL so the event records the state the update really replaced.
      const read = trx('runs').where({ id }).select('state').first();
      if (this.isPostgres) read.forUpdate();
      const actual = (await read) as { state: RunState } | undefined;
      const update: Record<string, unknown> = { state: move.to, updated_at: now };
      if (reason !== null && keepsReason(move)) update.reason = reason;
      if (isTerminal(move.to)) {
        update.finished_at = now;
        update.lease_owner = null;
        update.lease_expires_at = null;
      }
      Object.assign(update, patchColumns(patch));
      const target = trx('runs').where({ id }).whereIn('state', move.from as RunState[]);
      // A state a run returns to (queued, on a retry) is no proof it is the same attempt.
      if (guard.attempt !== undefined) target.where({ attempt: guard.attempt });
      const count = await target.update(update);
      if (count === 0) return { ok: false as const, actual: actual?.state };
      await trx('run_events').insert({ run_id: id, from_state: actual?.state ?? null, to_state: move.to, reason, at: now });
      if (isTerminal(move.to)) await this.endOpenChildren(trx, id, move.to, now);
      return { ok: true as const };
    });
    if (!changed.ok) throw new StateConflict(id, move.from, changed.actual);
    return (await this.get(id))!;
  }

  /**
   * The MLflow runs nested in a run that has just ended and that are still open: nothing can end
   * them now (their writer's token died with the parent), so they fail, at every depth, in the
   * ending run's transaction.
   */
  private async endOpenChildren(trx: Knex.Transaction, parentId: string, parentState: RunState, now: string): Promise<void> {
    const move = Transitions.parentEnded;
    let parents = [parentId];
    for (let depth = 0; depth < MAX_NESTING && parents.length; depth += 1) {
      const open = (await trx('runs').whereIn('parent_run_id', parents).where({ backend: EXTERNAL_BACKEND }).whereIn('state', move.from as RunState[]).select('id', 'parent_run_id')) as Array<{ id: string; parent_run_id: string }>;
      if (!open.length) return;
      const reason = (parent: string) => `the run it was nested in (${parent}) ended (${parent === parentId ? parentState : 'failed'}) while it was still running`;
      await trx('runs')
        .whereIn('id', open.map((r) => r.id))
        .whereIn('state', move.from as RunState[])
        .update({ state: move.to, updated_at: now, finished_at: now, reason: 'the run it was nested in ended while it was still running' });
      await trx('run_events').insert(open.map((r) => ({ run_id: r.id, from_state: 'running', to_state: move.to, reason: reason(r.parent_run_id), at: now })));
      parents = open.map((r) => r.id);
    }
  }

  /** Updates non-state fields of a run that is still in one of `states` (no event). */
  async patchWhileIn(id: string, states: readonly RunState[], patch: TransitionPatch): Promise<boolean> {
    const update: Record<string, unknown> = { updated_at: nowIso(), ...patchColumns(patch) };
    return (await this.db('runs').where({ id }).whereIn('state', states as RunState[]).update(update)) > 0;
  }

  /**
   * Records that an Airflow try finished with the run. The first consumer wins and later calls
   * change nothing, so a replayed request cannot move the record to another try.
   */
  async markConsumed(id: string, tryNumber: number | null): Promise<void> {
    await this.db('runs').where({ id }).whereNull('consumed_at').update({ consumed_at: nowIso(), consumed_by_try: tryNumber });
  }

  /**
   * Extends a launch lease that is still the one `expectedExpiry` names: a takeover writes another
   * expiry, so a launch that lost its lease finds out at its next heartbeat.
   */
  async extendLease(id: string, expectedExpiry: string, leaseExpiresAt: string): Promise<boolean> {
    const count = await this.db('runs')
      .where({ id, state: 'launching', lease_expires_at: expectedExpiry })
      .update({ lease_expires_at: leaseExpiresAt, updated_at: nowIso() });
    return count > 0;
  }

  /** Takes over an expired launch lease; the old expiry in the WHERE makes only one taker win. */
  async takeOverLease(id: string, expiredAt: string, owner: string, leaseExpiresAt: string): Promise<boolean> {
    const count = await this.db('runs')
      .where({ id, state: 'launching', lease_expires_at: expiredAt })
      .update({ lease_owner: owner, lease_expires_at: leaseExpiresAt, updated_at: nowIso() });
    return count > 0;
  }

  /**
   * Claims up to `limit` queued runs for this instance: queued -> launching with a lease, highest
   * priority first, then oldest, and only as far as each run's queue has room (queues.ts).
   *
   * Caps hold across replicas: on PostgreSQL the claim first locks every queue's row, so claims
   * run one after another and each counts the in-flight runs the one before it committed; the
   * candidate rows are locked with FOR UPDATE SKIP LOCKED besides. SQLite has a single writer, so
   * its transactions are serial already. Why a run stays queued is written to its reason after the
   * claim commits, and only where the reason changes.
   */
  async claimQueued(owner: string, leaseExpiresAt: string, limit: number, backends?: readonly BackendName[]): Promise<Run[]> {
    if (limit <= 0) return [];
    // Most passes find nothing queued: answer that without a transaction or a lock.
    if (!(await this.queuedCandidates(this.db, backends).first('id'))) return [];
    const holds = new Map<string, QueueHold & { first: string }>();
    const claimedIds = await this.db.transaction(async (trx) => {
      const caps = await this.lockQueues(trx);
      const inFlight = await this.inFlightByQueue(trx);
      const now = nowIso();
      const won: string[] = [];
      const seen: string[] = [];
      for (let page = 0; page < MAX_CANDIDATE_PAGES && won.length < limit; page += 1) {
        const size = limit - won.length + CANDIDATE_SLACK;
        const query = this.queuedCandidates(trx, backends)
          .orderBy([{ column: 'priority', order: 'desc' }, { column: 'created_at' }, { column: 'id' }])
          .limit(size)
          .select('id', 'queue', 'requested_gpu', 'requested_cpu');
        if (seen.length) query.whereNotIn('id', seen);
        if (holds.size) query.whereNotIn('queue', [...holds.keys()]);
        if (this.isPostgres) query.forUpdate().skipLocked();
        const rows = (await query) as Array<Pick<RunRow, 'id' | 'queue' | 'requested_gpu' | 'requested_cpu'>>;
        for (const row of rows) {
          seen.push(row.id);
          if (won.length >= limit) break;
          const candidate: Candidate = { id: row.id, queue: row.queue, gpu: toNumber(row.requested_gpu), cpu: toNumber(row.requested_cpu) };
          if (holds.has(candidate.queue)) continue; // behind a run of its queue that does not fit
          const load = inFlight.get(candidate.queue) ?? { runs: 0, gpu: 0, cpu: 0 };
          const queue = caps.get(candidate.queue);
          const hold = queue && queueHold(queue, load, candidate);
          if (hold) {
            holds.set(candidate.queue, { ...hold, first: candidate.id });
            continue;
          }
          if (!(await this.claimOne(trx, candidate.id, owner, leaseExpiresAt, now))) continue;
          won.push(candidate.id);
          inFlight.set(candidate.queue, { runs: load.runs + 1, gpu: load.gpu + candidate.gpu, cpu: load.cpu + candidate.cpu });
        }
        if (rows.length < size) break;
      }
      return won;
    });
    await this.recordHolds(holds, backends);
    if (claimedIds.length === 0) return [];
    return ((await this.db('runs').whereIn('id', claimedIds)) as RunRow[]).map(runFromRow);
  }

  /** The runs a claim may take: queued, on one of `backends`. Every claim query starts here. */
  private queuedCandidates(db: Knex | Knex.Transaction, backends?: readonly BackendName[]): Knex.QueryBuilder {
    const query = db('runs').whereIn('state', Transitions.claimed.from as RunState[]);
    // A run queued for its next attempt waits out its retry backoff.
    query.where((q) => q.whereNull('not_before').orWhere('not_before', '<=', nowIso()));
    if (backends) query.whereIn('backend', backends as BackendName[]);
    return query;
  }

  /**
   * Every queue's caps, its row locked until the claim commits (PostgreSQL). NO KEY UPDATE
   * serializes claims with each other and with cap changes, but not with submissions, which only
   * take a key-share lock on their queue.
   */
  private async lockQueues(trx: Knex.Transaction): Promise<Map<string, QueueCaps>> {
    const query = trx('queues').orderBy('name').select('name', 'max_concurrent_runs', 'max_gpu', 'max_cpu');
    if (this.isPostgres) query.forNoKeyUpdate();
    const rows = (await query) as Array<{ name: string; max_concurrent_runs: number | null; max_gpu: number | null; max_cpu: number | string | null }>;
    const orNull = (v: unknown) => (v === null || v === undefined ? null : toNumber(v));
    return new Map(rows.map((r) => [r.name, { name: r.name, maxConcurrentRuns: orNull(r.max_concurrent_runs), resources: { gpu: orNull(r.max_gpu), cpu: orNull(r.max_cpu) } }]));
  }

  private async inFlightByQueue(trx: Knex.Transaction): Promise<Map<string, { runs: number } & HeldResources>> {
    const rows = (await managedRuns(trx)
      .whereIn('state', IN_FLIGHT as RunState[])
      .select('queue')
      .count({ n: '*' })
      .sum({ gpu: 'requested_gpu' })
      .sum({ cpu: 'requested_cpu' })
      .groupBy('queue')) as Array<{ queue: string; n: number | string; gpu: number | string | null; cpu: number | string | null }>;
    return new Map(rows.map((r) => [r.queue, { runs: toNumber(r.n), gpu: toNumber(r.gpu ?? 0), cpu: toNumber(r.cpu ?? 0) }]));
  }

  /** queued -> launching with a lease, and its event; false when another actor moved it first. */
  private async claimOne(trx: Knex.Transaction, id: string, owner: string, leaseExpiresAt: string, now: string): Promise<boolean> {
    const claimed = Transitions.claimed;
    const count = await trx('runs')
      .where({ id })
      .whereIn('state', claimed.from as RunState[])
      // The reason said what held the run in its queue; launched, nothing does.
      .update({ state: claimed.to, lease_owner: owner, lease_expires_at: leaseExpiresAt, reason: null, updated_at: now });
    if (count !== 1) return false;
    await trx('run_events').insert({ run_id: id, from_state: claimed.from[0], to_state: claimed.to, reason: `claimed by ${owner}`, at: now });
    return true;
  }

  /**
   * Says on every local run due to launch that it waits for a slot on this host, when none is
   * free: the claim is not even tried then, so the reason a queue's hold wrote earlier would stay
   * and blame the queue. Only rows whose reason differs are written (a host that stays full costs
   * one UPDATE that matches nothing); best effort, like the queue's reasons.
   */
  async noteWaitingForLocalSlot(reason: string): Promise<void> {
    try {
      await this.queuedCandidates(this.db, ['local'])
        .where((w) => w.whereNull('reason').orWhereNot('reason', reason))
        .update({ reason, updated_at: nowIso() });
    } catch {
      // The next pass writes it again.
    }
  }

  /**
   * Writes why runs stay queued: the first run a queue cannot take gets its own reason, the runs
   * behind it (on the claim's backends) the queue's. Each update touches only rows whose reason
   * differs, so a queue that stays full costs no writes. Outside the claim's transaction, so no
   * lock is held across queues; best effort, as the next pass writes the same again.
   */
  private async recordHolds(holds: Map<string, QueueHold & { first: string }>, backends?: readonly BackendName[]): Promise<void> {
    const now = nowIso();
    const differs = (q: Knex.QueryBuilder, reason: string) => q.where((w) => w.whereNull('reason').orWhereNot('reason', reason));
    try {
      for (const [queue, hold] of holds) {
        await differs(this.db('runs').where({ id: hold.first, state: 'queued' }), hold.reason).update({ reason: hold.reason, updated_at: now });
        await differs(this.queuedCandidates(this.db, backends).where({ queue }).whereNot('id', hold.first), hold.behind).update({ reason: hold.behind, updated_at: now });
      }
    } catch {
      // Whatever failed here (a deadlock with another replica's identical update, an outage), the
      // claims just committed must still be launched; the next pass writes the reasons again.
    }
  }

  /**
   * Runs the reconciler must look at: everything past queued and not yet terminal, in keyset pages
   * so that no number of in-flight runs is ever cut off or read in one piece.
   */
  async *inFlight(pageSize = 1000): AsyncGenerator<Run[]> {
    let after: { createdAt: string; id: string } | undefined;
    for (;;) {
      const query = managedRuns(this.db)
        .whereIn('state', IN_FLIGHT as RunState[])
        .orderBy([{ column: 'created_at' }, { column: 'id' }])
        .limit(pageSize);
      if (after) {
        const { createdAt, id } = after;
        query.where((q) => q.where('created_at', '>', createdAt).orWhere((q2) => q2.where('created_at', '=', createdAt).andWhere('id', '>', id)));
      }
      const rows = (await query) as RunRow[];
      if (rows.length === 0) return;
      yield rows.map(runFromRow);
      if (rows.length < pageSize) return;
      const last = rows[rows.length - 1];
      after = { createdAt: last.created_at, id: last.id };
    }
  }

  /**
   * The in-flight runs a reconciler pass between full sweeps must look at: those named by executor
   * events, those on backends that can only be polled, every launching or cancelling run, and
   * running runs past their deadline. Each part is a small indexed read.
   */
  async needingAttention(options: { runIds: string[]; polledBackends: readonly BackendName[]; now: string }): Promise<Run[]> {
    const inFlight = IN_FLIGHT as RunState[];
    const parts: Array<Promise<RunRow[]>> = [
      managedRuns(this.db).whereIn('state', ['launching', 'cancelling']),
      managedRuns(this.db).where({ state: 'running' }).where('deadline_at', '<', options.now),
    ];
    if (options.runIds.length) parts.push(managedRuns(this.db).whereIn('state', inFlight).whereIn('id', options.runIds));
    if (options.polledBackends.length) parts.push(this.db('runs').whereIn('state', inFlight).whereIn('backend', options.polledBackends as BackendName[]));
    const byId = new Map<string, RunRow>();
    for (const rows of await Promise.all(parts)) for (const row of rows) byId.set(row.id, row);
    return [...byId.values()].sort((a, b) => (a.created_at < b.created_at ? -1 : 1)).map(runFromRow);
  }

  /** All in-flight runs at once (tests and small tools; the reconciler pages with inFlight()). */
  async listInFlight(): Promise<Run[]> {
    const all: Run[] = [];
    for await (const page of this.inFlight()) all.push(...page);
    return all;
  }

  async countByState(): Promise<Record<string, number>> {
    const rows = (await this.db('runs').select('state', 'backend').count({ n: '*' }).groupBy('state', 'backend')) as Array<{ state: string; backend: string; n: number | string }>;
    const out: Record<string, number> = {};
    for (const row of rows) out[`${row.state}|${row.backend}`] = toNumber(row.n);
    return out;
  }

  async events(id: string): Promise<RunEvent[]> {
    const rows = (await this.db('run_events').where({ run_id: id }).orderBy('id')) as Array<{ from_state: RunState | null; to_state: RunState; reason: string | null; at: string }>;
    return rows.map((r) => ({ from: r.from_state, to: r.to_state, reason: r.reason, at: r.at }));
  }

  /**
   * Appends metric points to a run that has not ended: NotFound when there is no such run, Conflict
   * when it has ended. With a batch id, the batch and its points are stored in one transaction and
   * a batch already stored under that id is skipped: the answer is false and nothing is added.
   */
  async appendMetrics(runId: string, metrics: Metric[], batchId?: string): Promise<boolean> {
    // Concurrent batches (a run's reporters, MLflow clients, many runs at once) share statements
    // and a commit; the same batch delivered twice at once is a repeat (see insertMetricBatches).
    const outcome = await this.metricBatches.write({ runId, metrics, batchId });
    if (typeof outcome === 'object') {
      if (outcome.refused === 'missing') throw new NotFound(`run ${runId} does not exist`, 'id');
      throw new Conflict(`run ${runId} has ended (${outcome.refused}); it takes no more metrics`, 'id');
    }
    return outcome === 'stored';
  }

  async metrics(runId: string, key?: string): Promise<Metric[]> {
    return readPoints(this.db, runId, key);
  }

  /** The last value of each key of one run (see latestMetricsOf). */
  async latestMetrics(runId: string): Promise<Record<string, Omit<Metric, 'key'>>> {
    return (await this.latestMetricsOf([runId])).get(runId) ?? {};
  }

  /**
   * The last value of each key of each run: highest step, then the latest written, kept beside
   * the points as they are written, so a page of runs costs one row per key here.
   */
  async latestMetricsOf(runIds: string[]): Promise<Map<string, LatestMetrics>> {
    return latestOf(this.db, runIds);
  }

  async upsertArtifact(runId: string, artifact: Omit<Artifact, 'createdAt'>): Promise<Artifact> {
    const createdAt = nowIso();
    await this.db('run_artifacts')
      .insert({ run_id: runId, path: artifact.path, size: artifact.size, sha256: artifact.sha256, created_at: createdAt })
      .onConflict(['run_id', 'path'])
      .merge(['size', 'sha256', 'created_at']);
    return { ...artifact, createdAt };
  }

  async artifacts(runId: string): Promise<Artifact[]> {
    const rows = (await this.db('run_artifacts').where({ run_id: runId }).orderBy('path')) as Array<{ path: string; size: number | string; sha256: string; created_at: string }>;
    return rows.map((r) => ({ path: r.path, size: toNumber(r.size), sha256: r.sha256, createdAt: r.created_at }));
  }

  /** How far `reader` has copied the run's log; 0 when it never said. */
  async logCursor(runId: string, reader: string): Promise<number> {
    const row = (await this.db('run_log_cursors').where({ run_id: runId, reader }).first()) as { cursor: number | string } | undefined;
    return row ? toNumber(row.cursor) : 0;
  }

  /**
   * Records a reader's cursor; it only moves forward, so a late or replayed write from an older
   * copy of the reader cannot make the next one copy lines twice.
   */
  async advanceLogCursor(runId: string, reader: string, cursor: number): Promise<number> {
    const now = nowIso();
    // One upsert whose merge keeps the larger cursor: concurrent writers cannot move it back.
    await this.db('run_log_cursors')
      .insert({ run_id: runId, reader, cursor, updated_at: now })
      .onConflict(['run_id', 'reader'])
      .merge({
        cursor: this.db.raw('CASE WHEN excluded.cursor > run_log_cursors.cursor THEN excluded.cursor ELSE run_log_cursors.cursor END'),
        updated_at: now,
      });
    return this.logCursor(runId, reader);
  }

  /** Logged params, as the training process sent them (hyperparameters stay in the spec). */
  async params(runId: string): Promise<Record<string, string>> {
    return this.keyValues('run_params', runId);
  }

  async tags(runId: string): Promise<Record<string, string>> {
    return this.keyValues('run_tags', runId);
  }

  private async keyValues(table: 'run_params' | 'run_tags', runId: string): Promise<Record<string, string>> {
    const rows = (await this.db(table).where({ run_id: runId }).orderBy('key')) as Array<{ key: string; value: string }>;
    return Object.fromEntries(rows.map((r) => [r.key, r.value]));
  }

  /**
   * Params, tags and metric points in one transaction: all are stored or none. A param is written
   * once; logging it again with another value is refused (its key is returned and nothing is
   * stored), as MLflow does. A tag takes its latest value.
   */
  async logBatch(runId: string, batch: { params: Array<{ key: string; value: string }>; tags: Array<{ key: string; value: string }>; metrics: Metric[] }): Promise<{ changedParam?: { key: string; stored: string } }> {
    const refused = new Map<string, string>();
    try {
      await this.writeBatch(runId, batch, refused);
    } catch (error) {
      const [key, stored] = [...refused][0] ?? [];
      if (key !== undefined) return { changedParam: { key, stored: stored! } };
      throw error;
    }
    return {};
  }

  private async writeBatch(runId: string, batch: { params: Array<{ key: string; value: string }>; tags: Array<{ key: string; value: string }>; metrics: Metric[] }, refused: Map<string, string>): Promise<void> {
    await this.commits.run(async (trx) => {
      if (batch.params.length) {
        await trx('run_params').insert(batch.params.map((p) => ({ run_id: runId, key: p.key, value: p.value }))).onConflict(['run_id', 'key']).ignore();
        const stored = (await trx('run_params').where({ run_id: runId }).whereIn('key', batch.params.map((p) => p.key))) as Array<{ key: string; value: string }>;
        const byKey = new Map(stored.map((r) => [r.key, r.value]));
        const changed = batch.params.find((p) => byKey.get(p.key) !== p.value);
        if (changed) {
          refused.set(changed.key, byKey.get(changed.key) ?? '');
          throw new Error(`param ${changed.key} was logged before with another value`); // rolls the batch back
        }
      }
      if (batch.tags.length) {
        // One upsert for all tags; a key given twice keeps its last value (PostgreSQL refuses to update one row twice in a statement).
        // In key order, so that concurrent batches lock the same rows in the same order (no deadlock).
        const tags = [...new Map(batch.tags.map((t) => [t.key, t.value])).entries()].sort(([a], [b]) => compareKeys(a, b)).map(([key, value]) => ({ run_id: runId, key, value }));
        await trx('run_tags').insert(tags).onConflict(['run_id', 'key']).merge(['value']);
      }
      await writePoints(trx, [{ runId, metrics: batch.metrics }]);
    });
  }

  async deleteTag(runId: string, key: string): Promise<boolean> {
    return (await this.db('run_tags').where({ run_id: runId, key }).delete()) > 0;
  }

  async setRegisteredVersion(runId: string, model: string, version: number): Promise<void> {
    await this.db('runs').where({ id: runId }).update({ registered_model: model, registered_version: version, updated_at: nowIso() });
  }
}
