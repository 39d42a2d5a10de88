import type { Knex } from 'knex';

/*
 * Queues cap how many runs (and how many requested GPUs and CPUs) are in flight at once; every run
 * names one and carries a priority. The dispatcher's claim reads runs by (state, priority
 * descending, created_at) and counts a queue's in-flight runs by (queue, state), hence the two indexes. The
 * resources a run holds against its queue are kept as columns so that counting them is a SUM,
 * not a parse of every in-flight spec.
 */
const ACTIVE = ['queued', 'launching', 'running', 'cancelling'];

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('queues', (t) => {
    t.string('name', 200).primary();
    t.string('description', 10_000).notNullable().defaultTo('');
    t.integer('max_concurrent_runs').nullable();
    t.integer('max_gpu').nullable();
    t.double('max_cpu').nullable();
    t.integer('default_priority').notNullable().defaultTo(0);
    t.string('created_by', 200).nullable();
    t.string('updated_by', 200).nullable();
    t.string('created_at', 32).notNullable();
    t.string('updated_at', 32).notNullable();
  });
  const now = new Date().toISOString();
  await knex('queues').insert({ name: 'default', description: 'Runs that name no queue. Unlimited unless an admin sets caps.', created_at: now, updated_at: now });

  await knex.schema.alterTable('runs', (t) => {
    t.string('queue', 200).notNullable().defaultTo('default');
    t.integer('priority').notNullable().defaultTo(0);
    t.integer('requested_gpu').notNullable().defaultTo(0);
    t.double('requested_cpu').notNullable().defaultTo(0);
    t.index(['queue', 'state'], 'runs_queue_state');
  });
  // The claim reads queued runs by priority descending, then oldest first: an index in that order.
  await knex.raw('CREATE INDEX ?? ON ?? (??, ?? DESC, ??)', ['runs_claim_order', 'runs', 'state', 'priority', 'created_at']);

  // Runs not yet ended count against their queue from now on: give them what their spec requests.
  const active = (await knex('runs').whereIn('state', ACTIVE).select('id', 'backend', 'spec')) as Array<{ id: string; backend: string; spec: string }>;
  for (const row of active) {
    let resources: { cpu?: number; gpu?: number; workers?: number } = {};
    try {
      resources = (JSON.parse(row.spec) as { resources?: typeof resources }).resources ?? {};
    } catch {
      continue;
    }
    const copies = row.backend === 'kuberay' ? 1 + (resources.workers ?? 1) : 1;
    await knex('runs')
      .where({ id: row.id })
      .update({ requested_gpu: (resources.gpu ?? 0) * copies, requested_cpu: (resources.cpu ?? 0) * copies });
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX ??', ['runs_claim_order']);
  await knex.schema.alterTable('runs', (t) => {
    t.dropIndex(['queue', 'state'], 'runs_queue_state');
  });
  await knex.schema.alterTable('runs', (t) => {
    t.dropColumn('queue');
    t.dropColumn('priority');
    t.dropColumn('requested_gpu');
    t.dropColumn('requested_cpu');
  });
  await knex.schema.dropTableIfExists('queues');
}
