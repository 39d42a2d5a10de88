import type { Knex } from 'knex';

/*
 * Runs created through the MLflow API: a nested (child) run names the run it is nested in, and a
 * run created in an MLflow experiment records that experiment (other runs' experiment follows
 * from their workflow). Both are indexed: a run token's writes to its children look the parent
 * up, an ending run finds its open children, and runs/search lists an experiment's runs.
 *
 * MLflow 3's logged models (what log_model and autolog create): each one's files are a directory
 * of its source run's artifacts, so a row here only names that directory and keeps the model's
 * own status, tags and params.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('runs', (t) => {
    t.string('parent_run_id', 32);
    t.string('experiment_id', 64);
    t.index(['parent_run_id'], 'runs_parent_run_index');
    t.index(['experiment_id', 'created_at'], 'runs_experiment_index');
  });
  await knex.schema.createTable('tracking_logged_models', (t) => {
    t.string('id', 40).primary();
    t.string('run_id', 32).notNullable().references('runs.id').onDelete('CASCADE');
    t.string('experiment_id', 64).notNullable();
    t.string('name', 250).notNullable();
    t.string('artifact_path', 500).notNullable();
    t.string('model_type', 250);
    t.string('status', 32).notNullable();
    t.text('tags').notNullable();
    t.text('params').notNullable();
    t.string('created_at', 32).notNullable();
    t.string('updated_at', 32).notNullable();
    t.unique(['run_id', 'artifact_path']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('tracking_logged_models');
  await knex.schema.alterTable('runs', (t) => {
    t.dropIndex(['parent_run_id'], 'runs_parent_run_index');
    t.dropIndex(['experiment_id', 'created_at'], 'runs_experiment_index');
  });
  await knex.schema.alterTable('runs', (t) => {
    t.dropColumn('parent_run_id');
    t.dropColumn('experiment_id');
  });
}
