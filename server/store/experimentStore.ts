import type { Knex } from 'knex';
import { isUniqueViolation } from '../db/connect.ts';
import { nowIso } from './rows.ts';

/** A named experiment an MLflow user created; workflows are experiments without a row here. */
export interface NamedExperiment {
  id: number;
  name: string;
  createdAt: string;
}

interface ExperimentRow {
  id: number;
  name: string;
  created_at: string;
}

const fromRow = (r: ExperimentRow): NamedExperiment => ({ id: Number(r.id), name: r.name, createdAt: r.created_at });

export class ExperimentStore {
  constructor(private readonly db: Knex) {}

  /** Undefined when the name is taken. */
  async create(name: string): Promise<NamedExperiment | undefined> {
    try {
      await this.db('tracking_experiments').insert({ name, created_at: nowIso() });
    } catch (error) {
      if (isUniqueViolation(error)) return undefined;
      throw error;
    }
    return this.byName(name);
  }

  async byId(id: number): Promise<NamedExperiment | undefined> {
    const row = (await this.db('tracking_experiments').where({ id }).first()) as ExperimentRow | undefined;
    return row && fromRow(row);
  }

  async byName(name: string): Promise<NamedExperiment | undefined> {
    const row = (await this.db('tracking_experiments').where({ name }).first()) as ExperimentRow | undefined;
    return row && fromRow(row);
  }

  async list(limit: number): Promise<NamedExperiment[]> {
    return ((await this.db('tracking_experiments').orderBy('id').limit(limit)) as ExperimentRow[]).map(fromRow);
  }
}
