import { z } from 'zod';
import { EnvMap } from './secretSchemas.ts';

/*
 * The one definition of every request shape. Routers validate with these and the OpenAPI
 * document is generated from them (api/openapi.ts), so the two cannot disagree.
 */

export const NAME = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/, 'must be lowercase letters, digits, ".", "_" or "-", starting and ending with a letter or digit');

/**
 * The largest value an integer column holds on both databases (PostgreSQL `integer`): version
 * numbers and counts above it would fail inside the database instead of being refused here.
 */
export const INT32_MAX = 2_147_483_647;

/** A version number of a model, dataset, workflow or registered model. */
export const VERSION = z.number().int().positive().max(INT32_MAX);

/** "name" (latest version) or "name@3". */
export const VERSIONED_REF = z
  .string()
  .min(1)
  .max(220)
  .regex(/^[a-z0-9]([a-z0-9._-]*[a-z0-9])?(@[1-9][0-9]{0,9})?$/, 'must be "name" or "name@version"')
  .refine((ref) => !ref.includes('@') || Number(ref.slice(ref.indexOf('@') + 1)) <= INT32_MAX, `the version after "@" must be at most ${INT32_MAX}`);

export const BACKENDS = ['local', 'ray', 'kubernetes', 'kuberay'] as const;
export const Backend = z.enum(BACKENDS);
export const ROLES = ['viewer', 'editor', 'admin'] as const;
export const TRIGGERS = ['http', 'ui', 'cli', 'airflow', 'schedule'] as const;
export const RUN_STATES = ['queued', 'launching', 'running', 'cancelling', 'succeeded', 'failed', 'cancelled'] as const;

const JsonObject = z.record(z.string(), z.unknown());

export const Resources = z.strictObject({
  cpu: z.number().positive().max(1024).optional(),
  memoryMb: z.number().int().positive().max(4_194_304).optional(),
  gpu: z.number().int().min(0).max(64).optional(),
  customResources: z.record(z.string(), z.number().nonnegative()).optional(),
  /** Ray worker pods beside the head (kuberay backend), each with the resources above. */
  workers: z.number().int().min(0).max(1000).optional(),
});

export const RegisterSpec = z.strictObject({
  modelName: NAME,
  aliases: z.array(z.string().regex(/^[a-z][a-z0-9_-]{0,99}$/)).max(20).default([]),
  tags: z.record(z.string(), z.string()).default({}),
});

export const ModelCreate = z.strictObject({
  name: NAME,
  framework: z.string().min(1).max(100),
  codeUri: z.string().min(1).max(1000),
  entrypoint: z.string().min(1).max(2000),
  defaultHyperparameters: JsonObject.default({}),
  hyperparameterSchema: JsonObject.default({}),
  description: z.string().max(10_000).default(''),
});

export const FeatureCreate = z.strictObject({
  name: NAME,
  entityKey: z.string().min(1).max(200),
  dtype: z.enum(['float', 'int', 'bool', 'string', 'timestamp', 'category']),
  source: z.string().min(1).max(1000),
  description: z.string().max(10_000).default(''),
});

export const DatasetCreate = z.strictObject({
  name: NAME,
  uri: z.string().min(1).max(1000),
  format: z.enum(['csv', 'parquet', 'jsonl', 'tfrecord', 'other']).default('csv'),
  features: z.array(NAME).max(1000).default([]),
  label: z.string().max(200).optional(),
  split: z.record(z.string(), z.number().min(0).max(1)).default({ train: 1 }),
  description: z.string().max(10_000).default(''),
});

export const RuntimeCreate = z.strictObject({
  name: NAME,
  image: z.string().max(500).optional(),
  pythonVersion: z.string().max(50).optional(),
  rayVersion: z.string().max(50).optional(),
  localInterpreter: z.string().max(500).optional(),
  frameworks: z.array(z.string().max(100)).default([]),
  backends: z.array(Backend).min(1).default(['local']),
  description: z.string().max(10_000).default(''),
});

/** What a workflow version pins; an inline run spec has the same shape without a name. */
export const WorkflowSpec = z.strictObject({
  model: VERSIONED_REF,
  dataset: VERSIONED_REF,
  runtime: NAME,
  backend: Backend.default('local'),
  entrypoint: z.string().min(1).max(2000).optional(),
  hyperparameters: JsonObject.default({}),
  resources: Resources.default({}),
  timeoutSeconds: z.number().int().positive().max(7 * 24 * 3600).default(3600),
  register: RegisterSpec.optional(),
  /** Environment variables: literals, or {"secret": "<name>"} resolved at launch. */
  env: EnvMap.optional(),
});

