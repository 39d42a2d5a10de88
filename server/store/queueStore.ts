import type { Knex } from 'knex';
import type { Queue, QueueLoad, QueueSettingsInput, RunState } from '../domain/index.ts';
import { ACTIVE, EMPTY_QUEUE_LOAD, IN_FLIGHT } from '../domain/index.ts';
import { managedRuns } from './managedRuns.ts';
import { dialectOf, isUniqueViolation } from '../db/connect.ts';
import { nowIso, toNumber } from './rows.ts';

export interface QueueRow {
  name: string;
  description: string;
  max_concurrent_runs: number | null;
  max_gpu: number | null;
  max_cpu: number | string | null;
  default_priority: number;
  created_by: string | null;
  updated_by: string | null;
  created_at: string;
  updated_at: string;
}

const orNull = (value: unknown): number | null => (value === null || value === undefined ? null : toNumber(value));

export const queueFromRow = (r: QueueRow): Queue => ({
  name: r.name,
  description: r.description,
  maxConcurrentRuns: orNull(r.max_concurrent_runs),
  resources: { gpu: orNull(r.max_gpu), cpu: orNull(r.max_cpu) },
  defaultPriority: toNumber(r.default_priority),
  createdBy: r.created_by,
  updatedBy: r.updated_by,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const settingsColumns = (s: QueueSettingsInput) => ({
  description: s.description,
  max_concurrent_runs: s.maxConcurrentRuns,
  max_gpu: s.resources.gpu ?? null,
  max_cpu: s.resources.cpu ?? null,
  default_priority: s.defaultPriority,
});

/** Queues and the counts of runs in them. The claim that enforces their caps is RunStore.claimQueued. */
export class QueueStore {
  private readonly isPostgres: boolean;

  constructor(private readonly db: Knex) {
    this.isPostgres = dialectOf(db) === 'postgres';
  }

  async list(): Promise<Queue[]> {
    return ((await this.db('queues').orderBy('name')) as QueueRow[]).map(queueFromRow);
  }

  async names(): Promise<string[]> {
    return ((await this.db('queues').orderBy('name').select('name')) as Array<{ name: string }>).map((r) => r.name);
  }

  async get(name: string): Promise<Queue | undefined> {
    const row = (await this.db('queues').where({ name }).first()) as QueueRow | undefined;
    return row && queueFromRow(row);
  }

  /** Inserts a queue; false when one of that name exists (nothing changes then). */
  async create(name: string, settings: QueueSettingsInput, by: string | null): Promise<boolean> {
    const now = nowIso();
    try {
      await this.db('queues').insert({ name, ...settingsColumns(settings), created_by: by, updated_by: by, created_at: now, updated_at: now });
      return true;
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }

  /** Replaces a queue's settings, creating it if it does not exist; `created` says which. */
  async put(name: string, settings: QueueSettingsInput, by: string | null): Promise<{ queue: Queue; created: boolean }> {
    return this.db.transaction(async (trx) => {
      const now = nowIso();
      const read = trx('queues').where({ name }).first('name');
      if (this.isPostgres) read.forUpdate();
      const existing = await read;
      if (existing) await trx('queues').where({ name }).update({ ...settingsColumns(settings), updated_by: by, updated_at: now });
      else await trx('queues').insert({ name, ...settingsColumns(settings), created_by: by, updated_by: by, created_at: now, updated_at: now });
      return { queue: queueFromRow((await trx('queues').where({ name }).first()) as QueueRow), created: !existing };
    });
  }

  /**
   * Deletes a queue that holds no active run. The queue's row is locked first: a submission
   * naming it (RunStore.insert) holds a share lock on it, so the count sees any run stored
   * meanwhile, and a run is never left in a queue that no longer exists.
   */
  async delete(name: string): Promise<{ deleted: boolean; active: Record<string, number> }> {
    return this.db.transaction(async (trx) => {
      const read = trx('queues').where({ name }).first('name');
      if (this.isPostgres) read.forUpdate();
      if (!(await read)) return { deleted: false, active: {} };
      const rows = (await trx('runs').where({ queue: name }).whereIn('state', ACTIVE as RunState[]).select('state').count({ n: '*' }).groupBy('state')) as Array<{ state: string; n: number | string }>;
      const active = Object.fromEntries(rows.map((r) => [r.state, toNumber(r.n)]));
      if (rows.length) return { deleted: false, active };
      await trx('queues').where({ name }).delete();
      return { deleted: true, active };
    });
  }

  /** Each queue's waiting and in-flight runs, and what the in-flight ones request. */
  async loads(names?: string[]): Promise<Map<string, QueueLoad>> {
    const query = managedRuns(this.db)
      .whereIn('state', ACTIVE as RunState[])
      .select('queue', 'state')
      .count({ n: '*' })
      .sum({ gpu: 'requested_gpu' })
      .sum({ cpu: 'requested_cpu' })
      .groupBy('queue', 'state');
    if (names) query.whereIn('queue', names);
    const rows = (await query) as Array<{ queue: string; state: RunState; n: number | string; gpu: number | string | null; cpu: number | string | null }>;
    const loads = new Map<string, QueueLoad>();
    for (const row of rows) {
      const load = { ...(loads.get(row.queue) ?? EMPTY_QUEUE_LOAD) };
      if (row.state === 'queued') load.queued += toNumber(row.n);
      else if (IN_FLIGHT.includes(row.state)) {
        load.inFlight += toNumber(row.n);
        load.gpu += toNumber(row.gpu ?? 0);
        load.cpu += toNumber(row.cpu ?? 0);
      }
      loads.set(row.queue, load);
    }
    return loads;
  }
}
