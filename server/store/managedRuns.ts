import type { Knex } from 'knex';
import { EXTERNAL_BACKEND } from '../domain/index.ts';

/**
 * The runs Griffin's workers queue, launch and reconcile: every run but the external ones the
 * MLflow API creates, which train in their client's process, hold no queue capacity and end when
 * their client says so. Every worker-side query starts here, so none can forget the exclusion.
 */
export function managedRuns(db: Knex | Knex.Transaction): Knex.QueryBuilder {
  return db('runs').whereNot('backend', EXTERNAL_BACKEND);
}
