import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from './errors.ts';

/** Repository root: example code, migrations and the web UI are found relative to it. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface Config {
  readonly host: string;
  readonly port: number;
  /** Where the service keeps SQLite, run directories, logs and artifacts. */
  readonly dataDir: string;
  /** postgres://... when set; otherwise SQLite in dataDir. */
  readonly databaseUrl: string | undefined;
  /** The URL users and training processes reach the service at (links, GRIFFIN_API_URL). */
  readonly publicUrl: string;
  /** Code URIs of models (file paths) must resolve inside this directory. */
  readonly codeRoot: string;
  readonly adminToken: string | undefined;
  /** Secret for run-scoped tokens; replicas sharing a database must share it. */
  readonly secret: string | undefined;
  readonly loadExamples: boolean;
  readonly airflowBaseUrl: string | undefined;
  readonly workers: boolean;
  readonly dispatchIntervalMs: number;
  readonly reconcileIntervalMs: number;
  /** How often the reconciler reads every in-flight run instead of only those that may have changed. */
  readonly reconcileFullSweepMs: number;
  /** How often each replica checks the schedules table for changes made anywhere. */
  readonly scheduleSyncMs: number;
  readonly leaseSeconds: number;
  /** How long an Idempotency-Key stays locked after its owner stops renewing it (a crash). */
  readonly idempotencyLeaseSeconds: number;
  readonly maxConcurrentLocalRuns: number;
  /** The account local training runs as when the service runs as root. */
  readonly runAsUser: string;
  /** Where local runs' working directories go when they run as runAsUser (default /var/lib/griffin-run). */
  readonly localWorkDir: string | undefined;
  /** How long a local run's process group has between SIGTERM and SIGKILL. */
  readonly killGraceSeconds: number;
  readonly logLevel: string;
  readonly maxBodyBytes: number;
  readonly maxArtifactBytes: number;
  readonly instanceId: string;
  /** Failed authentications per client address and minute before 429s. */
  readonly authFailureLimit: number;
  /** Dashboard URL (Jobs REST API) of an existing Ray cluster; the ray backend is off without it. */
  readonly rayAddress: string | undefined;
  /** How long the Ray head may stay unreachable before its runs fail. */
  readonly rayUnreachableGraceSeconds: number;
  /** The kubernetes and kuberay backends: in-cluster credentials or KUBECONFIG, and where and how pods run. */
  readonly kubernetes: KubernetesConfig;
}

export interface KubernetesConfig {
  readonly enabled: boolean;
  /** KUBECONFIG; unset means in-cluster credentials (or ~/.kube/config). */
  readonly kubeconfig: string | undefined;
  readonly namespace: string;
  readonly serviceAccountName: string | undefined;
  readonly nodeSelector: Record<string, string>;
  readonly tolerations: Record<string, unknown>[];
}

function jsonFrom<T>(env: NodeJS.ProcessEnv, name: string, fallback: T, check: (v: unknown) => boolean, shape: string): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new InputError(`${name} must be JSON (${shape})`, name);
  }
  if (!check(value)) throw new InputError(`${name} must be ${shape}`, name);
  return value as T;
}

function intFrom(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new InputError(`${name} must be an integer >= ${min}, got "${raw}"`, name);
  }
  return value;
}

