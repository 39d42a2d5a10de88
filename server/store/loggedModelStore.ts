import type { Knex } from 'knex';
import { isUniqueViolation } from '../db/connect.ts';
import { fromJson, nowIso, toJson } from './rows.ts';

/** An MLflow logged model: its files are the directory `artifactPath` of its run's artifacts. */
export interface LoggedModel {
  id: string;
  runId: string;
  experimentId: string;
  name: string;
  artifactPath: string;
  modelType: string | null;
  status: string;
  tags: Record<string, string>;
  params: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

interface LoggedModelRow {
  id: string;
  run_id: string;
  experiment_id: string;
  name: string;
  artifact_path: string;
  model_type: string | null;
  status: string;
  tags: string;
  params: string;
  created_at: string;
  updated_at: string;
}

const fromRow = (r: LoggedModelRow): LoggedModel => ({
  id: r.id,
  runId: r.run_id,
  experimentId: r.experiment_id,
  name: r.name,
  artifactPath: r.artifact_path,
  modelType: r.model_type,
  status: r.status,
  tags: fromJson(r.tags, {}),
  params: fromJson(r.params, {}),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class LoggedModelStore {
  constructor(private readonly db: Knex) {}

  /** Undefined when the run already has a model in that directory. */
  async insert(model: Omit<LoggedModel, 'createdAt' | 'updatedAt'>): Promise<LoggedModel | undefined> {
    const now = nowIso();
    try {
      await this.db('tracking_logged_models').insert({
        id: model.id,
        run_id: model.runId,
        experiment_id: model.experimentId,
        name: model.name,
        artifact_path: model.artifactPath,
        model_type: model.modelType,
        status: model.status,
        tags: toJson(model.tags),
        params: toJson(model.params),
        created_at: now,
        updated_at: now,
      });
    } catch (error) {
      if (isUniqueViolation(error)) return undefined;
      throw error;
    }
    return this.get(model.id);
  }

  async get(id: string): Promise<LoggedModel | undefined> {
    const row = (await this.db('tracking_logged_models').where({ id }).first()) as LoggedModelRow | undefined;
    return row && fromRow(row);
  }

  async setStatus(id: string, status: string): Promise<void> {
    await this.db('tracking_logged_models').where({ id }).update({ status, updated_at: nowIso() });
  }

  async ofRun(runId: string): Promise<LoggedModel[]> {
    return ((await this.db('tracking_logged_models').where({ run_id: runId }).orderBy('created_at')) as LoggedModelRow[]).map(fromRow);
  }
}
