import type { Knex } from 'knex';
import type { Metric } from '../domain/index.ts';
import { compareKeys, toNumber } from './rows.ts';

/**
 * How a run's metric points are stored. One row per point cost SQLite about 10 µs per point in
 * index upkeep and variable binding, most of a 1,000-point batch's time. A batch is stored instead
 * as one chunk row per key (its points as JSON, in the order they were logged), and each key's last
 * value is kept beside the chunks, so reading a page of runs' latest values stays one index lookup
 * per key however many points the runs have.
 */

/** One stored point: step, value and timestamp (milliseconds since the epoch). */
type StoredPoint = [number, number, number];

interface ChunkRow {
  key: string;
  points: string;
}

interface LatestRow {
  run_id: string;
  key: string;
  value: number;
  step: number | string;
  timestamp: string;
}

export type LatestMetrics = Record<string, Omit<Metric, 'key'>>;

/** Points of one run, as one logging call sent them. */
export interface RunPoints {
  runId: string;
  metrics: Metric[];
}

/**
 * Writes batches in the caller's transaction: one chunk per key per batch, and each key's last
 * value moved on when a batch reaches a step at or past the stored one. "Last" is the highest
 * step, then the latest written (a later batch wins a tie), the order the MLflow client shows as
 * a metric's value. Several batches (of one run or of many) cost one statement per table.
 */
export async function writePoints(trx: Knex | Knex.Transaction, batches: RunPoints[]): Promise<void> {
  const chunks: Array<{ run_id: string; key: string; points: string; count: number }> = [];
  const latest = new Map<string, { runId: string; metric: Metric }>();
  for (const { runId, metrics } of batches) {
    const byKey = new Map<string, StoredPoint[]>();
    for (const m of metrics) {
      const points = byKey.get(m.key) ?? [];
      points.push([m.step, m.value, Date.parse(m.timestamp)]);
      byKey.set(m.key, points);
      const id = `${runId}\0${m.key}`;
      const last = latest.get(id);
      if (!last || m.step >= last.metric.step) latest.set(id, { runId, metric: m });
    }
    for (const [key, points] of byKey) chunks.push({ run_id: runId, key, points: JSON.stringify(points), count: points.length });
  }
  if (chunks.length === 0) return;
  for (const group of groupsOf(chunks)) await trx('run_metric_chunks').insert(group);
  // In (run, key) order: two transactions upserting the same keys then lock their rows in the same
  // order, so concurrent writers on PostgreSQL queue instead of deadlocking.
  const lasts = [...latest.values()]
    .sort((a, b) => compareKeys(a.runId, b.runId) || compareKeys(a.metric.key, b.metric.key))
    .map(({ runId, metric: m }) => ({ run_id: runId, key: m.key, value: m.value, step: m.step, timestamp: m.timestamp }));
  for (const group of groupsOf(lasts)) {
    await trx('run_metric_latest').insert(group).onConflict(['run_id', 'key']).merge(['value', 'step', 'timestamp']).where('run_metric_latest.step', '<=', trx.raw('excluded.step'));
  }
}

/**
 * Knex writes a multi-row insert on SQLite as a compound SELECT, which SQLite caps at 500 terms;
 * a batch with more keys than that is written in several statements of the same transaction.
 */
export function groupsOf<T>(rows: T[], size = 400): T[][] {
  const groups: T[][] = [];
  for (let i = 0; i < rows.length; i += size) groups.push(rows.slice(i, i + size));
  return groups;
}

/** A run's points (one key's, when given), ordered by key, then step, then the order they were logged. */
export async function readPoints(db: Knex, runId: string, key?: string): Promise<Metric[]> {
  const query = db('run_metric_chunks').where({ run_id: runId }).select('key', 'points').orderBy('id');
  if (key) query.where({ key });
  const out: Metric[] = [];
  for (const chunk of (await query) as ChunkRow[]) {
    for (const [step, value, timestamp] of JSON.parse(chunk.points) as StoredPoint[]) out.push({ key: chunk.key, value, step, timestamp: new Date(timestamp).toISOString() });
  }
  // Array sort is stable: points of one key and step keep the order they were logged in.
  return out.sort((a, b) => compareKeys(a.key, b.key) || a.step - b.step);
}

/** The last value of each key of each run, in one query; runs without metrics are left out. */
export async function latestOf(db: Knex, runIds: string[]): Promise<Map<string, LatestMetrics>> {
  const byRun = new Map<string, LatestMetrics>();
  if (runIds.length === 0) return byRun;
  const rows = (await db('run_metric_latest').whereIn('run_id', runIds).select('run_id', 'key', 'value', 'step', 'timestamp')) as LatestRow[];
  for (const r of rows) {
    const metrics = byRun.get(r.run_id) ?? {};
    metrics[r.key] = { value: Number(r.value), step: toNumber(r.step), timestamp: r.timestamp };
    byRun.set(r.run_id, metrics);
  }
  return byRun;
}