export const WorkflowCreate = WorkflowSpec.extend({
  name: NAME,
  description: z.string().max(10_000).default(''),
});

export const RunOverrides = z.strictObject({
  hyperparameters: JsonObject.optional(),
  datasetVersion: VERSION.optional(),
  resources: Resources.optional(),
  timeoutSeconds: z.number().int().positive().max(7 * 24 * 3600).optional(),
  backend: Backend.optional(),
});

export const AirflowContext = z.strictObject({
  dagId: z.string().min(1).max(250),
  dagRunId: z.string().min(1).max(250),
  taskId: z.string().min(1).max(250),
  tryNumber: z.number().int().min(0).max(INT32_MAX).optional(),
  mapIndex: z.number().int().min(-1).max(INT32_MAX).default(-1),
});

export const RunCreate = z
  .strictObject({
    workflow: VERSIONED_REF.optional(),
    spec: WorkflowSpec.optional(),
    overrides: RunOverrides.default({}),
    trigger: z.enum(['http', 'ui', 'cli', 'airflow']).default('http'),
    airflow: AirflowContext.optional(),
    rerunIfFailed: z.boolean().default(false),
  })
  .refine((body) => (body.workflow === undefined) !== (body.spec === undefined), {
    message: 'give exactly one of "workflow" (a workflow name or name@version) or "spec" (an inline workflow spec)',
    path: ['workflow'],
  });

export const RunCancel = z.strictObject({
  reason: z.string().max(1000).optional(),
  /** The Airflow try asking for the cancel; a newer try waiting on the run then knows it was not the user. */
  tryNumber: z.number().int().min(0).max(1_000_000).optional(),
});

export const LogCursorSet = z.strictObject({
  /** A byte cursor of the run's log, as GET /runs/{id}/logs returns it in nextCursor. */
  cursor: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
});

export const RunConsume = z.strictObject({
  /** The Airflow try that finished with the run. */
  tryNumber: z.number().int().min(0).max(1_000_000).optional(),
});

export const ModelVersionUpdate = z
  .strictObject({
    tags: z.record(z.string(), z.string().max(1000)).optional(),
    description: z.string().max(10_000).optional(),
  })
  .refine((body) => body.tags !== undefined || body.description !== undefined, { message: 'give "tags" or "description" to change', path: ['tags'] });

export const MetricIn = z.strictObject({
  key: z.string().min(1).max(250).regex(/^[\w./ -]+$/, 'may hold letters, digits, "_", "-", ".", "/" and spaces'),
  value: z.number().finite(),
  step: z.number().int().min(0).default(0),
  // Milliseconds since the epoch, up to the last instant a Date can hold (found by fuzzing: larger was a 500).
  timestamp: z.union([z.number().int().nonnegative().max(8_640_000_000_000_000), z.iso.datetime({ offset: true })]).optional(),
});

export const MetricsBatch = z.strictObject({
  metrics: z.array(MetricIn).min(1).max(1000),
  // Chosen by the sender and kept across its retries: a batch already stored under it is not stored again.
  batchId: z.string().regex(/^[\x21-\x7e]{1,200}$/, '1 to 200 printable ASCII characters without spaces').optional(),
});

export const ModelVersionCreate = z
  .strictObject({
    runId: z.string().min(1).max(32).optional(),
    artifactUri: z.string().min(1).max(2000).optional(),
    aliases: z.array(z.string().regex(/^[a-z][a-z0-9_-]{0,99}$/)).max(20).default([]),
    tags: z.record(z.string(), z.string().max(1000)).default({}),
    description: z.string().max(10_000).default(''),
  })
  .refine((b) => b.runId !== undefined || b.artifactUri !== undefined, {
    message: 'give "runId" (a Griffin run) or "artifactUri"',
    path: ['runId'],
  });

export const RegisteredModelCreate = z.strictObject({
  name: NAME,
  description: z.string().max(10_000).default(''),
  tags: z.record(z.string(), z.string().max(1000)).default({}),
});

export const AliasSet = z.strictObject({ version: VERSION });

export const TokenCreate = z.strictObject({
  name: z.string().min(1).max(200),
  role: z.enum(ROLES),
});

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
export const DryRunQuery = z.object({
  dryRun: z
    .enum(['true', 'false', '1', '0'])
    .default('false')
    .transform((v) => v === 'true' || v === '1'),
});

export type WorkflowSpecInput = z.infer<typeof WorkflowSpec>;
export type RunCreateInput = z.infer<typeof RunCreate>;
export type RunOverridesInput = z.infer<typeof RunOverrides>;
export type ResourcesInput = z.infer<typeof Resources>;
export type RegisterSpecInput = z.infer<typeof RegisterSpec>;
