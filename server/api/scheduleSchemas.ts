import { z } from 'zod';
import { OverlapPolicy } from '../domain/index.ts';
import { PageQuery } from './params.ts';

/* Path and query schemas of /api/v1/schedules; the request bodies are the domain's (domain/scheduleInputs.ts). */

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

