import { z } from 'zod';
import type { Run } from './entities.ts';

/**
 * The slice of time a run trains for: an Airflow DAG run's logical date and data interval, or a
 * schedule's fire time and the fire time before it. Stored in the run's trigger info; the
 * training process sees it as GRIFFIN_LOGICAL_DATE / GRIFFIN_DATA_INTERVAL_START / _END.
 */
export const TimeContext = z.object({
  logicalDate: z.string().nullable(),
  dataIntervalStart: z.string().nullable(),
  dataIntervalEnd: z.string().nullable(),
});
export type TimeContext = z.infer<typeof TimeContext>;

export const timeContextOf = (run: Pick<Run, 'triggerInfo'>): TimeContext | null => (run.triggerInfo?.timeContext as TimeContext | undefined) ?? null;

/** The training process's variables for a time context (none without one). */
export function timeContextEnvironment(context: TimeContext | null): Record<string, string> {
  if (!context) return {};
  const env: Record<string, string> = {};
  if (context.logicalDate) env.GRIFFIN_LOGICAL_DATE = context.logicalDate;
  if (context.dataIntervalStart) env.GRIFFIN_DATA_INTERVAL_START = context.dataIntervalStart;
  if (context.dataIntervalEnd) env.GRIFFIN_DATA_INTERVAL_END = context.dataIntervalEnd;
  return env;
}