function boolFrom(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new InputError(`${name} must be true or false, got "${raw}"`, name);
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses the environment once; the result is frozen and passed down explicitly. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const host = env.GRIFFIN_HOST || '127.0.0.1';
  const port = intFrom(env, 'GRIFFIN_PORT', 8080);
  if (port > 65535) throw new InputError('GRIFFIN_PORT must be at most 65535', 'GRIFFIN_PORT');
  const dataDir = path.resolve(env.GRIFFIN_DATA_DIR || path.join(PROJECT_ROOT, '.griffin'));
  const databaseUrl = env.GRIFFIN_DATABASE_URL || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new InputError('GRIFFIN_DATABASE_URL must be a postgres:// URL', 'GRIFFIN_DATABASE_URL');
  }
  const displayHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const publicUrl = (env.GRIFFIN_PUBLIC_URL || `http://${displayHost}:${port}`).replace(/\/+$/, '');
  return Object.freeze({
    host,
    port,
    dataDir,
    databaseUrl,
    publicUrl,
    codeRoot: path.resolve(env.GRIFFIN_CODE_ROOT || PROJECT_ROOT),
    adminToken: env.GRIFFIN_ADMIN_TOKEN || undefined,
    secret: env.GRIFFIN_SECRET || undefined,
    loadExamples: boolFrom(env, 'GRIFFIN_LOAD_EXAMPLES', true),
    airflowBaseUrl: env.GRIFFIN_AIRFLOW_BASE_URL?.replace(/\/+$/, '') || undefined,
    workers: boolFrom(env, 'GRIFFIN_WORKERS', true),
    dispatchIntervalMs: intFrom(env, 'GRIFFIN_DISPATCH_INTERVAL_MS', 500, 10),
    reconcileIntervalMs: intFrom(env, 'GRIFFIN_RECONCILE_INTERVAL_MS', 1000, 10),
    reconcileFullSweepMs: intFrom(env, 'GRIFFIN_RECONCILE_FULL_SWEEP_MS', 10_000, 0),
    scheduleSyncMs: intFrom(env, 'GRIFFIN_SCHEDULE_SYNC_MS', 1000, 50),
    leaseSeconds: intFrom(env, 'GRIFFIN_LEASE_SECONDS', 30, 1),
    idempotencyLeaseSeconds: intFrom(env, 'GRIFFIN_IDEMPOTENCY_LEASE_SECONDS', 60, 1),
    maxConcurrentLocalRuns: intFrom(env, 'GRIFFIN_MAX_LOCAL_RUNS', 4, 1),
    runAsUser: env.GRIFFIN_RUN_AS_USER || 'griffin-run',
    localWorkDir: env.GRIFFIN_LOCAL_WORK_DIR ? path.resolve(env.GRIFFIN_LOCAL_WORK_DIR) : undefined,
    killGraceSeconds: intFrom(env, 'GRIFFIN_KILL_GRACE_SECONDS', 10, 0),
    logLevel: env.GRIFFIN_LOG_LEVEL || 'info',
    maxBodyBytes: intFrom(env, 'GRIFFIN_MAX_BODY_BYTES', 1024 * 1024, 1024),
    maxArtifactBytes: intFrom(env, 'GRIFFIN_MAX_ARTIFACT_BYTES', 256 * 1024 * 1024, 1024),
    authFailureLimit: intFrom(env, 'GRIFFIN_AUTH_FAILURE_LIMIT', 20, 1),
    rayAddress: env.GRIFFIN_RAY_ADDRESS?.replace(/\/+$/, '') || undefined,
    rayUnreachableGraceSeconds: intFrom(env, 'GRIFFIN_RAY_UNREACHABLE_GRACE_SECONDS', 120, 1),
    kubernetes: Object.freeze({
      enabled: boolFrom(env, 'GRIFFIN_KUBERNETES', false),
      kubeconfig: env.KUBECONFIG || undefined,
      namespace: env.GRIFFIN_KUBERNETES_NAMESPACE || 'default',
      serviceAccountName: env.GRIFFIN_KUBERNETES_SERVICE_ACCOUNT || undefined,
      nodeSelector: jsonFrom<Record<string, string>>(env, 'GRIFFIN_KUBERNETES_NODE_SELECTOR', {}, (v) => isPlainObject(v) && Object.values(v).every((x) => typeof x === 'string'), 'a JSON object of string labels'),
      tolerations: jsonFrom<Record<string, unknown>[]>(env, 'GRIFFIN_KUBERNETES_TOLERATIONS', [], (v) => Array.isArray(v) && v.every(isPlainObject), 'a JSON array of toleration objects'),
    }),
    instanceId: env.GRIFFIN_INSTANCE_ID || `${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
  });
}
