import { z } from 'zod';
import { cronProblem, timezoneProblem } from '../services/cron.ts';
import { NAME, RunOverrides, VERSIONED_REF } from '../domain/index.ts';
import { PageQuery } from './params.ts';

/*
 * Request shapes of /api/v1/schedules. Cron and time zone are checked here, with the same
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

export const OverlapPolicy = z
  .enum(['skip', 'allow', 'cancel_previous'])
  .describe('skip: no new run while a run of this schedule is active; allow: start anyway; cancel_previous: cancel active runs, then start');

export const CatchUpPolicy = z
  .enum(['skip', 'run_once'])
  .describe('fire times missed while no replica ran, or while paused: skip them (recorded once), or run once for all of them');

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

export const ScheduleParams = z.object({
  id: z
    .string()
    .max(200)
    .regex(/^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/, 'is not a schedule id or name'),
});

export const ScheduleListQuery = PageQuery.extend({
  enabled: z
    .enum(['true', 'false'])
    .optional()
    .transform((v) => (v === undefined ? undefined : v === 'true')),
});

export const ScheduleGetQuery = z.object({
  next: z.coerce.number().int().min(0).max(100).default(5).describe('how many upcoming fire times to show'),
});

export const ScheduleTriggerQuery = z.object({
  overlapPolicy: OverlapPolicy.optional().describe("this firing's overlap policy instead of the schedule's"),
});

export type ScheduleCreateInput = z.infer<typeof ScheduleCreate>;
export type SchedulePatchInput = z.infer<typeof SchedulePatch>;
