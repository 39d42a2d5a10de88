import type { ResourcesInput, RegisterSpecInput } from './api/schemas.ts';
import type { RunEnv } from './services/runEnv.ts';

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
  env?: RunEnv;
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
  /** Literals and secret references (names only); secret values are resolved at launch and never stored here. */
  env?: RunEnv;
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
