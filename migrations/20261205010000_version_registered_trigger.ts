import type { Knex } from 'knex';

/*
 * A version's "version_registered" change, and its model's updated_at, are written by the
 * database as part of the version's own insert, by a trigger, instead of by two more statements
 * of the registering transaction.
 *
 * Why: on SQLite every statement of a registration is a round trip to the one connection, each
 * waiting its turn on a busy event loop; the version's insert is now the whole write (one
 * statement, atomic by itself, one fsync). And a version row can no longer exist without its
 * change, whoever inserts it.
 *
 * The change needs who registered the version: model_versions gains registered_by. Versions
 * stored before this migration keep '' (their registrant is in their change row already).
 *
 * On PostgreSQL the trigger takes the change log's advisory lock before the change's id is drawn,
 * as every other writer of a change does (see CHANGE_LOG_LOCK in server/store/registryStore.ts;
 * 0x67726966 is that lock's key), so change ids still follow commit order.
 */
const SQLITE_TRIGGER = `
create trigger model_version_registered after insert on model_versions
begin
  update registered_models set updated_at = new.created_at where id = new.model_id;
  insert into registry_changes (model_id, kind, alias, from_version, to_version, actor, reason, created_at)
    values (new.model_id, 'version_registered', null, null, new.version, new.registered_by, new.description, new.created_at);
end`;

const POSTGRES_FUNCTION = `
create function model_version_registered() returns trigger language plpgsql as $$
begin
  update registered_models set updated_at = new.created_at where id = new.model_id;
  perform pg_advisory_xact_lock(1735551334);
  insert into registry_changes (model_id, kind, alias, from_version, to_version, actor, reason, created_at)
    values (new.model_id, 'version_registered', null, null, new.version, new.registered_by, new.description, new.created_at);
  return null;
end
$$`;

const isPostgres = (knex: Knex) => String(knex.client.config.client) === 'pg';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('model_versions', (t) => {
    t.string('registered_by', 300).notNullable().defaultTo('');
  });
  if (isPostgres(knex)) {
    await knex.raw(POSTGRES_FUNCTION);
    await knex.raw('create trigger model_version_registered after insert on model_versions for each row execute function model_version_registered()');
  } else {
    await knex.raw(SQLITE_TRIGGER);
  }
}

export async function down(knex: Knex): Promise<void> {
  if (isPostgres(knex)) {
    await knex.raw('drop trigger if exists model_version_registered on model_versions');
    await knex.raw('drop function if exists model_version_registered()');
  } else {
    await knex.raw('drop trigger if exists model_version_registered');
  }
  await knex.schema.alterTable('model_versions', (t) => {
    t.dropColumn('registered_by');
  });
}
