import { z } from 'zod';
import { ALIAS, Backend, CLIENT_TRIGGERS, INT32_MAX, JsonObject, NAME, RoleName, VERSION, VERSIONED_REF, type Trigger } from './vocabulary.ts';
import { EnvMap } from './secrets.ts';
import { Priority, QueueName } from './queues.ts';
import { MAX_ATTEMPTS_LIMIT, MAX_RETRY_BACKOFF_SECONDS, RETRY_ON } from './retryPolicy.ts';

/*
 * The one definition of every request body. Routers validate with these, services take the types
 * inferred from them, and the OpenAPI document is generated from them (api/openapi.ts), so none
 * of the three can disagree. Path, query and paging schemas live with the routes (api/params.ts).
 */

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
  aliases: z.array(ALIAS).max(20).default([]),
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
  /** Where the pins came from (runtimes/<name>/requirements.lock for the curated runtimes). */
  lockFile: z.string().max(500).optional(),
  /** Exact pins (name==version) of every package; the local backend builds a venv of them on first use. */
  packages: z.array(z.string().min(1).max(300)).max(2000).default([]),
  /** What a Ray job of this runtime installs through runtime_env (exact pins of the lock). */
  rayRuntimeEnv: z.strictObject({ pip: z.array(z.string().min(1).max(300)).max(500).default([]) }).optional(),
});


/*
 * Retries (retryPolicy.ts). Optional with no default here, so that a request that does not name
 * them means what it meant before they existed; the resolved spec carries the defaults.
 */
const MaxAttempts = z
  .number({ message: `must be a whole number of attempts from 1 to ${MAX_ATTEMPTS_LIMIT}` })
  .int({ message: `must be a whole number of attempts from 1 to ${MAX_ATTEMPTS_LIMIT}` })
  .min(1, { message: `must be at least 1 (the first attempt counts; 1 means no retries)` })
  .max(MAX_ATTEMPTS_LIMIT, { message: `must be at most ${MAX_ATTEMPTS_LIMIT}` });
const RetryOnInput = z.enum(RETRY_ON, { message: `must be one of ${RETRY_ON.map((v) => `"${v}"`).join(', ')} ("infrastructure": a signal, OOM, an evicted pod, a lost node or backend; "any": every failure)` });
const RetryBackoffSeconds = z
  .number({ message: 'must be a number of seconds' })
  .min(0, { message: 'must be 0 or more seconds' })
  .max(MAX_RETRY_BACKOFF_SECONDS, { message: `must be at most ${MAX_RETRY_BACKOFF_SECONDS} seconds` });
const RetryFields = {
  /** Attempts in all, the first included (1: no retries). */
  maxAttempts: MaxAttempts.optional(),
  /** Which failures start another attempt. */
  retryOn: RetryOnInput.optional(),
  /** The wait before attempt 2, doubled for each later one, with jitter. */
  retryBackoffSeconds: RetryBackoffSeconds.optional(),
};

/** A registered model a run reads (batch scoring): its version is resolved from the alias when the run is submitted. */
export const InputModel = z.strictObject({
  name: NAME,
  alias: ALIAS.default('production'),
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
  inputModel: InputModel.optional(),
  /** Environment variables: literals, or {"secret": "<name>"} resolved at launch. */
  env: EnvMap.optional(),
  /** The queue the run waits in; absent: "default". */
  queue: QueueName.optional(),
  /** Absent: the queue's defaultPriority. */
  priority: Priority.optional(),
  ...RetryFields,
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
  /** Another queue than the spec's. */
  queue: QueueName.optional(),
  /** Another priority than the spec's (or the queue's default). */
  priority: Priority.optional(),
  ...RetryFields,
  /** Another alias, or an exact version, of the workflow's input model. */
  inputModel: z
    .strictObject({ alias: ALIAS.optional(), version: VERSION.optional() })
    .refine((m) => m.alias === undefined || m.version === undefined, { message: 'give "alias" or "version", not both', path: ['version'] })
    .optional(),
});

export const AirflowContext = z.strictObject({
  dagId: z.string().min(1).max(250),
  dagRunId: z.string().min(1).max(250),
  taskId: z.string().min(1).max(250),
  tryNumber: z.number().int().min(0).max(INT32_MAX).optional(),
  mapIndex: z.number().int().min(-1).max(INT32_MAX).default(-1),
});

/** An instant with its offset (Airflow sends e.g. 2026-12-01T00:00:00+00:00), stored as UTC ISO-8601. */
const INSTANT = z
  .string()
  .max(64)
  .datetime({ offset: true, message: 'must be an ISO-8601 date-time with an offset, e.g. 2026-12-01T00:00:00Z' })
  .transform((s) => new Date(s).toISOString());

export const TimeContextInput = z
  .strictObject({
    logicalDate: INSTANT.nullable().default(null),
    dataIntervalStart: INSTANT.nullable().default(null),
    dataIntervalEnd: INSTANT.nullable().default(null),
  })
  .refine((c) => (c.dataIntervalStart === null) === (c.dataIntervalEnd === null), { message: 'give both ends of the data interval, or neither', path: ['dataIntervalEnd'] })
  .refine((c) => c.dataIntervalStart === null || c.dataIntervalEnd === null || c.dataIntervalStart <= c.dataIntervalEnd, { message: 'the data interval ends before it starts', path: ['dataIntervalEnd'] });

export const RunCreate = z
  .strictObject({
    workflow: VERSIONED_REF.optional(),
    spec: WorkflowSpec.optional(),
    overrides: RunOverrides.default({}),
    trigger: z.enum(CLIENT_TRIGGERS).default('http'),
    airflow: AirflowContext.optional(),
    /** The logical date and data interval the run trains for (an Airflow DAG run's, a backfill's). */
    timeContext: TimeContextInput.optional(),
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
    aliases: z.array(ALIAS).max(20).default([]),
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

export const AliasSet = z.strictObject({
  version: VERSION,
  /** Compare-and-set: move only if the alias points at this version now; null: only if it is unset. */
  expectedVersion: VERSION.nullable().optional(),
  reason: z.string().max(2000).default(''),
});

export const TokenCreate = z.strictObject({
  name: z.string().min(1).max(200),
  role: RoleName,
});

export type WorkflowSpecInput = z.infer<typeof WorkflowSpec>;
export type RunCreateInput = z.infer<typeof RunCreate>;
/**
 * A run to store, from whoever submits it: a client's request (RunCreate, whose trigger names the
 * client) or a schedule firing, whose trigger is "schedule" and whose triggerInfo names the firing.
 */
export type RunSubmission = Omit<RunCreateInput, 'trigger'> & { trigger: Trigger; triggerInfo?: Record<string, unknown> };
export type RunOverridesInput = z.infer<typeof RunOverrides>;

export type ModelCreateInput = z.infer<typeof ModelCreate>;
export type FeatureCreateInput = z.infer<typeof FeatureCreate>;
export type DatasetCreateInput = z.infer<typeof DatasetCreate>;
export type RuntimeCreateInput = z.infer<typeof RuntimeCreate>;
export type WorkflowCreateInput = z.infer<typeof WorkflowCreate>;
export type ModelVersionCreateInput = z.infer<typeof ModelVersionCreate>;
