import type { Knex } from 'knex';

/*
 * A run queued again for its next attempt waits out its retry backoff: the dispatcher does not
 * claim it before not_before. Null for every run that is not waiting (first attempts included).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('runs', (t) => {
    t.string('not_before', 32).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('runs', (t) => {
    t.dropColumn('not_before');
  });
}
