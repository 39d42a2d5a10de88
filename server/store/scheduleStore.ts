import type { Knex } from 'knex';
import type { CatchUpPolicy, FiringKind, FiringOutcome, OverlapPolicy, Page, RunState, Schedule, ScheduleDefinition, ScheduleFiring } from '../domain/index.ts';
import { ACTIVE } from '../domain/index.ts';
import { Conflict } from '../errors.ts';
import { isUniqueViolation } from '../db/connect.ts';
import { BY_NAME, fromJson, keysetPage, nowIso, toJson, toNumber } from './rows.ts';

export type { CatchUpPolicy, FiringKind, FiringOutcome, OverlapPolicy, Schedule, ScheduleDefinition, ScheduleFiring } from '../domain/index.ts';

interface ScheduleRow {
  id: string;
  name: string;
  description: string;
  cron: string;
  timezone: string;
  workflow: string;
  overrides: string;
  enabled: boolean | number;
  overlap_policy: OverlapPolicy;
  catch_up_policy: CatchUpPolicy;
  max_concurrent_runs: number | null;
  last_fired_at: string | null;
  enabled_at: string | null;
  first_enabled_at: string | null;
  version: number | string;
  created_at: string;
  updated_at: string;
}

interface FiringRow {
  id: number | string;
  schedule_id: string;
  scheduled_at: string;
  kind: FiringKind;
  outcome: FiringOutcome;
  reason: string | null;
  run_id: string | null;
  run_state?: RunState | null;
  claimed_by: string;
  claimed_at: string;
  created_at: string;
  resolved_at: string | null;
}

