import type { Knex } from 'knex';

/**
 * Idempotency keys in flight get an owner (the instance handling the request) and a lease, so a
 * key left behind by a crashed instance is taken over once the lease runs out instead of
 * answering "still being processed" for 24 hours.
 *
 * Two clean-ups go with it, and `down` cannot undo them:
 * - stored answers that hold a user token (`gft_...`) or run token (`grt_...`) secret are deleted;
 *   answers are stored redacted from now on. A deleted key only means that a replay of it runs again.
 * - runs that a client submitted under a key in the scheduler's `schedule:` namespace (now
 *   refused with a 400) lose that key, so the firing it squatted submits its own run. The run itself stays.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('idempotency_keys', (t) => {
    t.string('owner', 100);
    t.string('lease_expires_at', 32);
  });
  await knex('idempotency_keys')
    .whereRaw("response_body LIKE ? ESCAPE '!'", ['%gft!_%'])
    .orWhereRaw("response_body LIKE ? ESCAPE '!'", ['%grt!_%'])
    .delete();
  await knex('runs').whereRaw("substr(idempotency_key, 1, 9) = 'schedule:'").whereNot({ trigger: 'schedule' }).update({ idempotency_key: null, idempotency_generation: null, request_hash: null });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('idempotency_keys', (t) => {
    t.dropColumn('lease_expires_at');
    t.dropColumn('owner');
  });
}
