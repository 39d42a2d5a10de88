import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { connect } from '../../server/db/connect.ts';
import { migrateLatest } from '../../server/db/migrate.ts';

export type DatabaseId = 'sqlite' | 'postgres';

/**
 * Every store and service test runs on both dialects. PostgreSQL comes from the test setup
 * (tests/setup/ensure.sh exports GRIFFIN_TEST_PG_URL); without it the suite fails rather than
 * quietly testing one database, unless GRIFFIN_TEST_SKIP_PG=1 is set on purpose.
 */
export function supportedDatabases(): DatabaseId[] {
  if (process.env.GRIFFIN_TEST_PG_URL) return ['sqlite', 'postgres'];
  if (process.env.GRIFFIN_TEST_SKIP_PG === '1') return ['sqlite'];
  throw new Error('GRIFFIN_TEST_PG_URL is not set: run the suite with `npm test` (it starts PostgreSQL), or set GRIFFIN_TEST_SKIP_PG=1');
}

export interface TestDatabase {
  id: DatabaseId;
  db: Knex;
  /** postgres://... with the schema on its search path, for child processes; undefined for SQLite. */
  url?: string;
  dataDir: string;
  destroy(): Promise<void>;
}

/** A fresh, migrated database: a new SQLite file, or a new PostgreSQL schema. */
export async function createTestDatabase(id: DatabaseId, options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `griffin-test-${id}-`));
  let db: Knex;
  let url: string | undefined;
  let dropSchema: (() => Promise<void>) | undefined;
  if (id === 'sqlite') {
    db = connect({ dataDir });
  } else {
    const base = process.env.GRIFFIN_TEST_PG_URL!;
    const schema = `t_${crypto.randomBytes(6).toString('hex')}`;
    const admin = knexFactory({ client: 'pg', connection: base, pool: { min: 0, max: 1 } });
    await admin.raw('CREATE SCHEMA ??', [schema]);
    await admin.destroy();
    url = `${base}${base.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    db = connect({ databaseUrl: url, dataDir });
    dropSchema = async () => {
      const cleanup = knexFactory({ client: 'pg', connection: base, pool: { min: 0, max: 1 } });
      await cleanup.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [schema]);
      await cleanup.destroy();
    };
  }
  if (options.migrate !== false) await migrateLatest(db);
  return {
    id,
    db,
    url,
    dataDir,
    async destroy() {
      await db.destroy();
      await dropSchema?.();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