const scheduleFromRow = (r: ScheduleRow): Schedule => ({
  id: r.id,
  name: r.name,
  description: r.description,
  cron: r.cron,
  timezone: r.timezone,
  workflow: r.workflow,
  overrides: fromJson(r.overrides, {}),
  enabled: Boolean(r.enabled),
  overlapPolicy: r.overlap_policy,
  catchUpPolicy: r.catch_up_policy,
  maxConcurrentRuns: r.max_concurrent_runs === null ? null : Number(r.max_concurrent_runs),
  lastFiredAt: r.last_fired_at,
  enabledAt: r.enabled_at,
  firstEnabledAt: r.first_enabled_at,
  version: toNumber(r.version),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const firingFromRow = (r: FiringRow): ScheduleFiring => ({
  id: toNumber(r.id),
  scheduleId: r.schedule_id,
  scheduledAt: r.scheduled_at,
  kind: r.kind,
  outcome: r.outcome,
  reason: r.reason,
  runId: r.run_id,
  runState: r.run_state ?? null,
  claimedBy: r.claimed_by,
  claimedAt: r.claimed_at,
  createdAt: r.created_at,
  resolvedAt: r.resolved_at,
});

function definitionColumns(d: Partial<ScheduleDefinition>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (d.name !== undefined) out.name = d.name;
  if (d.description !== undefined) out.description = d.description;
  if (d.cron !== undefined) out.cron = d.cron;
  if (d.timezone !== undefined) out.timezone = d.timezone;
  if (d.workflow !== undefined) out.workflow = d.workflow;
  if (d.overrides !== undefined) out.overrides = toJson(d.overrides);
  if (d.enabled !== undefined) out.enabled = d.enabled;
  if (d.overlapPolicy !== undefined) out.overlap_policy = d.overlapPolicy;
  if (d.catchUpPolicy !== undefined) out.catch_up_policy = d.catchUpPolicy;
  if (d.maxConcurrentRuns !== undefined) out.max_concurrent_runs = d.maxConcurrentRuns;
  return out;
}

const nameTaken = (name: string | undefined) => new Conflict(`a schedule named "${name}" already exists`, 'name');

const FIRING_COLUMNS = [
  'f.id',
  'f.schedule_id',
  'f.scheduled_at',
  'f.kind',
  'f.outcome',
  'f.reason',
  'f.run_id',
  'f.claimed_by',
  'f.claimed_at',
  'f.created_at',
  'f.resolved_at',
  'r.state as run_state',
];

/** Schedules and their firings: the only place that touches these tables. */
export class ScheduleStore {
  constructor(private readonly db: Knex) {}

  async insert(id: string, d: ScheduleDefinition): Promise<Schedule> {
    const now = nowIso();
    try {
      await this.db('schedules').insert({
        id,
        ...definitionColumns(d),
        enabled_at: d.enabled ? now : null,
        first_enabled_at: d.enabled ? now : null,
        version: 1,
        created_at: now,
        updated_at: now,
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw nameTaken(d.name);
      throw error;
    }
    return (await this.get(id))!;
  }

  async get(id: string): Promise<Schedule | undefined> {
    const row = (await this.db('schedules').where({ id }).first()) as ScheduleRow | undefined;
    return row && scheduleFromRow(row);
  }

  async getByName(name: string): Promise<Schedule | undefined> {
    const row = (await this.db('schedules').where({ name }).first()) as ScheduleRow | undefined;
    return row && scheduleFromRow(row);
  }

  async list(filter: { enabled?: boolean; limit: number; pageToken?: string }): Promise<Page<Schedule>> {
    const query = this.db('schedules');
    if (filter.enabled !== undefined) query.where({ enabled: filter.enabled });
    return keysetPage<ScheduleRow, Schedule>(query, BY_NAME, filter, (rows) => rows.map(scheduleFromRow), (row) => [row.name]);
  }

  /** Every schedule, for the scheduler to (re)build its timers from. */
  async listAll(): Promise<Schedule[]> {
    return ((await this.db('schedules').orderBy('id')) as ScheduleRow[]).map(scheduleFromRow);
  }

  /**
   * A cheap fingerprint of all definitions: any create, edit, pause, resume or delete changes it
   * (firings do not touch these columns), so replicas poll it instead of reloading every schedule.
   */
  async signature(): Promise<string> {
    const row = (await this.db('schedules').count({ n: '*' }).max({ latest: 'updated_at' }).sum({ versions: 'version' }).first()) as
      | { n: number | string; latest: string | null; versions: number | string | null }
      | undefined;
    return `${toNumber(row?.n ?? 0)}|${row?.latest ?? ''}|${toNumber(row?.versions ?? 0)}`;
  }

  /**
   * Applies an edit only if nobody changed the schedule since `expectedVersion` was read.
   * Turning a schedule on stamps enabled_at, which tells every replica to catch up.
   */
  async update(id: string, expectedVersion: number, patch: Partial<ScheduleDefinition>, wasEnabled: boolean): Promise<Schedule | undefined> {
    const now = nowIso();
    const columns: Record<string, unknown> = { ...definitionColumns(patch), version: expectedVersion + 1, updated_at: now };
    if (patch.enabled === true && !wasEnabled) {
      columns.enabled_at = now;
      columns.first_enabled_at = this.db.raw('COALESCE(first_enabled_at, ?)', [now]);
    }
    let count: number;
    try {
      count = await this.db('schedules').where({ id, version: expectedVersion }).update(columns);
    } catch (error) {
      if (isUniqueViolation(error)) throw nameTaken(patch.name);
      throw error;
    }
    return count === 1 ? this.get(id) : undefined;
  }

  /** Pause or resume: a conditional update, so of two racing requests only one changes anything. */
  async setEnabled(id: string, enabled: boolean): Promise<boolean> {
    const now = nowIso();
    const columns: Record<string, unknown> = { enabled, version: this.db.raw('version + 1'), updated_at: now };
    if (enabled) {
      columns.enabled_at = now;
      columns.first_enabled_at = this.db.raw('COALESCE(first_enabled_at, ?)', [now]);
    }
    return (await this.db('schedules').where({ id, enabled: !enabled }).update(columns)) === 1;
  }

  async delete(id: string): Promise<boolean> {
    return (await this.db('schedules').where({ id }).delete()) === 1;
  }

  /**
   * Claims one firing: the (schedule, scheduled time) row is inserted, and its unique index lets
   * exactly one claimer win, on any number of replicas. In the same transaction the schedule row
   * is updated conditionally (still enabled, still the cron and time zone the tick was computed
   * from), so a paused or re-timed schedule stops firing at once everywhere, and the catch-up
   * anchor moves forward. Returns undefined when the firing is not this caller's to make.
   */
  async claimFiring(claim: {
    scheduleId: string;
    scheduledAt: string;
    kind: FiringKind;
    claimedBy: string;
    /** Cron firings only: the definition the tick was computed from. */
    expect?: { cron: string; timezone: string };
    reason?: string;
  }): Promise<ScheduleFiring | undefined> {
    const now = nowIso();
    let id: number | undefined;
    try {
      id = await this.db.transaction(async (trx) => {
        const guard = trx('schedules').where({ id: claim.scheduleId });
        let anchor;
        if (claim.expect) {
          guard.where({ enabled: true, cron: claim.expect.cron, timezone: claim.expect.timezone });
          anchor = trx.raw('CASE WHEN last_fired_at IS NULL OR last_fired_at < ? THEN ? ELSE last_fired_at END', [claim.scheduledAt, claim.scheduledAt]);
        } else {
          // Manual firings leave the cron anchor alone; the update only proves the schedule exists.
          anchor = trx.raw('??', ['last_fired_at']);
        }
        if ((await guard.update({ last_fired_at: anchor })) !== 1) return undefined;
        const [row] = (await trx('schedule_firings')
          .insert({
            schedule_id: claim.scheduleId,
            scheduled_at: claim.scheduledAt,
            kind: claim.kind,
            outcome: 'pending',
            reason: claim.reason ?? null,
            claimed_by: claim.claimedBy,
            claimed_at: now,
            created_at: now,
          })
          .returning('id')) as Array<{ id: number | string } | number>;
        return toNumber(typeof row === 'object' ? row.id : row);
      });
    } catch (error) {
      if (isUniqueViolation(error)) return undefined;
      throw error;
    }
    return id === undefined ? undefined : this.firing(id);
  }

  /** Records what a pending firing did; only its current claimer may, and only once. */
  async resolveFiring(id: number, claimedBy: string, result: { outcome: Exclude<FiringOutcome, 'pending'>; reason: string | null; runId: string | null }): Promise<boolean> {
    const count = await this.db('schedule_firings')
      .where({ id, outcome: 'pending', claimed_by: claimedBy })
      .update({ outcome: result.outcome, reason: result.reason, run_id: result.runId, resolved_at: nowIso() });
    return count === 1;
  }

  async firing(id: number): Promise<ScheduleFiring | undefined> {
    const row = (await this.db('schedule_firings as f').leftJoin('runs as r', 'r.id', 'f.run_id').where('f.id', id).first(FIRING_COLUMNS)) as FiringRow | undefined;
    return row && firingFromRow(row);
  }

  /** Each schedule's most recent firing (the last one recorded), for the list's "last run" column. */
  async latestFirings(scheduleIds: string[]): Promise<Map<string, ScheduleFiring>> {
    if (!scheduleIds.length) return new Map();
    const newest = this.db('schedule_firings').whereIn('schedule_id', scheduleIds).groupBy('schedule_id').max('id');
    const rows = (await this.db('schedule_firings as f').leftJoin('runs as r', 'r.id', 'f.run_id').whereIn('f.id', newest).select(FIRING_COLUMNS)) as FiringRow[];
    return new Map(rows.map((r) => [r.schedule_id, firingFromRow(r)]));
  }

  /** Firing history, newest scheduled time first. */
  async firings(scheduleId: string, page: { limit: number; pageToken?: string }): Promise<Page<ScheduleFiring>> {
    const query = this.db('schedule_firings as f').leftJoin('runs as r', 'r.id', 'f.run_id').where('f.schedule_id', scheduleId).select(FIRING_COLUMNS);
    const order = [
      { column: 'f.scheduled_at', order: 'desc', kind: 'text' },
      { column: 'f.id', order: 'desc', kind: 'int' },
    ] as const;
    return keysetPage<FiringRow, ScheduleFiring>(query, order, page, (rows) => rows.map(firingFromRow), (_row, item) => [item.scheduledAt, item.id]);
  }

  /**
   * What stands in the way of a new firing: runs of this schedule that are still active, and
   * earlier firings still being submitted (their runs are about to exist). Later pending firings
   * do not count, so two firings in flight never skip each other.
   */
  async blockingFirings(scheduleId: string, self: { id: number; scheduledAt: string }): Promise<ScheduleFiring[]> {
    // Both queries start from small sets (active runs; pending firings), not the whole history.
    const withActiveRuns = (await this.db('runs as r')
      .join('schedule_firings as f', 'f.run_id', 'r.id')
      .whereIn('r.state', ACTIVE as RunState[])
      .where('f.schedule_id', scheduleId)
      .whereNot('f.id', self.id)
      .select(FIRING_COLUMNS)) as FiringRow[];
    const pending = (await this.db('schedule_firings as f')
      .leftJoin('runs as r', 'r.id', 'f.run_id')
      .where({ 'f.outcome': 'pending', 'f.schedule_id': scheduleId })
      .where('f.scheduled_at', '<', self.scheduledAt)
      .whereNot('f.id', self.id)
      .select(FIRING_COLUMNS)) as FiringRow[];
    return [...withActiveRuns, ...pending].map(firingFromRow).sort((a, b) => a.scheduledAt.localeCompare(b.scheduledAt));
  }

  /** The latest cron firing (live or catch-up) claimed in the window (after, upTo]. */
  async latestCronFiringBetween(scheduleId: string, after: string, upTo: string): Promise<string | undefined> {
    const row = (await this.db('schedule_firings')
      .where({ schedule_id: scheduleId })
      .whereIn('kind', ['scheduled', 'catch_up'])
      .where('scheduled_at', '>', after)
      .where('scheduled_at', '<=', upTo)
      .max({ latest: 'scheduled_at' })
      .first()) as { latest: string | null } | undefined;
    return row?.latest ?? undefined;
  }

  /** Firings whose claimer went away between claiming and recording the outcome. */
  async stalePending(claimedBefore: string, limit = 100): Promise<ScheduleFiring[]> {
    const rows = (await this.db('schedule_firings as f')
      .leftJoin('runs as r', 'r.id', 'f.run_id')
      .where('f.outcome', 'pending')
      .where('f.claimed_at', '<', claimedBefore)
      .orderBy('f.claimed_at')
      .limit(limit)
      .select(FIRING_COLUMNS)) as FiringRow[];
    return rows.map(firingFromRow);
  }

  /** Takes over a stale pending firing; the old claim time in the WHERE lets only one taker win. */
  async takeOverFiring(id: number, claimedAt: string, owner: string): Promise<boolean> {
    return (await this.db('schedule_firings').where({ id, outcome: 'pending', claimed_at: claimedAt }).update({ claimed_by: owner, claimed_at: nowIso() })) === 1;
  }
}
