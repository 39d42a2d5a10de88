import type { ResourcesInput, RegisterSpecInput } from './api/schemas.ts';

export type Role = 'viewer' | 'editor' | 'admin';
export type BackendName = 'local' | 'ray' | 'kubernetes' | 'kuberay';
export type RunState = 'queued' | 'launching' | 'running' | 'cancelling' | 'succeeded' | 'failed' | 'cancelled';
export type Trigger = 'http' | 'ui' | 'cli' | 'airflow' | 'schedule';

export const TERMINAL_STATES: readonly RunState[] = ['succeeded', 'failed', 'cancelled'];
export const ACTIVE_STATES: readonly RunState[] = ['queued', 'launching', 'running', 'cancelling'];
/** States a resubmission with rerunIfFailed replaces with a new run: the run will not succeed. */
export const RERUNNABLE_STATES: readonly RunState[] = ['failed', 'cancelled', 'cancelling'];
export const isTerminal = (state: RunState): boolean => TERMINAL_STATES.includes(state);

export interface Model {
  name: string;
  version: number;
  framework: string;
  codeUri: string;
  entrypoint: string;
  defaultHyperparameters: Record<string, unknown>;
  hyperparameterSchema: Record<string, unknown>;
  description: string;
  createdAt: string;
}

export interface Feature {
  name: string;
  entityKey: string;
  dtype: string;
  source: string;
  description: string;
  createdAt: string;
  updatedAt: string;
}

export interface Dataset {
  name: string;
  version: number;
  uri: string;
  format: string;
  features: string[];
  label: string | null;
  split: Record<string, number>;
  description: string;
  createdAt: string;
}

export interface Runtime {
  name: string;
  image: string | null;
  pythonVersion: string | null;
  rayVersion: string | null;
  localInterpreter: string | null;
  frameworks: string[];
  backends: BackendName[];
  description: string;
  createdAt: string;
  updatedAt: string;
}

export interface WorkflowDefinition {
  model: string;
  dataset: string;
  runtime: string;
  backend: BackendName;
  entrypoint?: string;
  hyperparameters: Record<string, unknown>;
  resources: ResourcesInput;
  timeoutSeconds: number;
  register?: RegisterSpecInput;
}

export interface Workflow extends WorkflowDefinition {
  name: string;
  version: number;
  description: string;
  createdAt: string;
}

/** Everything a backend needs to start a run, frozen at submission time. */
export interface ResolvedRunSpec {
  workflow: { name: string; version: number } | null;
  model: { name: string; version: number; framework: string; codeUri: string };
  dataset: { name: string; version: number; uri: string; features: string[] };
  runtime: Pick<Runtime, 'name' | 'image' | 'pythonVersion' | 'rayVersion' | 'localInterpreter'>;
  backend: BackendName;
  entrypoint: string;
  hyperparameters: Record<string, unknown>;
  resources: ResourcesInput;
  timeoutSeconds: number;
  register: RegisterSpecInput | null;
}

export interface AirflowInfo {
  dagId: string;
  dagRunId: string;
  taskId: string;
  tryNumber?: number;
  mapIndex: number;
}

export interface Run {
  id: string;
  state: RunState;
  attempt: number;
  workflowName: string | null;
  workflowVersion: number | null;
  spec: ResolvedRunSpec;
  backend: BackendName;
  backendRef: Record<string, unknown> | null;
  trigger: Trigger;
  triggerInfo: Record<string, unknown> | null;
  idempotencyKey: string | null;
  idempotencyGeneration: number | null;
  requestHash: string | null;
  reason: string | null;
  leaseOwner: string | null;
  leaseExpiresAt: string | null;
  deadlineAt: string | null;
  cancelRequestedAt: string | null;
  /** The Airflow try that asked for the cancel, when one did. */
  cancelRequestedByTry: number | null;
  /** When an Airflow try finished with this run; a later try of the same task starts a new one. */
  consumedAt: string | null;
  consumedByTry: number | null;
  registeredModel: string | null;
  registeredVersion: number | null;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/**
 * The slice of time a run trains for: an Airflow DAG run's logical date and data interval, or a
 * schedule's fire time and the fire time before it. Stored in the run's trigger info; the
 * training process sees it as GRIFFIN_LOGICAL_DATE / GRIFFIN_DATA_INTERVAL_START / _END.
 */
export interface TimeContext {
  logicalDate: string | null;
  dataIntervalStart: string | null;
  dataIntervalEnd: string | null;
}

export const timeContextOf = (run: Pick<Run, 'triggerInfo'>): TimeContext | null => (run.triggerInfo?.timeContext as TimeContext | undefined) ?? null;

/** The training process's variables for a time context (none without one). */
export function timeContextEnvironment(context: TimeContext | null): Record<string, string> {
  if (!context) return {};
  const env: Record<string, string> = {};
  if (context.logicalDate) env.GRIFFIN_LOGICAL_DATE = context.logicalDate;
  if (context.dataIntervalStart) env.GRIFFIN_DATA_INTERVAL_START = context.dataIntervalStart;
  if (context.dataIntervalEnd) env.GRIFFIN_DATA_INTERVAL_END = context.dataIntervalEnd;
  return env;
}

export interface RunEvent {
  from: RunState | null;
  to: RunState;
  reason: string | null;
  at: string;
}

export interface Metric {
  key: string;
  value: number;
  step: number;
  timestamp: string;
}

export interface Artifact {
  path: string;
  size: number;
  sha256: string;
  createdAt: string;
}

export interface RegisteredModel {
  id: number;
  name: string;
  description: string;
  tags: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

export interface ModelVersion {
  id: number;
  name: string;
  version: number;
  artifactUri: string;
  runId: string | null;
  metrics: Record<string, number>;
  tags: Record<string, string>;
  description: string;
  aliases: string[];
  createdAt: string;
}

export type RegistryChangeKind = 'version_registered' | 'alias_moved' | 'alias_removed';

/** One entry of the registry's change log: the alias history and the changes feed. */
export interface RegistryChange {
  /** The cursor: strictly increasing in commit order. */
  id: number;
  model: string;
  kind: RegistryChangeKind;
  alias: string | null;
  /** For an alias: the version it pointed at before (null: it was unset). */
  fromVersion: number | null;
  /** The version registered, or the alias's new version (null: removed). */
  toVersion: number | null;
  actor: string;
  reason: string;
  at: string;
}

export interface ApiToken {
  id: string;
  name: string;
  role: Role;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** Who is calling: a user token, or a training process holding its run-scoped token. */
export type Principal =
  | { kind: 'user'; tokenId: string; name: string; role: Role }
  | { kind: 'run'; runId: string };

export interface Page<T> {
  items: T[];
  nextPageToken: string | null;
}
