import { z } from 'zod';
import { RUN_STATES, TRIGGERS } from './schemas.ts';

/*
 * Response shapes, for the OpenAPI document (a route's `response`). Objects are open
 * (z.looseObject): a field added later is not a breaking change for clients reading these.
 */

const Timestamp = z.string().describe('ISO 8601 time');

export const MetricPoint = z.looseObject({ key: z.string(), value: z.number(), step: z.number().int(), timestamp: Timestamp });
const LatestMetric = z.looseObject({ value: z.number(), step: z.number().int(), timestamp: Timestamp });

export const RunViewResponse = z.looseObject({
  id: z.string(),
  state: z.enum(RUN_STATES),
  terminal: z.boolean(),
  attempt: z.number().int(),
  workflow: z.looseObject({ name: z.string(), version: z.number().int() }).nullable(),
  spec: z.looseObject({ hyperparameters: z.record(z.string(), z.unknown()) }),
  backend: z.string(),
  trigger: z.enum(TRIGGERS),
  reason: z.string().nullable(),
  createdAt: Timestamp,
  startedAt: Timestamp.nullable(),
  finishedAt: Timestamp.nullable(),
  url: z.string(),
  artifactUri: z.string(),
  modelVersion: z.looseObject({ name: z.string(), version: z.number().int() }).nullable(),
  latestMetrics: z.record(z.string(), LatestMetric).optional().describe('the last value of each metric (highest step); on a run, and on the list with include=latestMetrics'),
});

export const RunPageResponse = z.looseObject({ items: z.array(RunViewResponse), nextPageToken: z.string().nullable() });
export const MetricListResponse = z.looseObject({ items: z.array(MetricPoint) });
