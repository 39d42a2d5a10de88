import type { Knex } from 'knex';

/*
 * One append-only log of what changed in the registry: a version registered, an alias moved or
 * removed. It is the alias history (who, when, from which version to which, why) and the changes
 * feed that Airflow's watcher polls (`GET /registry/changes?after=<id>`): the id is the cursor.
 * A row is written in the transaction that makes the change, so neither can exist without the other.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('registry_changes', (t) => {
    t.increments('id');
    t.integer('model_id').notNullable().references('registered_models.id').onDelete('CASCADE');
    // version_registered | alias_moved | alias_removed
    t.string('kind', 32).notNullable();
    t.string('alias', 100);
    t.integer('from_version');
    t.integer('to_version');
    t.string('actor', 300).notNullable();
    t.text('reason').notNullable().defaultTo('');
    t.string('created_at', 32).notNullable();
    t.index(['model_id', 'id']);
    t.index(['model_id', 'alias', 'id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('registry_changes');
}
