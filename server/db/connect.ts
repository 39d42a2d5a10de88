import fs from 'node:fs';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';

export type Dialect = 'sqlite' | 'postgres';

export function dialectOf(db: Knex): Dialect {
  const client = String(db.client.config.client);
  return client === 'pg' ? 'postgres' : 'sqlite';
}

/**
 * One Knex instance per process. SQLite gets a single connection: SQLite serialises writers
 * anyway, and one connection turns "database is locked" errors into a plain queue.
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
    client: 'sqlite3',
    connection: { filename },
    useNullAsDefault: true,
    pool: {
      min: 1,
      max: 1,
      afterCreate(conn: { run: (sql: string, cb: (err: Error | null) => void) => void }, done: (err: Error | null, conn: unknown) => void) {
        // WAL lets readers proceed during a write; foreign keys are off by default in SQLite.
        conn.run('PRAGMA journal_mode = WAL', (err) => {
          if (err) return done(err, conn);
          conn.run('PRAGMA foreign_keys = ON', (err2) => {
            if (err2) return done(err2, conn);
            conn.run('PRAGMA busy_timeout = 5000', (err3) => done(err3, conn));
          });
        });
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
