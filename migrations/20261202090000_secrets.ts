import type { Knex } from 'knex';

/*
 * Named secrets that runs reference from their env ({"secret": "<name>"}). Only ciphertext is
 * stored (services/secretCrypto.ts); the value is never returned by the API.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('secrets', (t) => {
    t.string('name', 253).primary();
    t.text('ciphertext').notNullable();
    t.string('description', 1000).notNullable().defaultTo('');
    t.string('created_by', 200).nullable();
    t.string('updated_by', 200).nullable();
    t.string('created_at', 32).notNullable();
    t.string('updated_at', 32).notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('secrets');
}
