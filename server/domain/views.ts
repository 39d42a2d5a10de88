import { z } from 'zod';
import { ApiToken, Artifact, InputModelRef, RegistryChange, Feature, Metric, ModelVersion, RegisteredModel, Run, RunEvent, RunStateName, Schedule, ScheduleFiring } from './entities.ts';
import { Backend, RoleName, RunBackend } from './vocabulary.ts';
import { TimeContext } from './timeContext.ts';

/*
 * Response views: what the API returns, as zod schemas. Routes declare them (api/route.ts), the
 * OpenAPI document carries them, and the web client's types are inferred from them.
 */

export const pageOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), nextPageToken: z.string().nullable() });

const Link = z.string().describe('absolute URL');
const VersionRef = z.object({ name: z.string(), version: z.number().int() });

export const RunView = Run.omit({
  leaseOwner: true,
  leaseExpiresAt: true,
  requestHash: true,
  idempotencyGeneration: true,
  workflowName: true,
  workflowVersion: true,
  registeredModel: true,
  registeredVersion: true,
  triggerInfo: true,
}).extend({
  terminal: z.boolean(),
  /** Attempts the run may make in all (its spec's maxAttempts); `attempt` counts them up. */
  maxAttempts: z.number().int(),
  workflow: VersionRef.nullable(),
  airflow: z.record(z.string(), z.unknown()).nullable(),
  schedule: z.record(z.string(), z.unknown()).nullable(),
  /** The logical date and data interval the run trains for, when it has them. */
  timeContext: TimeContext.nullable(),
  url: Link,
  airflowUrl: Link.nullable(),
  artifactUri: Link,
  modelVersion: VersionRef.nullable(),
  /** The registered model version this run read (batch scoring), as resolved at submission. */
  inputModel: InputModelRef.nullable(),
  /** Detail views only: the latest point of each metric key. */
  latestMetrics: z.record(z.string(), Metric.omit({ key: true })).optional(),
  /** Detail views only: what the training process logged (e.g. through MLflow): params beside the spec's hyperparameters, and tags. */
  params: z.record(z.string(), z.string()).optional(),
  tags: z.record(z.string(), z.string()).optional(),
  /** Detail views only: every state change. */
  events: z.array(RunEvent).optional(),
});
export type RunView = z.infer<typeof RunView>;

const ResourceSeconds = z.object({ cpu: z.number(), memoryMb: z.number(), gpu: z.number() });

/** One attempt's use: wall time, and each requested resource times that time (summed over its pods). */
export const AttemptUsageView = z.object({
  attempt: z.number().int(),
  startedAt: z.string(),
  /** null while the attempt is still running (its figures are then "so far"). */
  endedAt: z.string().nullable(),
  wallSeconds: z.number(),
  resourceSeconds: ResourceSeconds,
});
export type AttemptUsageView = z.infer<typeof AttemptUsageView>;

/** A run's usage (GET /runs/{id}/usage): every attempt, and their sum. */
export const RunUsageView = z.object({
  attempts: z.array(AttemptUsageView),
  total: z.object({ wallSeconds: z.number(), resourceSeconds: ResourceSeconds }),
});
export type RunUsageView = z.infer<typeof RunUsageView>;

export const VersionView = ModelVersion.omit({ id: true }).extend({ url: Link });
export type VersionView = z.infer<typeof VersionView>;

export const ArtifactView = Artifact.extend({ uri: Link });
export type ArtifactView = z.infer<typeof ArtifactView>;

export const DryRunView = z.object({ backend: Backend, request: z.unknown().describe('exactly what the backend would be sent or create') });
export type DryRunView = z.infer<typeof DryRunView>;

export const LogCursorView = z.object({ reader: z.string(), cursor: z.number().int().min(0) });
export type LogCursorView = z.infer<typeof LogCursorView>;

export const LogChunkView = z.object({
  text: z.string(),
  nextCursor: z.number().int().min(0),
  /** The run has ended and nothing more is to be read: followers can stop. */
  complete: z.boolean(),
});
export type LogChunkView = z.infer<typeof LogChunkView>;

export const MetricsAccepted = z.object({
  accepted: z.number().int(),
  /** The batch id was delivered before and nothing was added this time. */
  duplicate: z.boolean(),
});
export type MetricsAccepted = z.infer<typeof MetricsAccepted>;

export const itemsOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item) });

export const RegisteredModelView = RegisteredModel.extend({
  aliases: z.record(z.string(), z.number().int()).describe('alias -> version'),
  latestVersion: z.number().int().nullable(),
});
export type RegisteredModelView = z.infer<typeof RegisteredModelView>;

export const LineageView = z.object({
  modelVersion: VersionView,
  run: z
    .object({
      id: z.string(),
      state: RunStateName,
      attempt: z.number().int(),
      backend: RunBackend,
      startedAt: z.string().nullable(),
      finishedAt: z.string().nullable(),
      url: Link,
    })
    .nullable(),
  workflow: VersionRef.nullable(),
  model: VersionRef.extend({ framework: z.string() }).nullable(),
  dataset: VersionRef.extend({ uri: z.string() }).nullable(),
  /** A feature deleted since the run names only itself, with `missing: true`. */
  features: z.array(z.union([Feature, z.object({ name: z.string(), missing: z.literal(true) })])),
  trigger: z.record(z.string(), z.unknown()).nullable(),
  /** The logical date and data interval the run trained for. */
  timeContext: TimeContext.nullable(),
  hyperparameters: z.record(z.string(), z.unknown()).nullable(),
});
export type LineageView = z.infer<typeof LineageView>;

