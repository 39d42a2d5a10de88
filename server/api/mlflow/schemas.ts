import { z } from 'zod';

/*
 * Request and response bodies of MLflow's REST API (mlflow/protos/service.proto and
 * model_registry.proto, proto3 JSON names). The client sends int64 fields as numbers or strings and
 * GET parameters as query strings, so numbers are coerced; fields it sends that Griffin does not use
 * (model_id, dataset_digest, ...) are dropped rather than refused.
 */

// MLflow sends int64 as a number or a string; beyond 2^53 a string would lose digits silently.
const int64 = z
  .union([z.number().int(), z.string().regex(/^-?\d{1,19}$/, 'is not an integer')])
  .transform(Number)
  .refine(Number.isSafeInteger, { message: `must be between -${Number.MAX_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER}` });
const RUN_ID = z.string().regex(/^[a-z0-9]{1,32}$/, 'is not a Griffin run id');
const KEY = z.string().min(1).max(250);
const MODEL_NAME = z.string().min(1).max(200);
const ALIAS = z.string().regex(/^[a-z][a-z0-9_-]{0,99}$/, 'is not a valid alias (lowercase letters, digits, "_" or "-", starting with a letter)');
const maxResults = (max: number) => z.coerce.number().int().min(1).max(max).optional();

/** MLflow sends a run's id as run_id and, for older servers, run_uuid: either names it. */
const runRef = { run_id: RUN_ID.optional(), run_uuid: RUN_ID.optional() };
type RunRef = { run_id?: string; run_uuid?: string };
const withRun = <T extends z.ZodRawShape>(shape: T) =>
  z
    .object({ ...runRef, ...shape })
    .refine((b) => (b as RunRef).run_id ?? (b as RunRef).run_uuid, { message: 'is required', path: ['run_id'] })
    .transform((b) => ({ ...b, runId: ((b as RunRef).run_id ?? (b as RunRef).run_uuid)! }));

export const KeyValue = z.object({ key: KEY, value: z.string().max(8000) });
export const ParamIn = z.object({ key: KEY, value: z.string().max(6000) });
/** model_id: the point is a logged model's copy of a run metric (log_model sends the run's points again). */
export const MetricIn = z.object({ key: KEY, value: z.number(), timestamp: int64.optional(), step: int64.optional(), model_id: z.string().max(64).optional() });

export const ExperimentIdQuery = z.object({ experiment_id: z.string().min(1).max(64) });
export const ExperimentNameQuery = z.object({ experiment_name: z.string().min(1).max(500) });
export const ExperimentCreate = z.object({ name: z.string().min(1).max(500), artifact_location: z.string().max(2000).optional(), tags: z.array(KeyValue).max(100).optional() });
export const ExperimentSearch = z.object({ max_results: maxResults(50_000), filter: z.string().max(2000).optional(), page_token: z.string().max(2000).optional(), view_type: z.unknown().optional(), order_by: z.unknown().optional() });

export const RunGetQuery = withRun({});
const RUN_STATUS = z.enum(['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED']);
export const RunUpdate = withRun({ status: RUN_STATUS.optional(), end_time: int64.optional(), run_name: z.string().max(250).optional() });
export const RunCreate = z.object({
  experiment_id: z.string().min(1).max(64).default('0'),
  user_id: z.string().max(250).optional(),
  start_time: int64.optional(),
  run_name: z.string().max(250).optional(),
  tags: z.array(KeyValue).max(100).default([]),
});
export const RunSearch = z.object({
  experiment_ids: z.array(z.string().min(1).max(64)).min(1).max(100),
  filter: z.string().max(2000).optional(),
  max_results: maxResults(50_000),
  page_token: z.string().max(2000).optional(),
  run_view_type: z.unknown().optional(),
  order_by: z.unknown().optional(),
});
export const LogMetric = withRun({ key: KEY, value: z.number(), timestamp: int64.optional(), step: int64.optional() });
export const LogParam = withRun({ key: KEY, value: z.string().max(6000) });
export const SetTag = withRun({ key: KEY, value: z.string().max(8000) });
export const DeleteTag = withRun({ key: KEY });
export const LogBatch = withRun({ metrics: z.array(MetricIn).max(1000).default([]), params: z.array(ParamIn).max(100).default([]), tags: z.array(KeyValue).max(100).default([]) });
export const LogInputs = withRun({ datasets: z.array(z.unknown()).max(1000).optional(), models: z.array(z.unknown()).max(1000).optional() });
export const MetricHistoryQuery = withRun({ metric_key: KEY, max_results: maxResults(1_000_000), page_token: z.string().optional() });

const MODEL_ID = z.string().regex(/^m-[0-9a-f]{32}$/, 'is not a logged model id (m-<32 hex digits>)');
export const LoggedModelParams = z.object({ model_id: MODEL_ID });
export const LoggedModelCreate = z.object({
  experiment_id: z.string().min(1).max(64),
  name: z.string().max(250).optional(),
  model_type: z.string().max(250).optional(),
  source_run_id: RUN_ID.optional(),
  params: z.array(KeyValue).max(1000).default([]),
  tags: z.array(KeyValue).max(100).default([]),
});
export const LoggedModelFinalize = z.object({ model_id: z.string().optional(), status: z.enum(['LOGGED_MODEL_PENDING', 'LOGGED_MODEL_READY', 'LOGGED_MODEL_UPLOAD_FAILED']) });
export const LoggedModelSearch = z.object({
  experiment_ids: z.array(z.string().min(1).max(64)).max(100).default([]),
  filter: z.string().max(2000).optional(),
  max_results: maxResults(1000),
  datasets: z.unknown().optional(),
  order_by: z.unknown().optional(),
  page_token: z.string().max(2000).optional(),
});
export const LogOutputs = withRun({ models: z.array(z.object({ model_id: MODEL_ID, step: int64.optional() })).max(100).default([]) });

