import type { Knex } from 'knex';

/*
 * Cron schedules and their firings. Times are ISO-8601 UTC strings and JSON is text, as in the
 * core migration. A firing is claimed by inserting its (schedule, scheduled time) row: the unique
 * index is what makes several replicas fire each tick exactly once.
 */
const time = (t: Knex.CreateTableBuilder, name: string) => t.string(name, 32);

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('schedules', (t) => {
    t.string('id', 32).primary();
    t.string('name', 200).notNullable().unique();
    t.text('description').notNullable().defaultTo('');
    t.string('cron', 200).notNullable();
    t.string('timezone', 100).notNullable();
    t.string('workflow', 220).notNullable();
    t.text('overrides').notNullable();
    t.boolean('enabled').notNullable();
    t.string('overlap_policy', 16).notNullable();
    t.string('catch_up_policy', 16).notNullable();
    t.integer('max_concurrent_runs');
    // The scheduled time of the latest claimed cron firing: where catch-up starts counting.
    time(t, 'last_fired_at');
    // When the schedule was created enabled or last resumed; a change tells replicas to catch up.
    time(t, 'enabled_at');
    // When it was first enabled: before its first firing, misses are counted from here, so a
    // schedule created paused does not catch up on the time before anyone turned it on.
    time(t, 'first_enabled_at');
    // Bumped on every change of the definition (not on firings), so replicas notice edits.
    t.integer('version').notNullable().defaultTo(1);
    time(t, 'created_at').notNullable();
    time(t, 'updated_at').notNullable();
  });

  await knex.schema.createTable('schedule_firings', (t) => {
    t.increments('id');
    t.string('schedule_id', 32).notNullable().references('schedules.id').onDelete('CASCADE');
    time(t, 'scheduled_at').notNullable();
    t.string('kind', 16).notNullable();
    t.string('outcome', 16).notNullable();
    t.text('reason');
    t.string('run_id', 32).references('runs.id').onDelete('SET NULL');
    t.string('claimed_by', 100).notNullable();
    time(t, 'claimed_at').notNullable();
    time(t, 'created_at').notNullable();
    time(t, 'resolved_at');
    t.unique(['schedule_id', 'scheduled_at']);
    t.index(['outcome', 'claimed_at']);
    t.index(['run_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('schedule_firings');
  await knex.schema.dropTableIfExists('schedules');
}
