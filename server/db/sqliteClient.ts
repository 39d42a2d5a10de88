import { createRequire } from 'node:module';

/**
 * Knex's sqlite3 client with transactions that begin IMMEDIATE, for service processes that share
 * one SQLite file (replicas on a host, the CLI beside the service).
 *
 * Knex's plain BEGIN takes the write lock only at the transaction's first write. A transaction
 * that has read and then wants to write, while another process holds the write lock and waits for
 * readers to leave, is a deadlock, and SQLite answers it with SQLITE_BUSY at once instead of
 * calling the busy handler: users saw 503s from two processes submitting runs together. Taken
 * first, the write lock is only ever waited for, within busy_timeout. Single statements outside a
 * transaction do not need this: SQLite waits for their locks through the busy handler.
 */
const require = createRequire(import.meta.url);
// Knex exports no types for its dialect classes; these are the parts used here.
const SqliteClient = require('knex/lib/dialects/sqlite3/index.js') as new (config: unknown) => KnexSqliteClient;
const SqliteTransaction = require('knex/lib/dialects/sqlite3/execution/sqlite-transaction.js') as new (...args: unknown[]) => KnexTransaction;

interface KnexSqliteClient {
  transaction(...args: unknown[]): KnexTransaction;
}
interface KnexTransaction {
  query(connection: unknown, sql: string): Promise<unknown>;
  begin(connection: unknown): Promise<unknown>;
}

class ImmediateTransaction extends SqliteTransaction {
  override begin(connection: unknown): Promise<unknown> {
    return this.query(connection, 'BEGIN IMMEDIATE;');
  }
}

export class SharedFileSqliteClient extends SqliteClient {
  override transaction(...args: unknown[]): KnexTransaction {
    return new ImmediateTransaction(this, ...args);
  }
}
