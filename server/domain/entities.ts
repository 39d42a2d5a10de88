import { z } from 'zod';
import { ALIAS, Backend, JsonObject, RoleName, RunBackend, TriggerName } from './vocabulary.ts';
import { RUN_STATES } from './lifecycle.ts';
import { RegisterSpec, Resources } from './inputs.ts';
import { EnvMap } from './secrets.ts';
import { RetryOn } from './retryPolicy.ts';

/*
 * The entities as the services hold them, as zod schemas with their types inferred. The schemas
 * describe what is stored and returned (never what a client may send: that is inputs.ts), and the
 * response views (views.ts) and the OpenAPI document are built from them.
 */

/** The run states (lifecycle.ts) as a zod enum, for the schemas and the OpenAPI document. */
export const RunStateName = z.enum(RUN_STATES);

const Timestamp = z.string().describe('ISO 8601 date-time');
const NullableTimestamp = Timestamp.nullable();

/** The JSON Schema a model declares for its hyperparameters, as far as the UI reads it. */
export const HyperparameterSchema = z.looseObject({
  properties: z
    .record(
      z.string(),
      z.looseObject({
        type: z.union([z.string(), z.array(z.string())]).optional(),
        description: z.string().optional(),
        minimum: z.number().optional(),
        maximum: z.number().optional(),
        enum: z.array(z.unknown()).optional(),
      }),
    )
    .optional(),
});

export const Model = z.object({
  name: z.string(),
  version: z.number().int(),
  framework: z.string(),
  codeUri: z.string(),
  entrypoint: z.string(),
  defaultHyperparameters: JsonObject,
  hyperparameterSchema: HyperparameterSchema,
  description: z.string(),
  createdAt: Timestamp,
});
export type Model = z.infer<typeof Model>;

