import crypto from 'node:crypto';
import { GriffinError, type ErrorCode } from '../errors.ts';
import { EXTERNAL_BACKEND, type ResolvedRunSpec, type Run, type RunState } from '../domain/index.ts';

/**
 * MLflow's entities as its REST API carries them (mlflow/protos/service.proto and
 * model_registry.proto, JSON field names), built from Griffin's own: an experiment is a workflow,
 * a named experiment, or "Default" for inline runs; a run is a Griffin run.
 */
export interface MlflowKeyValue {
  key: string;
  value: string;
}

export interface MlflowMetric {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

export type MlflowRunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';

export interface MlflowRunInfo {
  run_id: string;
  run_uuid: string;
  run_name: string;
  experiment_id: string;
  user_id: string;
  status: MlflowRunStatus;
  start_time: number;
  end_time?: number;
  artifact_uri: string;
  lifecycle_stage: 'active';
}

export interface MlflowRun {
  info: MlflowRunInfo;
  data: { metrics: MlflowMetric[]; params: MlflowKeyValue[]; tags: MlflowKeyValue[] };
  inputs: Record<string, never>;
}

export type MlflowLoggedModelStatus = 'LOGGED_MODEL_PENDING' | 'LOGGED_MODEL_READY' | 'LOGGED_MODEL_UPLOAD_FAILED';

/** MLflow 3's logged model (service.proto LoggedModel): here, a directory of its source run's artifacts. */
export interface MlflowLoggedModel {
  info: {
    model_id: string;
    experiment_id: string;
    name: string;
    creation_timestamp_ms: number;
    last_updated_timestamp_ms: number;
    artifact_uri: string;
    status: string;
    source_run_id: string;
    model_type?: string;
    tags: MlflowKeyValue[];
  };
  data: { params: MlflowKeyValue[]; metrics: MlflowMetric[] };
}

export interface MlflowExperiment {
  experiment_id: string;
  name: string;
  artifact_location: string;
  lifecycle_stage: 'active';
  creation_time: number;
  last_update_time: number;
  tags: MlflowKeyValue[];
}

export interface MlflowModelVersion {
  name: string;
  version: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  current_stage: 'None';
  description: string;
  source: string;
  run_id: string;
  status: 'READY';
  tags: MlflowKeyValue[];
  aliases: string[];
}

export interface MlflowRegisteredModel {
  name: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  description: string;
  latest_versions: MlflowModelVersion[];
  tags: MlflowKeyValue[];
  aliases: Array<{ alias: string; version: string }>;
}

/** MLflow's error codes (databricks.proto) that Griffin answers with. */
export type MlflowErrorCode =
  | 'INVALID_PARAMETER_VALUE'
  | 'RESOURCE_DOES_NOT_EXIST'
  | 'RESOURCE_ALREADY_EXISTS'
  | 'INVALID_STATE'
  | 'PERMISSION_DENIED'
  | 'UNAUTHENTICATED'
  | 'REQUEST_LIMIT_EXCEEDED'
  | 'ENDPOINT_NOT_FOUND'
  | 'TEMPORARILY_UNAVAILABLE'
  | 'INTERNAL_ERROR';

const GRIFFIN_STATUS: Record<MlflowErrorCode, [number, ErrorCode]> = {
  INVALID_PARAMETER_VALUE: [400, 'invalid_argument'],
  RESOURCE_DOES_NOT_EXIST: [404, 'not_found'],
  RESOURCE_ALREADY_EXISTS: [400, 'conflict'],
  INVALID_STATE: [400, 'conflict'],
  PERMISSION_DENIED: [403, 'permission_denied'],
  UNAUTHENTICATED: [401, 'unauthenticated'],
  REQUEST_LIMIT_EXCEEDED: [429, 'rate_limited'],
  ENDPOINT_NOT_FOUND: [404, 'not_found'],
  TEMPORARILY_UNAVAILABLE: [503, 'unavailable'],
  INTERNAL_ERROR: [500, 'internal'],
};

/** An error whose MLflow code a service chose itself (e.g. a param logged again with another value). */
export class MlflowError extends GriffinError {
  constructor(
    readonly mlflowCode: MlflowErrorCode,
    message: string,
  ) {
    super(GRIFFIN_STATUS[mlflowCode][0], GRIFFIN_STATUS[mlflowCode][1], message);
  }
}

/** The MLflow code of any Griffin error: the status codes MLflow's own server uses for each. */
export function mlflowCodeOf(error: GriffinError): MlflowErrorCode {
  if (error instanceof MlflowError) return error.mlflowCode;
  switch (error.code) {
    case 'invalid_argument':
    case 'unprocessable':
    case 'payload_too_large':
    case 'unsupported_media_type':
      return 'INVALID_PARAMETER_VALUE';
    case 'not_found':
      return 'RESOURCE_DOES_NOT_EXIST';
    case 'method_not_allowed':
      return 'ENDPOINT_NOT_FOUND';
    case 'conflict':
      return 'INVALID_STATE';
    case 'unauthenticated':
      return 'UNAUTHENTICATED';
    case 'permission_denied':
      return 'PERMISSION_DENIED';
    case 'rate_limited':
      return 'REQUEST_LIMIT_EXCEEDED';
    case 'unavailable':
    case 'upstream':
      return 'TEMPORARILY_UNAVAILABLE';
    default:
      return 'INTERNAL_ERROR';
  }
}

/** MLflow's view of Griffin's run states. */
export const MLFLOW_STATUS: Record<RunState, MlflowRunStatus> = {
  queued: 'SCHEDULED',
  launching: 'SCHEDULED',
  running: 'RUNNING',
  cancelling: 'RUNNING',
  succeeded: 'FINISHED',
  failed: 'FAILED',
  cancelled: 'KILLED',
};

/** The experiment of runs that come from inline specs rather than a workflow: MLflow's "Default". */
export const DEFAULT_EXPERIMENT = { id: '0', name: 'Default' } as const;

const WORKFLOW_EXPERIMENT_PREFIX = 'wf-';

/**
 * A workflow's experiment id. MLflow's client only accepts ids of `[A-Za-z0-9][\w-]{0,63}`, which
 * workflow names (dots, up to 200 characters) do not fit, so the id is a digest of the name; it is
 * stable, needs no row, and is known when a run's environment is built.
 */
export const workflowExperimentId = (workflowName: string): string =>
  `${WORKFLOW_EXPERIMENT_PREFIX}${crypto.createHash('sha256').update(workflowName).digest('hex').slice(0, 24)}`;

export const isWorkflowExperimentId = (id: string): boolean => id.startsWith(WORKFLOW_EXPERIMENT_PREFIX);

/** The experiment a run was created in through the MLflow API, else its workflow's, else Default. */
export const experimentIdOfRun = (run: { workflowName: string | null; experimentId?: string | null }): string =>
  run.experimentId ?? (run.workflowName ? workflowExperimentId(run.workflowName) : DEFAULT_EXPERIMENT.id);

/** The tag MLflow's client names a nested run's parent with. */
export const PARENT_RUN_TAG = 'mlflow.parentRunId';

/** How MLflow's client ends a run (runs/update status) in Griffin's terms; RUNNING and SCHEDULED end nothing. */
export const ENDING_STATUS = { FINISHED: 'externalFinished', FAILED: 'externalFailed', KILLED: 'externalKilled' } as const satisfies Partial<Record<MlflowRunStatus, string>>;

/**
 * The spec of a run created through the MLflow API. A nested run keeps what its parent ran
 * (model, dataset, runtime: the code that created it), without the parent's hyperparameters,
 * register step, input model or env, which are the launch's; a run started outside any Griffin
 * run names no model or dataset (version 0 of "mlflow" and "none").
 */
export function externalRunSpec(parent: Run | undefined): ResolvedRunSpec {
  if (parent) {
    const { env: _launchOnly, ...spec } = parent.spec;
    return { ...spec, backend: EXTERNAL_BACKEND, hyperparameters: {}, register: null, inputModel: null };
  }
  return {
    workflow: null,
    model: { name: 'mlflow', version: 0, framework: 'mlflow', codeUri: '' },
    dataset: { name: 'none', version: 0, uri: '', features: [] },
    runtime: { name: EXTERNAL_BACKEND, image: null, pythonVersion: null, rayVersion: null, localInterpreter: null },
    backend: EXTERNAL_BACKEND,
    entrypoint: '',
    hyperparameters: {},
    resources: {},
    timeoutSeconds: 0,
    register: null,
  };
}

/** Where MLflow's client sends a run's artifacts: the tracking server's mlflow-artifacts proxy. */
export const MLFLOW_ARTIFACT_ROOT = 'runs';
export const mlflowArtifactUri = (runId: string, sub = ''): string => `mlflow-artifacts:/${MLFLOW_ARTIFACT_ROOT}/${runId}${sub ? `/${sub}` : ''}`;
