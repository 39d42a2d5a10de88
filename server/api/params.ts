import { z } from 'zod';
import { INT32_MAX, NAME, TRIGGERS } from '../domain/vocabulary.ts';
import { RUN_STATES } from '../domain/lifecycle.ts';

/* Path, query and paging schemas of the routes; request bodies are the domain's (domain/inputs.ts). */

/** Path parameters of one version: /{name}/versions/{version}. */
export const NameParams = z.object({ name: NAME });
export const VersionParams = NameParams.extend({ version: z.coerce.number().int().positive().max(INT32_MAX) });

export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  pageToken: z.string().max(500).optional(),
});

export const RunListQuery = PageQuery.extend({
  state: z.enum(RUN_STATES).optional(),
  workflow: NAME.optional(),
  trigger: z.enum(TRIGGERS).optional(),
  dagId: z.string().max(250).optional(),
  idempotencyKey: z.string().max(255).optional(),
  /** The runs nested in this run (MLflow child runs). */
  parentRunId: z.string().regex(/^[a-z0-9]{1,32}$/, 'is not a run id').optional(),
  /** latestMetrics: each run carries the last value of each of its metrics (the runs list's metric columns). */
  include: z.enum(['latestMetrics'], { message: 'must be "latestMetrics" (the only extra a run list can include)' }).optional(),
});

export const NameQuery = PageQuery.extend({ name: NAME.optional() });

export const LogQuery = z.object({
  cursor: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(4 * 1024 * 1024).default(256 * 1024),
  follow: z
    .enum(['true', 'false', '1', '0'])
    .default('false')
    .transform((v) => v === 'true' || v === '1'),
});

export const MetricQuery = z.object({ key: z.string().max(250).optional() });
/** `?force=true` saves a workflow version on a backend this server has not configured (with a warning). */
export const WorkflowCreateQuery = z.object({
  force: z
    .enum(['true', 'false', '1', '0'])
    .default('false')
    .transform((v) => v === 'true' || v === '1'),
});
export const DryRunQuery = z.object({
  dryRun: z
    .enum(['true', 'false', '1', '0'])
    .default('false')
    .transform((v) => v === 'true' || v === '1'),
});

