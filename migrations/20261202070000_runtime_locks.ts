import type { Knex } from 'knex';

/*
 * Framework runtimes pin their packages in a lock file (runtimes/<name>/requirements.lock). A
 * runtime keeps those pins (what its local venv and its image are built from), the file they came
 * from, and what a Ray job of it installs through runtime_env.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('runtimes', (t) => {
    t.string('lock_file', 500);
    t.text('packages').notNullable().defaultTo('[]');
    t.text('ray_runtime_env');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('runtimes', (t) => {
    t.dropColumn('lock_file');
    t.dropColumn('packages');
    t.dropColumn('ray_runtime_env');
  });
}
