import type { Knex } from 'knex';

/*
 * Runs created through the MLflow API: a nested (child) run names the run it is nested in, and a
 * run created in an MLflow experiment records that experiment (other runs' experiment follows
 * from their workflow). Both are indexed: a run token's writes to its children look the parent
 * up, an ending run finds its open children, and runs/search lists an experiment's runs.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('runs', (t) => {
    t.string('parent_run_id', 32);
    t.string('experiment_id', 64);
    t.index(['parent_run_id'], 'runs_parent_run_index');
    t.index(['experiment_id', 'created_at'], 'runs_experiment_index');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('runs', (t) => {
    t.dropIndex(['parent_run_id'], 'runs_parent_run_index');
    t.dropIndex(['experiment_id', 'created_at'], 'runs_experiment_index');
  });
  await knex.schema.alterTable('runs', (t) => {
    t.dropColumn('parent_run_id');
    t.dropColumn('experiment_id');
  });
}
