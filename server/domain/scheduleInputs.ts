import { z } from 'zod';
import { cronProblem, timezoneProblem } from './cron.ts';
import { CatchUpPolicy, OverlapPolicy } from './entities.ts';
import { RunOverrides } from './inputs.ts';
import { NAME, VERSIONED_REF } from './vocabulary.ts';

/*
 * Request bodies of /api/v1/schedules (their path and query schemas are api/scheduleSchemas.ts). Cron and time zone are checked here, with the same
 * functions the scheduler relies on, so a bad one is a 400 naming "cron" or "timezone".
 */

const problem = (check: (value: string) => string | undefined) => (value: string, ctx: z.RefinementCtx) => {
  const message = check(value);
  if (message) ctx.addIssue({ code: 'custom', message });
};

export const CronExpression = z
  .string()
  .min(1)
  .max(200)
  .superRefine(problem(cronProblem))
  .transform((v) => v.trim().split(/\s+/).join(' '))
  .describe('5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), e.g. "0 3 * * *"');

export const TimeZone = z.string().min(1).max(100).superRefine(problem(timezoneProblem)).describe('IANA time zone the cron expression is read in');

const fields = {
  name: NAME,
  description: z.string().max(10_000),
  cron: CronExpression,
  timezone: TimeZone,
  workflow: VERSIONED_REF,
  overrides: RunOverrides,
  enabled: z.boolean(),
  overlapPolicy: OverlapPolicy,
  catchUpPolicy: CatchUpPolicy,
  maxConcurrentRuns: z.number().int().min(1).max(1000).nullable().describe('at most this many active runs of this schedule; null: no limit'),
};

export const ScheduleCreate = z.strictObject({
  ...fields,
  description: fields.description.default(''),
  timezone: fields.timezone.default('UTC'),
  overrides: fields.overrides.default({}),
  enabled: fields.enabled.default(true),
  overlapPolicy: fields.overlapPolicy.default('skip'),
  catchUpPolicy: fields.catchUpPolicy.default('run_once'),
  maxConcurrentRuns: fields.maxConcurrentRuns.default(null),
});

export const SchedulePatch = z.strictObject({
  name: fields.name.optional(),
  description: fields.description.optional(),
  cron: fields.cron.optional(),
  timezone: fields.timezone.optional(),
  workflow: fields.workflow.optional(),
  overrides: fields.overrides.optional(),
  enabled: fields.enabled.optional(),
  overlapPolicy: fields.overlapPolicy.optional(),
  catchUpPolicy: fields.catchUpPolicy.optional(),
  maxConcurrentRuns: fields.maxConcurrentRuns.optional(),
});

export type ScheduleCreateInput = z.infer<typeof ScheduleCreate>;
export type SchedulePatchInput = z.infer<typeof SchedulePatch>;
