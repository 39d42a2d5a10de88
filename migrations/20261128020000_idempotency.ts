import type { Knex } from 'knex';

/**
 * Stored responses of mutating POSTs made with an Idempotency-Key (other than run submission,
 * whose key lives on the run itself). The scope keeps one caller's keys apart from another's.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('idempotency_keys', (t) => {
    t.string('scope', 64).notNullable();
    t.string('key', 255).notNullable();
    t.string('request_hash', 64).notNullable();
    t.integer('status');
    t.text('response_body');
    t.string('created_at', 32).notNullable();
    t.primary(['scope', 'key']);
    t.index(['created_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('idempotency_keys');
}
