import type { Knex } from 'knex';

/*
 * What the MLflow tracking API records beside Griffin's own run columns: params a training process
 * logs (hyperparameters stay in the run's spec and are not copied here), run tags, and the named
 * experiments MLflow users create for themselves. Workflows are experiments too, without a row.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('run_params', (t) => {
    t.string('run_id', 32).notNullable().references('runs.id').onDelete('CASCADE');
    t.string('key', 250).notNullable();
    t.text('value').notNullable();
    t.primary(['run_id', 'key']);
  });
  await knex.schema.createTable('run_tags', (t) => {
    t.string('run_id', 32).notNullable().references('runs.id').onDelete('CASCADE');
    t.string('key', 250).notNullable();
    t.text('value').notNullable();
    t.primary(['run_id', 'key']);
  });
  await knex.schema.createTable('tracking_experiments', (t) => {
    t.increments('id');
    t.string('name', 500).notNullable().unique();
    t.string('created_at', 32).notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('tracking_experiments');
  await knex.schema.dropTableIfExists('run_tags');
  await knex.schema.dropTableIfExists('run_params');
}