export const Feature = z.object({
  name: z.string(),
  entityKey: z.string(),
  dtype: z.string(),
  source: z.string(),
  description: z.string(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Feature = z.infer<typeof Feature>;

export const Dataset = z.object({
  name: z.string(),
  version: z.number().int(),
  uri: z.string(),
  format: z.string(),
  features: z.array(z.string()),
  label: z.string().nullable(),
  split: z.record(z.string(), z.number()),
  description: z.string(),
  createdAt: Timestamp,
});
export type Dataset = z.infer<typeof Dataset>;

export const Runtime = z.object({
  name: z.string(),
  image: z.string().nullable(),
  pythonVersion: z.string().nullable(),
  rayVersion: z.string().nullable(),
  localInterpreter: z.string().nullable(),
  frameworks: z.array(z.string()),
  backends: z.array(Backend),
  description: z.string(),
  /** Where the pins came from (runtimes/<name>/requirements.lock for the curated runtimes). */
  lockFile: z.string().nullable(),
  /** Exact pins of every package (empty: the interpreter as it is). */
  packages: z.array(z.string()),
  rayRuntimeEnv: z.object({ pip: z.array(z.string()) }).nullable(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Runtime = z.infer<typeof Runtime>;

export type ResourcesInput = z.infer<typeof Resources>;
export type RegisterSpecInput = z.infer<typeof RegisterSpec>;
const StoredRegisterSpec = z.object({ modelName: z.string(), aliases: z.array(z.string()), tags: z.record(z.string(), z.string()) });

/** What a workflow version pins: the model and dataset as exact "name@version" references. */
export const WorkflowDefinition = z.object({
  model: z.string(),
  dataset: z.string(),
  runtime: z.string(),
  backend: Backend,
  entrypoint: z.string().optional(),
  hyperparameters: JsonObject,
  resources: Resources,
  timeoutSeconds: z.number().int(),
  register: StoredRegisterSpec.optional(),
  /** A registered model the run reads (batch scoring), resolved from its alias at submission. */
  inputModel: z.object({ name: z.string(), alias: z.string() }).optional(),
  /** Literals and secret references (names only); secret values are resolved at launch and never stored here. */
  env: EnvMap.optional(),
  queue: z.string().optional(),
  priority: z.number().int().optional(),
  maxAttempts: z.number().int().optional(),
  retryOn: RetryOn.optional(),
  retryBackoffSeconds: z.number().optional(),
});
export type WorkflowDefinition = z.infer<typeof WorkflowDefinition>;

export const Workflow = WorkflowDefinition.extend({
  name: z.string(),
  version: z.number().int(),
  description: z.string(),
  createdAt: Timestamp,
});
export type Workflow = z.infer<typeof Workflow>;

const VersionRef = z.object({ name: z.string(), version: z.number().int() });

/** The registered model version a run reads. */
export const InputModelRef = z.object({
  name: z.string(),
  version: z.number().int(),
  /** The alias it was resolved from; null when the version was asked for directly. */
  alias: z.string().nullable(),
  artifactUri: z.string(),
  /** The run that produced it, whose artifacts the reading run's token may download. */
  runId: z.string().nullable(),
});
export type InputModelRef = z.infer<typeof InputModelRef>;

/** Everything a backend needs to start a run, frozen at submission time. */
export const ResolvedRunSpec = z.object({
  workflow: VersionRef.nullable(),
  model: VersionRef.extend({ framework: z.string(), codeUri: z.string() }),
  dataset: VersionRef.extend({ uri: z.string(), features: z.array(z.string()) }),
  /** packages and rayRuntimeEnv are absent in runs resolved before runtimes had lock files. */
  runtime: Runtime.pick({ name: true, image: true, pythonVersion: true, rayVersion: true, localInterpreter: true }).extend({
    packages: Runtime.shape.packages.optional(),
    rayRuntimeEnv: Runtime.shape.rayRuntimeEnv.optional(),
  }),
  backend: RunBackend,
  entrypoint: z.string(),
  hyperparameters: JsonObject,
  resources: Resources,
  timeoutSeconds: z.number().int(),
  register: StoredRegisterSpec.nullable(),
  /** The registered model version the run reads, resolved from its alias at submission (absent: none). */
  inputModel: InputModelRef.nullable().optional(),
  /** Literals and secret references (names only); secret values are resolved at launch and never stored here. */
  env: EnvMap.optional(),
  /** The queue the run waits in and its priority there (absent in runs resolved before queues: "default", 0). */
  queue: z.string().optional(),
  priority: z.number().int().optional(),
  /** Retries (retryPolicy.ts); absent in runs resolved before retries existed, which make one attempt. */
  maxAttempts: z.number().int().optional(),
  retryOn: RetryOn.optional(),
  retryBackoffSeconds: z.number().optional(),
});
export type ResolvedRunSpec = z.infer<typeof ResolvedRunSpec>;

export interface AirflowInfo {
  dagId: string;
  dagRunId: string;
  taskId: string;
  tryNumber?: number;
  mapIndex: number;
}

const Count = z.number().int();

export const Run = z.object({
  id: z.string(),
  state: RunStateName,
  attempt: Count,
  workflowName: z.string().nullable(),
  workflowVersion: Count.nullable(),
  spec: ResolvedRunSpec,
  backend: RunBackend,
  backendRef: JsonObject.nullable(),
  trigger: TriggerName,
  triggerInfo: JsonObject.nullable(),
  idempotencyKey: z.string().nullable(),
  idempotencyGeneration: Count.nullable(),
  requestHash: z.string().nullable(),
  reason: z.string().nullable(),
  /** The queue the run waits in; while queued, `reason` says what holds it there. */
  queue: z.string(),
  /** Higher launches first within the dispatcher's pass; ties by age. */
  priority: Count,
  leaseOwner: z.string().nullable(),
  leaseExpiresAt: NullableTimestamp,
  deadlineAt: NullableTimestamp,
  cancelRequestedAt: NullableTimestamp,
  /** The Airflow try that asked for the cancel, when one did. */
  cancelRequestedByTry: Count.nullable(),
  /** When an Airflow try finished with this run; a later try of the same task starts a new one. */
  consumedAt: NullableTimestamp,
  consumedByTry: Count.nullable(),
  registeredModel: z.string().nullable(),
  registeredVersion: Count.nullable(),
  /** The run this one is nested in (an MLflow child run, tag mlflow.parentRunId); null for top-level runs. */
  parentRunId: z.string().nullable(),
  /** The MLflow experiment a run created through the MLflow API was put in; null: its workflow's, or Default. */
  experimentId: z.string().nullable(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  startedAt: NullableTimestamp,
  finishedAt: NullableTimestamp,
  /** A run queued again for its next attempt is not claimed before this (its retry backoff). */
  notBefore: NullableTimestamp,
});
export type Run = z.infer<typeof Run>;

export const RunEvent = z.object({
  from: RunStateName.nullable(),
  to: RunStateName,
  reason: z.string().nullable(),
  at: Timestamp,
});
export type RunEvent = z.infer<typeof RunEvent>;

export const Metric = z.object({
  key: z.string(),
  value: z.number(),
  step: Count,
  timestamp: Timestamp,
});
export type Metric = z.infer<typeof Metric>;

export const Artifact = z.object({
  path: z.string(),
  size: Count,
  sha256: z.string(),
  createdAt: Timestamp,
});
export type Artifact = z.infer<typeof Artifact>;

export const RegisteredModel = z.object({
  id: Count,
  name: z.string(),
  description: z.string(),
  tags: z.record(z.string(), z.string()),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type RegisteredModel = z.infer<typeof RegisteredModel>;

export const ModelVersion = z.object({
  id: Count,
  name: z.string(),
  version: Count,
  artifactUri: z.string(),
  runId: z.string().nullable(),
  metrics: z.record(z.string(), z.number()),
  tags: z.record(z.string(), z.string()),
  description: z.string(),
  aliases: z.array(ALIAS),
  createdAt: Timestamp,
});
export type ModelVersion = z.infer<typeof ModelVersion>;

/** version_updated: a version's tags or description were edited (toVersion names it). */
export const REGISTRY_CHANGE_KINDS = ['version_registered', 'alias_moved', 'alias_removed', 'version_updated'] as const;
export type RegistryChangeKind = (typeof REGISTRY_CHANGE_KINDS)[number];

/** One entry of the registry's change log: the alias history and the changes feed. */
export const RegistryChange = z.object({
  /** The cursor: strictly increasing in commit order. */
  id: Count,
  model: z.string(),
  kind: z.enum(REGISTRY_CHANGE_KINDS),
  alias: z.string().nullable(),
  /** For an alias: the version it pointed at before (null: it was unset). */
  fromVersion: z.number().int().nullable(),
  /** The version registered or edited, or the alias's new version (null: removed). */
  toVersion: z.number().int().nullable(),
  actor: z.string(),
  reason: z.string(),
  at: Timestamp,
});
export type RegistryChange = z.infer<typeof RegistryChange>;

export const ApiToken = z.object({
  id: z.string(),
  name: z.string(),
  role: RoleName,
  prefix: z.string(),
  createdAt: Timestamp,
  lastUsedAt: NullableTimestamp,
  revokedAt: NullableTimestamp,
});
export type ApiToken = z.infer<typeof ApiToken>;

export const OVERLAP_POLICIES = ['skip', 'allow', 'cancel_previous'] as const;
export const OverlapPolicy = z
  .enum(OVERLAP_POLICIES)
  .describe('skip: no new run while a run of this schedule is active; allow: start anyway; cancel_previous: cancel active runs, then start');
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];
export const CATCH_UP_POLICIES = ['skip', 'run_once'] as const;
export const CatchUpPolicy = z
  .enum(CATCH_UP_POLICIES)
  .describe('fire times missed while no replica ran, or while paused: skip them (recorded once), or run once for all of them');
export type CatchUpPolicy = (typeof CATCH_UP_POLICIES)[number];
/** scheduled: a live cron tick; catch_up: the one firing for fire times missed while nothing could fire; manual: "trigger now". */
export const FIRING_KINDS = ['scheduled', 'catch_up', 'manual'] as const;
export type FiringKind = (typeof FIRING_KINDS)[number];
export const FIRING_OUTCOMES = ['pending', 'submitted', 'skipped', 'failed'] as const;
export type FiringOutcome = (typeof FIRING_OUTCOMES)[number];

export const Schedule = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  cron: z.string(),
  timezone: z.string(),
  workflow: z.string(),
  overrides: JsonObject,
  enabled: z.boolean(),
  overlapPolicy: OverlapPolicy,
  catchUpPolicy: CatchUpPolicy,
  maxConcurrentRuns: Count.nullable(),
  lastFiredAt: NullableTimestamp,
  enabledAt: NullableTimestamp,
  firstEnabledAt: NullableTimestamp,
  version: Count,
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Schedule = z.infer<typeof Schedule>;

export type ScheduleDefinition = Pick<
  Schedule,
  'name' | 'description' | 'cron' | 'timezone' | 'workflow' | 'overrides' | 'enabled' | 'overlapPolicy' | 'catchUpPolicy' | 'maxConcurrentRuns'
>;

export const ScheduleFiring = z.object({
  id: Count,
  scheduleId: z.string(),
  scheduledAt: Timestamp,
  kind: z.enum(FIRING_KINDS),
  outcome: z.enum(FIRING_OUTCOMES),
  reason: z.string().nullable(),
  runId: z.string().nullable(),
  /** The state of the run the firing created, read with the firing. */
  runState: RunStateName.nullable(),
  claimedBy: z.string(),
  claimedAt: Timestamp,
  createdAt: Timestamp,
  resolvedAt: NullableTimestamp,
});
export type ScheduleFiring = z.infer<typeof ScheduleFiring>;
