import fs from 'node:fs';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { SharedFileSqliteClient } from './sqliteClient.ts';

export type Dialect = 'sqlite' | 'postgres';

export function dialectOf(db: Knex): Dialect {
  const client = String(db.client.config.client);
  return client === 'pg' ? 'postgres' : 'sqlite';
}

/**
 * One Knex instance per process. SQLite gets a single connection: SQLite serialises writers
 * anyway, and one connection turns "database is locked" errors into a plain queue. Between
 * processes sharing the file, transactions begin IMMEDIATE (see sqliteClient.ts).
 */
export function connect(options: { databaseUrl?: string; dataDir: string }): Knex {
  if (options.databaseUrl) {
    return knexFactory({
      client: 'pg',
      connection: options.databaseUrl,
      pool: { min: 0, max: 10 },
      acquireConnectionTimeout: 10_000,
    });
  }
  fs.mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const filename = path.join(options.dataDir, 'griffin.sqlite');
  ownerOnlyDatabaseFiles(filename);
  return knexFactory({
    client: SharedFileSqliteClient as unknown as typeof Knex.Client,
    connection: { filename },
    useNullAsDefault: true,
    pool: {
      min: 1,
      max: 1,
      afterCreate(conn: { run: (sql: string, cb: (err: Error | null) => void) => void }, done: (err: Error | null, conn: unknown) => void) {
        const pragmas = [
          // A rollback journal, not WAL: WAL shares its index through an mmap of
          // griffin.sqlite-shm, and through that mapping a truncated -shm, or a file system that
          // turned read-only, killed the process with SIGBUS and no log line. With plain reads and
          // writes the same faults are SQLITE_IOERR / SQLITE_FULL / SQLITE_CANTOPEN: a 503. WAL's
          // gain, readers beside a writer, does not exist with one connection; a commit costs
          // about twice the fsync time instead (0.7 -> 1.3 ms measured on the CI disk).
          // An existing WAL database is converted on the first start.
          'PRAGMA journal_mode = DELETE',
          // Foreign keys are off by default in SQLite.
          'PRAGMA foreign_keys = ON',
          'PRAGMA busy_timeout = 5000',
        ];
        const next = (i: number) => (i === pragmas.length ? done(null, conn) : conn.run(pragmas[i], (err) => (err ? done(err, conn) : next(i + 1))));
        next(0);
      },
    },
  });
}

/**
 * The database file is created 0600 before SQLite opens it, and an existing one (and its -wal and
 * -shm) is made 0600: SQLite gives the files it creates later the database file's mode.
 */
function ownerOnlyDatabaseFiles(filename: string): void {
  fs.closeSync(fs.openSync(filename, 'a', 0o600));
  for (const file of [filename, `${filename}-wal`, `${filename}-shm`, `${filename}-journal`]) {
    try {
      if (fs.statSync(file).mode & 0o077) fs.chmodSync(file, 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

/** True when the error is a unique-constraint violation, on either dialect. */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; errno?: number; message?: string };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT' && /UNIQUE/.test(e.message ?? '');
}

/** A database error that means "the store cannot serve this right now", with what an operator should look at. */
export interface StorageFault {
  /** The driver's code: SQLITE_FULL, a PostgreSQL SQLSTATE such as 53100, ECONNREFUSED, ... */
  code: string;
  hint: string;
}

const SQLITE_FAULTS: Record<string, string> = {
  SQLITE_BUSY: 'the database is locked by another writer; retry',
  SQLITE_LOCKED: 'the database is locked by another writer; retry',
  SQLITE_FULL: 'the disk holding the database is full; free space in the data directory',
  SQLITE_READONLY: 'the database is read-only for the service: check the owner and mode of the data directory and its griffin.sqlite* files',
  SQLITE_IOERR: 'reading or writing the database files failed: check the disk, whether the file system turned read-only, and the permissions of griffin.sqlite and griffin.sqlite-journal',
  SQLITE_CANTOPEN: 'a database file cannot be opened or created: check that the data directory exists, is writable by the service, and that its file system is not read-only',
  SQLITE_PROTOCOL: 'the database lock protocol failed, usually a transient race between processes; retry',
  SQLITE_NOMEM: 'SQLite ran out of memory',
};

/** PostgreSQL SQLSTATEs, by class (first two characters) or in full, that a retry may get past. */
const POSTGRES_FAULTS: Array<[RegExp, string]> = [
  [/^08/, 'the connection to PostgreSQL failed'],
  [/^53100$/, "PostgreSQL's disk is full"],
  [/^53300$/, 'PostgreSQL has no free connection slots'],
  [/^53/, 'PostgreSQL is short of resources (memory, disk or connections)'],
  [/^57P0[1-3]$/, 'PostgreSQL is shutting down, restarting or not yet accepting connections'],
  [/^57014$/, 'PostgreSQL cancelled the statement (statement timeout or an operator)'],
  [/^58/, 'PostgreSQL reported an I/O error on its own files'],
  [/^25006$/, 'PostgreSQL accepts only reads (a standby, or default_transaction_read_only)'],
  [/^(40001|40P01)$/, 'a concurrent transaction conflicted with this one; retry'],
];

const NETWORK_FAULTS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * Classifies an error from either database as a storage fault (the request may succeed later:
 * 503) or not (undefined: a bug, 500). A full or unwritable SQLite file, a PostgreSQL that is
 * down, full or read-only all land here.
 */
export function storageFault(error: unknown): StorageFault | undefined {
  const e = error as { code?: unknown; message?: unknown } | null | undefined;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : '';
  if (SQLITE_FAULTS[code]) return { code, hint: SQLITE_FAULTS[code] };
  if (/^[0-9A-Z]{5}$/.test(code)) {
    const match = POSTGRES_FAULTS.find(([pattern]) => pattern.test(code));
    if (match) return { code, hint: match[1] };
  }
  if (NETWORK_FAULTS.has(code)) return { code, hint: 'the database server cannot be reached' };
  if (/Knex: Timeout acquiring a connection/.test(message)) return { code: 'POOL_TIMEOUT', hint: 'no database connection became free in time; the database is slow or unreachable' };
  // "not queryable": pg refuses further queries (e.g. the ROLLBACK) on a client whose connection broke mid-transaction.
  if (/Connection terminated|Client has encountered a connection error and is not queryable/.test(message)) {
    return { code: 'CONNECTION_LOST', hint: 'the connection to the database broke during the request' };
  }
  return undefined;
}
