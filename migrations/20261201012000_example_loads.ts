import type { Knex } from 'knex';

/**
 * What loading the example definitions last did, per definition: the hash of the definition as
 * the example file had it, and the version that load created or found. Loading again adds a version
 * only when the file changed since, and never over a version a user made after it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('example_loads', (t) => {
    t.string('kind', 20).notNullable();
    t.string('name', 200).notNullable();
    t.string('content_hash', 64).notNullable();
    t.integer('version').nullable();
    t.string('loaded_at').notNullable();
    t.primary(['kind', 'name']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('example_loads');
}