export const TokenView = ApiToken;
/** The one response that carries a token's secret: the answer to its creation. */
export const CreatedTokenView = ApiToken.extend({ token: z.string().describe('the secret; shown once, never again') });

export const PrincipalView = z.union([
  z.object({ kind: z.literal('user'), tokenId: z.string(), name: z.string(), role: RoleName }),
  z.object({ kind: z.literal('run'), runId: z.string() }),
]);

export const ScheduleView = Schedule.omit({ version: true, enabledAt: true, firstEnabledAt: true }).extend({
  /** The next fire times (ISO, UTC); empty while the schedule is paused. */
  nextFireTimes: z.array(z.string()),
});
export type ScheduleView = z.infer<typeof ScheduleView>;

/** A schedule in the list: its view and how its last firing went (null: it has not fired). */
export const ScheduleListItemView = ScheduleView.extend({
  lastFiring: ScheduleFiring.pick({ scheduledAt: true, kind: true, outcome: true, reason: true, runId: true, runState: true }).nullable(),
});
export type ScheduleListItemView = z.infer<typeof ScheduleListItemView>;

export const FiringView = ScheduleFiring.extend({ runUrl: Link.nullable() });
export type FiringView = z.infer<typeof FiringView>;

export const TriggeredView = z.object({ firing: FiringView, run: RunView.nullable() });

const Parameter = z.object({
  name: z.string(),
  type: z.string(),
  required: z.boolean(),
  default: z.unknown().optional(),
  templated: z.boolean().optional(),
  description: z.string(),
});
const ServiceCall = z.object({ method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']), path: z.string(), when: z.string() });

/** The Airflow provider's contract (operators/definitions.ts). */
export const OperatorCatalogView = z.object({
  provider: z.object({ package: z.string(), connectionType: z.string(), defaultConnectionId: z.string(), hook: z.string() }),
  operators: z.array(
    z.object({
      name: z.string(),
      module: z.string(),
      baseClass: z.enum(['BaseOperator', 'BaseSensorOperator']),
      summary: z.string(),
      parameters: z.array(Parameter),
      templateFields: z.array(z.string()),
      extraLinks: z.array(z.string()),
      xcomKeys: z.array(z.string()),
      returnKeys: z.array(z.string()),
      calls: z.array(ServiceCall),
    }),
  ),
  triggers: z.array(
    z.object({
      name: z.string(),
      module: z.string(),
      summary: z.string(),
      parameters: z.array(Parameter),
      eventKeys: z.array(z.string()),
      eventStatuses: z.array(z.string()),
      calls: z.array(ServiceCall),
    }),
  ),
});

/** A backend and whether this server has it configured (GET /backends). */
export const BackendStatusView = z.object({
  name: Backend,
  configured: z.boolean(),
  /** What to set to configure it; null when it is configured. */
  hint: z.string().nullable(),
});
export type BackendStatusView = z.infer<typeof BackendStatusView>;

/** An uploaded code snapshot (POST /code, GET /code/{sha256}). */
export const CodeSnapshotView = z.object({
  codeUri: z.string().describe('griffin://code/<sha256>: what a model or a submission names'),
  sha256: z.string(),
  /** Bytes of the zip as uploaded. */
  size: z.number().int(),
  files: z.number().int(),
  /** Bytes of its files once unpacked. */
  unpackedSize: z.number().int(),
  uploadedAt: z.string(),
});
export type CodeSnapshotView = z.infer<typeof CodeSnapshotView>;

/** What a run read and what it wrote (GET /runs/{id}/lineage). */
export const RunLineageView = z.object({
  run: z.object({ id: z.string(), state: RunStateName, backend: RunBackend, workflow: VersionRef.nullable(), url: Link, startedAt: z.string().nullable(), finishedAt: z.string().nullable() }),
  inputs: z.object({
    /** The registered model version it read (batch scoring); null for a training run. */
    modelVersion: InputModelRef.omit({ runId: true }).extend({ sourceRunId: z.string().nullable(), url: Link }).nullable(),
    model: VersionRef.extend({ framework: z.string() }),
    dataset: VersionRef.extend({ uri: z.string() }),
    runtime: z.string(),
  }),
  outputs: z.object({
    artifacts: z.array(ArtifactView),
    modelVersion: VersionRef.extend({ url: Link }).nullable(),
  }),
});
export type RunLineageView = z.infer<typeof RunLineageView>;

/** Registry changes after a cursor (GET /registry/changes). */
export const RegistryChangesView = z.object({
  items: z.array(RegistryChange),
  cursor: z.number().int().describe('where the next call continues (after=<cursor>)'),
  hasMore: z.boolean(),
  head: z.number().int().describe('the newest change: where a reader that wants only new changes starts'),
});
export type RegistryChangesView = z.infer<typeof RegistryChangesView>;
