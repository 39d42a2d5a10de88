import type { Knex } from 'knex';
import { isUniqueViolation } from '../db/connect.ts';
import type { AttemptUsage } from '../domain/usage.ts';
import { toNumber } from './rows.ts';

interface UsageRow {
  run_id: string;
  attempt: number;
  workflow: string | null;
  backend: string;
  started_at: string;
  ended_at: string;
  wall_seconds: number;
  cpu_seconds: number;
  memory_mb_seconds: number;
  gpu_seconds: number;
}

const fromRow = (r: UsageRow): AttemptUsage => ({
  attempt: toNumber(r.attempt),
  startedAt: r.started_at,
  endedAt: r.ended_at,
  wallSeconds: toNumber(r.wall_seconds),
  resourceSeconds: { cpu: toNumber(r.cpu_seconds), memoryMb: toNumber(r.memory_mb_seconds), gpu: toNumber(r.gpu_seconds) },
});

export class UsageStore {
  constructor(private readonly db: Knex) {}

  /** Stores an ended attempt's usage once; false when it was stored already (another replica, a repeated pass). */
  async record(runId: string, workflow: string | null, backend: string, usage: AttemptUsage): Promise<boolean> {
    try {
      await this.db('run_usage').insert({
        run_id: runId,
        attempt: usage.attempt,
        workflow,
        backend,
        started_at: usage.startedAt,
        ended_at: usage.endedAt,
        wall_seconds: usage.wallSeconds,
        cpu_seconds: usage.resourceSeconds.cpu,
        memory_mb_seconds: usage.resourceSeconds.memoryMb,
        gpu_seconds: usage.resourceSeconds.gpu,
      });
      return true;
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }

  async ofRun(runId: string): Promise<AttemptUsage[]> {
    return ((await this.db('run_usage').where({ run_id: runId }).orderBy('attempt')) as UsageRow[]).map(fromRow);
  }
}
