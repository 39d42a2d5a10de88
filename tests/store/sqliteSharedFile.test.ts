import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../server/db/connect.ts';

/**
 * Two service processes (or the service and a CLI) may share one SQLite file. Each has its own
 * connection, and writes from both must wait their turn instead of failing with SQLITE_BUSY,
 * which users would see as 503s. Two connections in one process take the same file locks as two
 * processes do.
 */
describe('two connections sharing one SQLite file', () => {
  const opened: Knex[] = [];
  let dataDir: string;
  afterEach(async () => {
    for (const db of opened.splice(0)) await db.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  const open = async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'griffin-shared-sqlite-'));
    const [a, b] = [connect({ dataDir }), connect({ dataDir })];
    opened.push(a, b);
    await a.schema.createTable('counters', (t) => {
      t.string('name').primary();
      t.integer('value').notNullable();
    });
    await a('counters').insert({ name: 'n', value: 0 });
    return [a, b];
  };

  it('read-then-write transactions and single writes from both all succeed, and none is lost', { timeout: 60_000 }, async () => {
    const [a, b] = await open();
    const ROUNDS = 60;
    const increments = (db: Knex) =>
      Array.from({ length: ROUNDS }, async () => {
        // A transaction that reads before it writes: the pattern of a claim or a state change.
        await db.transaction(async (trx) => {
          const { value } = await trx('counters').where({ name: 'n' }).first();
          await trx('counters').where({ name: 'n' }).update({ value: value + 1 });
        });
        // A write outside any transaction.
        await db('counters').where({ name: 'n' }).increment('value', 1);
      });
    const outcomes = await Promise.allSettled([...increments(a), ...increments(b)]);
    const failures = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected').map((o) => String(o.reason?.code ?? o.reason));
    expect(failures).toEqual([]);
    // Every read-then-write saw the value before it and nothing overwrote another's increment.
    expect((await a('counters').where({ name: 'n' }).first()).value).toBe(ROUNDS * 2 * 2);
  });
});
