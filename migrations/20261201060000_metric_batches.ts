import type { Knex } from 'knex';

/*
 * A training process that retries a metrics POST (the answer was lost, or its spool is flushed
 * after an outage) sends the same batch again. Each batch it has delivered is recorded here, in
 * the transaction that stores its points, so a repeated batch is recognised and never stored twice.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('run_metric_batches', (t) => {
    t.string('run_id', 32).notNullable().references('runs.id').onDelete('CASCADE');
    t.string('batch_id', 200).notNullable();
    t.integer('points').notNullable();
    t.string('created_at', 32).notNullable();
    t.primary(['run_id', 'batch_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('run_metric_batches');
}