export const ArtifactListQuery = z.object({ path: z.string().min(1).max(2000) });
export const ArtifactPathParams = z.object({ path: z.union([z.string(), z.array(z.string())]) });

export const RegisteredModelCreate = z.object({ name: MODEL_NAME, description: z.string().max(10_000).default(''), tags: z.array(KeyValue).max(100).default([]) });
export const ModelNameQuery = z.object({ name: MODEL_NAME });
export const ModelSearch = z.object({ filter: z.string().max(2000).optional(), max_results: maxResults(1000), page_token: z.string().max(2000).optional(), order_by: z.unknown().optional() });
export const ModelVersionCreate = z.object({ name: MODEL_NAME, source: z.string().min(1).max(2000), run_id: RUN_ID.optional().or(z.literal('')), tags: z.array(KeyValue).max(100).default([]), description: z.string().max(10_000).default(''), run_link: z.string().optional(), model_id: z.string().optional() });
export const ModelVersionQuery = z.object({ name: MODEL_NAME, version: z.string().min(1).max(20) });
export const AliasSet = z.object({ name: MODEL_NAME, alias: ALIAS, version: z.union([z.string().min(1).max(20), z.number().int()]).transform(String) });
export const AliasQuery = z.object({ name: MODEL_NAME, alias: ALIAS });

// ---- responses ------------------------------------------------------------------------------

const KeyValueOut = z.object({ key: z.string(), value: z.string() });
const MetricOut = z.object({ key: z.string(), value: z.number(), timestamp: z.number(), step: z.number() });
const ExperimentOut = z.object({ experiment_id: z.string(), name: z.string(), artifact_location: z.string(), lifecycle_stage: z.string(), creation_time: z.number(), last_update_time: z.number(), tags: z.array(KeyValueOut) });
const RunInfoOut = z.object({
  run_id: z.string(),
  run_uuid: z.string(),
  run_name: z.string(),
  experiment_id: z.string(),
  user_id: z.string(),
  status: z.enum(['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED']),
  start_time: z.number(),
  end_time: z.number().optional(),
  artifact_uri: z.string(),
  lifecycle_stage: z.string(),
});
const RunOut = z.object({ info: RunInfoOut, data: z.object({ metrics: z.array(MetricOut), params: z.array(KeyValueOut), tags: z.array(KeyValueOut) }), inputs: z.object({}) });
const ModelVersionOut = z.object({
  name: z.string(),
  version: z.string(),
  creation_timestamp: z.number(),
  last_updated_timestamp: z.number(),
  current_stage: z.string(),
  description: z.string(),
  source: z.string(),
  run_id: z.string(),
  status: z.string(),
  tags: z.array(KeyValueOut),
  aliases: z.array(z.string()),
});
const RegisteredModelOut = z.object({
  name: z.string(),
  creation_timestamp: z.number(),
  last_updated_timestamp: z.number(),
  description: z.string(),
  latest_versions: z.array(ModelVersionOut),
  tags: z.array(KeyValueOut),
  aliases: z.array(z.object({ alias: z.string(), version: z.string() })),
});

export const Empty = z.object({});
export const ExperimentReply = z.object({ experiment: ExperimentOut });
export const ExperimentCreated = z.object({ experiment_id: z.string() });
export const ExperimentsReply = z.object({ experiments: z.array(ExperimentOut), next_page_token: z.string().optional() });
export const RunReply = z.object({ run: RunOut });
export const RunInfoReply = z.object({ run_info: RunInfoOut });
export const RunsReply = z.object({ runs: z.array(RunOut), next_page_token: z.string().optional() });
export const MetricsReply = z.object({ metrics: z.array(MetricOut) });
export const ArtifactsReply = z.object({ files: z.array(z.object({ path: z.string(), is_dir: z.boolean(), file_size: z.number().optional() })) });
export const RegisteredModelReply = z.object({ registered_model: RegisteredModelOut });
export const RegisteredModelsReply = z.object({ registered_models: z.array(RegisteredModelOut), next_page_token: z.string().optional() });
export const ModelVersionReply = z.object({ model_version: ModelVersionOut });
export const ModelVersionsReply = z.object({ model_versions: z.array(ModelVersionOut), next_page_token: z.string().optional() });
export const DownloadUriReply = z.object({ artifact_uri: z.string() });
const LoggedModelOut = z.object({
  info: z.object({
    model_id: z.string(),
    experiment_id: z.string(),
    name: z.string(),
    creation_timestamp_ms: z.number(),
    last_updated_timestamp_ms: z.number(),
    artifact_uri: z.string(),
    status: z.string(),
    source_run_id: z.string(),
    model_type: z.string().optional(),
    tags: z.array(KeyValueOut),
  }),
  data: z.object({ params: z.array(KeyValueOut), metrics: z.array(MetricOut) }),
});
export const LoggedModelReply = z.object({ model: LoggedModelOut });
export const LoggedModelsReply = z.object({ models: z.array(LoggedModelOut) });
export const ServerInfoReply = z.object({ store_type: z.string(), workspaces_enabled: z.boolean(), multipart_uploads_enabled: z.boolean(), multipart_downloads_enabled: z.boolean() });
export const MlflowErrorBody = z.object({ error_code: z.string(), message: z.string() });
