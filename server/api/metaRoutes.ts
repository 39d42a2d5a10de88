import type { Router } from 'express';
import type { Knex } from 'knex';
import { pendingMigrations } from '../db/migrate.ts';

/** Unauthenticated probes for orchestrators: alive, and ready (database reachable, schema current). */
export function mountHealth(router: Router, db: Knex): void {
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    try {
      await db.raw('select 1');
      const pending = await pendingMigrations(db);
      if (pending.length) {
        res.status(503).json({ status: 'not ready', reason: `migrations pending: ${pending.join(', ')}` });
        return;
      }
      res.json({ status: 'ready' });
    } catch (error) {
      res.status(503).json({ status: 'not ready', reason: `database unreachable: ${(error as Error).message}` });
    }
  });
}
