import type { Knex } from 'knex';

/*
 * What each attempt of a run used: its wall time and, per requested resource, the amount times
 * that time. One row per (run, attempt), written once when the attempt ends; the primary key makes
 * the write exactly-once when two replicas see the same end.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('run_usage', (t) => {
    t.string('run_id', 32).notNullable().references('runs.id').onDelete('CASCADE');
    t.integer('attempt').notNullable();
    t.string('workflow', 200).nullable();
    t.string('backend', 32).notNullable();
    t.string('started_at', 32).notNullable();
    t.string('ended_at', 32).notNullable();
    t.double('wall_seconds').notNullable();
    t.double('cpu_seconds').notNullable();
    t.double('memory_mb_seconds').notNullable();
    t.double('gpu_seconds').notNullable();
    t.primary(['run_id', 'attempt']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('run_usage');
}
