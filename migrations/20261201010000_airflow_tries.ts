import type { Knex } from 'knex';

/**
 * What an Airflow task's tries did with a run. `consumed_*`: a try finished with the run (it
 * succeeded or failed on it), so a later try of the same task instance (a user's clear) trains
 * again instead of re-attaching. `cancel_requested_by_try`: which try asked for the cancel, so a
 * newer try waiting on the same run can tell an older try's kill from a user's cancel.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('runs', (t) => {
    t.string('consumed_at').nullable();
    t.integer('consumed_by_try').nullable();
    t.integer('cancel_requested_by_try').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('runs', (t) => {
    t.dropColumn('consumed_at');
    t.dropColumn('consumed_by_try');
    t.dropColumn('cancel_requested_by_try');
  });
}
