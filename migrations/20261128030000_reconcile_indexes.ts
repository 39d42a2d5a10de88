import type { Knex } from 'knex';

/**
 * Between full sweeps the reconciler only asks for runs that may need it: past their deadline, on a
 * backend that must be polled, or named by an executor event. These indexes keep those reads from
 * touching every in-flight run.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('runs', (t) => {
    t.index(['state', 'deadline_at'], 'runs_state_deadline_index');
    t.index(['state', 'backend'], 'runs_state_backend_index');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('runs', (t) => {
    t.dropIndex(['state', 'deadline_at'], 'runs_state_deadline_index');
    t.dropIndex(['state', 'backend'], 'runs_state_backend_index');
  });
}
