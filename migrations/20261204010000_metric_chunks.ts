import type { Knex } from 'knex';

/*
 * Metric points move from one row per point (run_metrics) to one row per key per logged batch
 * (run_metric_chunks, the points as JSON [step, value, epoch ms] in the order they were logged),
 * with each key's last value kept in run_metric_latest. Storing a 1,000-point batch drops from
 * 1,000 indexed rows to about one row per key, and the runs list reads the latest values by key
 * instead of ranking every point with a window function.
 *
 * Existing points are copied run by run, in the order they were written, so histories, latest
 * values and tie order read the same afterwards; `down` writes them back one row per point.
 */
const time = (t: Knex.CreateTableBuilder, name: string) => t.string(name, 32);
const POINTS_PER_CHUNK = 1000;
const ROWS_PER_INSERT = 400; // below SQLite's 500 terms in one compound SELECT

interface PointRow {
  key: string;
  value: number;
  step: number | string;
  timestamp: string;
}

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('run_metric_chunks', (t) => {
    t.bigIncrements('id');
    t.string('run_id', 32).notNullable().references('runs.id').onDelete('CASCADE');
    t.string('key', 250).notNullable();
    t.text('points').notNullable();
    t.integer('count').notNullable();
    t.index(['run_id', 'key']);
  });
  await knex.schema.createTable('run_metric_latest', (t) => {
    t.string('run_id', 32).notNullable().references('runs.id').onDelete('CASCADE');
    t.string('key', 250).notNullable();
    t.double('value').notNullable();
    t.bigInteger('step').notNullable();
    time(t, 'timestamp').notNullable();
    t.primary(['run_id', 'key']);
  });
  const runIds = ((await knex('run_metrics').distinct('run_id')) as Array<{ run_id: string }>).map((r) => r.run_id);
  for (const runId of runIds) {
    const points = (await knex('run_metrics').where({ run_id: runId }).orderBy([{ column: 'key' }, { column: 'id' }])) as PointRow[];
    const chunks: Array<Record<string, unknown>> = [];
    const latest = new Map<string, PointRow>();
    for (let i = 0; i < points.length; ) {
      const key = points[i].key;
      const series: Array<[number, number, number]> = [];
      for (; i < points.length && points[i].key === key && series.length < POINTS_PER_CHUNK; i += 1) {
        const p = points[i];
        series.push([Number(p.step), Number(p.value), Date.parse(p.timestamp)]);
        const last = latest.get(key);
        if (!last || Number(p.step) >= Number(last.step)) latest.set(key, p);
      }
      chunks.push({ run_id: runId, key, points: JSON.stringify(series), count: series.length });
    }
    const lasts = [...latest.values()].map((p) => ({ run_id: runId, key: p.key, value: Number(p.value), step: Number(p.step), timestamp: p.timestamp }));
    for (let i = 0; i < chunks.length; i += ROWS_PER_INSERT) await knex('run_metric_chunks').insert(chunks.slice(i, i + ROWS_PER_INSERT));
    for (let i = 0; i < lasts.length; i += ROWS_PER_INSERT) await knex('run_metric_latest').insert(lasts.slice(i, i + ROWS_PER_INSERT));
  }
  await knex.schema.dropTable('run_metrics');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.createTable('run_metrics', (t) => {
    t.bigIncrements('id');
    t.string('run_id', 32).notNullable().references('runs.id').onDelete('CASCADE');
    t.string('key', 250).notNullable();
    t.double('value').notNullable();
    t.bigInteger('step').notNullable().defaultTo(0);
    time(t, 'timestamp').notNullable();
    t.index(['run_id', 'key', 'step']);
  });
  const chunks = (await knex('run_metric_chunks').orderBy('id')) as Array<{ run_id: string; key: string; points: string }>;
  for (const chunk of chunks) {
    const rows = (JSON.parse(chunk.points) as Array<[number, number, number]>).map(([step, value, ms]) => ({ run_id: chunk.run_id, key: chunk.key, value, step, timestamp: new Date(ms).toISOString() }));
    for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) await knex('run_metrics').insert(rows.slice(i, i + ROWS_PER_INSERT));
  }
  await knex.schema.dropTable('run_metric_latest');
  await knex.schema.dropTable('run_metric_chunks');
}
