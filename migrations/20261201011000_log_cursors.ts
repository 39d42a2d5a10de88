import type { Knex } from 'knex';

/**
 * How far a reader outside Griffin (an Airflow trigger copying a run's log into the task log) has
 * copied a run's log. A trigger restarted by the triggerer comes back with the arguments it was
 * created with; this row lets it go on where it was instead of copying the log again.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('run_log_cursors', (t) => {
    t.string('run_id', 32).notNullable().references('id').inTable('runs').onDelete('CASCADE');
    t.string('reader', 255).notNullable();
    t.bigInteger('cursor').notNullable();
    t.string('updated_at').notNullable();
    t.primary(['run_id', 'reader']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('run_log_cursors');
}
