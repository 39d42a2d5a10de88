/** The API's objects as the UI reads them (see /api/v1/openapi.json and the README). */

export interface Page<T> {
  items: T[];
  nextPageToken: string | null;
}

export interface RunEvent {
  from: string | null;
  to: string;
  reason: string | null;
  at: string;
}

/** The logical date and data interval a run trains for (GRIFFIN_LOGICAL_DATE, GRIFFIN_DATA_INTERVAL_START/_END). */
export interface TimeContext {
  logicalDate: string | null;
  dataIntervalStart: string | null;
  dataIntervalEnd: string | null;
}

export interface Run {
  id: string;
  state: string;
  terminal: boolean;
  attempt: number;
  workflow: { name: string; version: number } | null;
  spec: {
    model: { name: string; version: number; framework: string; codeUri: string };
    dataset: { name: string; version: number; uri: string; features: string[] };
    runtime: { name: string; image: string | null; pythonVersion: string | null; rayVersion: string | null; localInterpreter: string | null };
    backend: string;
    entrypoint: string;
    hyperparameters: Record<string, unknown>;
    resources: Record<string, unknown>;
    timeoutSeconds: number;
    register: { modelName: string; aliases: string[]; tags: Record<string, string> } | null;
  };
  backend: string;
  backendRef: Record<string, unknown> | null;
  trigger: string;
  airflow: Record<string, unknown> | null;
  timeContext: TimeContext | null;
  schedule?: Record<string, unknown> | null;
  idempotencyKey: string | null;
  reason: string | null;
  deadlineAt: string | null;
  cancelRequestedAt?: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  url: string;
  airflowUrl: string | null;
  artifactUri: string;
  modelVersion: { name: string; version: number } | null;
  latestMetrics?: Record<string, { value: number; step: number; timestamp: string }>;
  events?: RunEvent[];
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
  uri: string;
}

export interface Workflow {
  name: string;
  version: number;
  description: string;
  model: string;
  dataset: string;
  runtime: string;
  backend: string;
  entrypoint?: string;
  hyperparameters: Record<string, unknown>;
  resources: { cpu?: number; memoryMb?: number; gpu?: number; customResources?: Record<string, number> };
  timeoutSeconds: number;
  register?: { modelName: string; aliases: string[]; tags: Record<string, string> };
  createdAt: string;
}

export interface Model {
  name: string;
  version: number;
  framework: string;
  codeUri: string;
  entrypoint: string;
  defaultHyperparameters: Record<string, unknown>;
  hyperparameterSchema: { properties?: Record<string, { type?: string; description?: string; minimum?: number; maximum?: number; enum?: unknown[] }> } & Record<string, unknown>;
  description: string;
  createdAt: string;
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

export interface Feature {
  name: string;
  entityKey: string;
  dtype: string;
  source: string;
  description: string;
  createdAt: string;
  updatedAt: string;
}

export interface Runtime {
  name: string;
  image: string | null;
  pythonVersion: string | null;
  rayVersion: string | null;
  localInterpreter: string | null;
  frameworks: string[];
  backends: string[];
  description: string;
}

export interface RegisteredModel {
  id: number;
  name: string;
  description: string;
  tags: Record<string, string>;
  createdAt: string;
  updatedAt: string;
  aliases?: Record<string, number>;
  latestVersion?: number | null;
}

export interface ModelVersion {
  name: string;
  version: number;
  artifactUri: string;
  runId: string | null;
  metrics: Record<string, number>;
  tags: Record<string, string>;
  description: string;
  aliases: string[];
  createdAt: string;
  url: string;
}

/** One move of an alias (GET /registry/models/{name}/aliases/{alias}/history). */
export interface AliasMove {
  id: number;
  kind: 'alias_moved' | 'alias_removed';
  alias: string;
  fromVersion: number | null;
  toVersion: number | null;
  actor: string;
  reason: string;
  at: string;
}

export interface Lineage {
  modelVersion: ModelVersion;
  run: { id: string; state: string; attempt: number; backend: string; startedAt: string | null; finishedAt: string | null; url: string } | null;
  workflow: { name: string; version: number } | null;
  model: { name: string; version: number; framework: string } | null;
  dataset: { name: string; version: number; uri: string } | null;
  features: Feature[];
  trigger: Record<string, unknown> | null;
  timeContext: TimeContext | null;
  hyperparameters: Record<string, unknown> | null;
}

export interface ApiToken {
  id: string;
  name: string;
  role: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface BackendStatus {
  name: string;
  configured: boolean;
  /** What to set to configure it; null when it is configured. */
  hint: string | null;
}

export interface ScheduleFiringSummary {
  scheduledAt: string;
  kind: string;
  outcome: string;
  reason: string | null;
  runId: string | null;
  runState: string | null;
}

export interface Schedule {
  id: string;
  name: string;
  description?: string;
  cron: string;
  timezone: string;
  workflow: string;
  overrides?: Record<string, unknown>;
  enabled: boolean;
  overlapPolicy?: string;
  catchUpPolicy?: string;
  maxConcurrentRuns?: number | null;
  nextFireTimes?: string[];
  lastFiredAt?: string | null;
  /** In the list only: how the last firing went (null: it has not fired). */
  lastFiring?: ScheduleFiringSummary | null;
  createdAt?: string;
  updatedAt?: string;
}
