import type { Knex } from 'knex';

/*
 * Times are stored as ISO-8601 UTC strings (Date#toISOString): they sort and compare the same way
 * on SQLite and PostgreSQL, so lease and deadline queries need no dialect branches.
 * JSON documents are stored as text for the same reason.
 */
const time = (t: Knex.CreateTableBuilder, name: string) => t.string(name, 32);

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('api_tokens', (t) => {
    t.string('id', 32).primary();
    t.string('name', 200).notNullable();
    t.string('role', 16).notNullable();
    t.string('token_hash', 64).notNullable().unique();
    t.string('prefix', 16).notNullable();
    time(t, 'created_at').notNullable();
    time(t, 'last_used_at');
    time(t, 'revoked_at');
  });

  await knex.schema.createTable('models', (t) => {
    t.increments('id');
    t.string('name', 200).notNullable();
    t.integer('version').notNullable();
    t.string('framework', 100).notNullable();
    t.string('code_uri', 1000).notNullable();
    t.string('entrypoint', 2000).notNullable();
    t.text('default_hyperparameters').notNullable();
    t.text('hyperparameter_schema').notNullable();
    t.text('description').notNullable().defaultTo('');
    time(t, 'created_at').notNullable();
    t.unique(['name', 'version']);
  });

  await knex.schema.createTable('features', (t) => {
    t.increments('id');
    t.string('name', 200).notNullable().unique();
    t.string('entity_key', 200).notNullable();
    t.string('dtype', 50).notNullable();
    t.string('source', 1000).notNullable();
    t.text('description').notNullable().defaultTo('');
    time(t, 'created_at').notNullable();
    time(t, 'updated_at').notNullable();
  });

  await knex.schema.createTable('datasets', (t) => {
    t.increments('id');
    t.string('name', 200).notNullable();
    t.integer('version').notNullable();
    t.string('uri', 1000).notNullable();
    t.string('format', 50).notNullable();
    t.text('features').notNullable();
    t.string('label', 200);
    t.text('split').notNullable();
    t.text('description').notNullable().defaultTo('');
    time(t, 'created_at').notNullable();
    t.unique(['name', 'version']);
  });

  await knex.schema.createTable('runtimes', (t) => {
    t.increments('id');
    t.string('name', 200).notNullable().unique();
    t.string('image', 500);
    t.string('python_version', 50);
    t.string('ray_version', 50);
    t.string('local_interpreter', 500);
    t.text('frameworks').notNullable();
    t.text('backends').notNullable();
    t.text('description').notNullable().defaultTo('');
    time(t, 'created_at').notNullable();
    time(t, 'updated_at').notNullable();
  });

  await knex.schema.createTable('workflows', (t) => {
    t.increments('id');
    t.string('name', 200).notNullable();
    t.integer('version').notNullable();
    t.text('spec').notNullable();
    t.text('description').notNullable().defaultTo('');
    time(t, 'created_at').notNullable();
    t.unique(['name', 'version']);
  });

  await knex.schema.createTable('runs', (t) => {
    t.string('id', 32).primary();
    t.string('state', 16).notNullable();
    t.integer('attempt').notNullable().defaultTo(1);
    t.string('workflow_name', 200);
    t.integer('workflow_version');
    t.text('spec').notNullable();
    t.string('backend', 32).notNullable();
    t.text('backend_ref');
    t.string('trigger', 16).notNullable();
    t.text('trigger_info');
    t.string('dag_id', 250);
    t.string('idempotency_key', 255);
    t.integer('idempotency_generation');
    t.string('request_hash', 64);
    t.text('reason');
    t.string('lease_owner', 100);
    time(t, 'lease_expires_at');
    time(t, 'deadline_at');
    time(t, 'cancel_requested_at');
    t.string('registered_model', 200);
    t.integer('registered_version');
    time(t, 'created_at').notNullable();
    time(t, 'updated_at').notNullable();
    time(t, 'started_at');
    time(t, 'finished_at');
    t.unique(['idempotency_key', 'idempotency_generation']);
    t.index(['state']);
    t.index(['created_at']);
    t.index(['workflow_name']);
    t.index(['dag_id']);
  });

  await knex.schema.createTable('run_events', (t) => {
    t.increments('id');
    t.string('run_id', 32).notNullable().references('runs.id').onDelete('CASCADE');
    t.string('from_state', 16);
    t.string('to_state', 16).notNullable();
    t.text('reason');
    time(t, 'at').notNullable();
    t.index(['run_id']);
  });

  await knex.schema.createTable('run_metrics', (t) => {
    t.bigIncrements('id');
    t.string('run_id', 32).notNullable().references('runs.id').onDelete('CASCADE');
    t.string('key', 250).notNullable();
    t.double('value').notNullable();
    t.bigInteger('step').notNullable().defaultTo(0);
    time(t, 'timestamp').notNullable();
    t.index(['run_id', 'key', 'step']);
  });

  await knex.schema.createTable('run_artifacts', (t) => {
    t.increments('id');
    t.string('run_id', 32).notNullable().references('runs.id').onDelete('CASCADE');
    t.string('path', 1000).notNullable();
    t.bigInteger('size').notNullable();
    t.string('sha256', 64).notNullable();
    time(t, 'created_at').notNullable();
    t.unique(['run_id', 'path']);
  });

  await knex.schema.createTable('registered_models', (t) => {
    t.increments('id');
    t.string('name', 200).notNullable().unique();
    t.text('description').notNullable().defaultTo('');
    t.text('tags').notNullable();
    time(t, 'created_at').notNullable();
    time(t, 'updated_at').notNullable();
  });

  await knex.schema.createTable('model_versions', (t) => {
    t.increments('id');
    t.integer('model_id').notNullable().references('registered_models.id').onDelete('CASCADE');
    t.integer('version').notNullable();
    t.string('artifact_uri', 2000).notNullable();
    t.string('run_id', 32).references('runs.id').onDelete('SET NULL');
    t.text('metrics').notNullable();
    t.text('tags').notNullable();
    t.text('description').notNullable().defaultTo('');
    time(t, 'created_at').notNullable();
    t.unique(['model_id', 'version']);
    // Registering the same run twice under one model must find the first version.
    t.unique(['model_id', 'run_id']);
  });

  await knex.schema.createTable('model_aliases', (t) => {
    t.integer('model_id').notNullable().references('registered_models.id').onDelete('CASCADE');
    t.string('alias', 100).notNullable();
    t.integer('version_id').notNullable().references('model_versions.id').onDelete('CASCADE');
    time(t, 'updated_at').notNullable();
    t.primary(['model_id', 'alias']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    'model_aliases',
    'model_versions',
    'registered_models',
    'run_artifacts',
    'run_metrics',
    'run_events',
    'runs',
    'workflows',
    'runtimes',
    'datasets',
    'features',
    'models',
    'api_tokens',
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
}
