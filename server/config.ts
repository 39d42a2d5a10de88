import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from './errors.ts';
import { isWithin, realPathOf } from './files/paths.ts';

/** Repository root: example code, migrations and the web UI are found relative to it. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface Config {
  readonly host: string;
  readonly port: number;
  /** Where the service keeps SQLite, run directories, logs, artifacts and its secrets (mode 0700). */
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
  /** Where the local venvs of runtimes are built (GRIFFIN_RUNTIME_DIR). */
  readonly runtimeDir: string;
  readonly runtimeBuildTimeoutSeconds: number;
  readonly logLevel: string;
  /**
   * How long a replica may serve a cached read (a finished run, a registry alias or version) that
   * another replica has changed since; the replica that changes it drops it at once. 0: off.
   */
  readonly readCacheMs: number;
  /** How long a verified user token is trusted without a lookup: a revocation made on another replica takes effect within it. */
  readonly authCacheMs: number;
  readonly maxBodyBytes: number;
  readonly maxArtifactBytes: number;
  /** Uploaded code (POST /code): the most bytes of the zip, and of its files once unpacked (GRIFFIN_MAX_CODE_BYTES). */
  readonly maxCodeBytes: number;
  /** How long a training process keeps trying to deliver its reports while Griffin is unreachable (GRIFFIN_REPORT_TIMEOUT). */
  readonly reportTimeoutSeconds: number;
  /** A `logs?follow=true` reader that takes no data for this long is dropped. */
  readonly logFollowStallSeconds: number;
  readonly instanceId: string;
  /** Failed authentications per client address and minute before 429s. */
  readonly authFailureLimit: number;
  /** Express's `trust proxy`: false (the default) takes the client address from the socket, never from X-Forwarded-For. */
  readonly trustProxy: boolean | number | string;
  /** Warnings found while reading the settings, for the log once a logger exists. */
  readonly startupNotices: readonly string[];
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

/**
 * Settings that hold secrets. Each may instead name a file (NAME_FILE) to read at start, which
 * keeps it out of the environment the service was started with; forgetSecretSettings removes the
 * variables themselves once read, so processes the service starts later never inherit them.
 */
export const SECRET_SETTINGS = ['GRIFFIN_ADMIN_TOKEN', 'GRIFFIN_SECRET', 'GRIFFIN_DATABASE_URL'] as const;

function secretFrom(env: NodeJS.ProcessEnv, name: (typeof SECRET_SETTINGS)[number], notices: string[]): string | undefined {
  const fileSetting = `${name}_FILE`;
  const direct = env[name] || undefined;
  const file = env[fileSetting] || undefined;
  if (direct && file) throw new InputError(`set ${name} or ${fileSetting}, not both`, fileSetting);
  if (!file) return direct;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new InputError(`${fileSetting}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)})`, fileSetting);
  }
  const value = text.trim();
  if (!value) throw new InputError(`${fileSetting}: ${file} is empty`, fileSetting);
  const mode = fs.statSync(file).mode & 0o777;
  if (mode & 0o077) notices.push(`${fileSetting}: ${file} is open to other users (mode ${mode.toString(8).padStart(4, '0')}); chmod 600 it`);
  return value;
}

/** Removes the secret settings from an environment (process.env at start) once loadConfig has read them. */
export function forgetSecretSettings(env: NodeJS.ProcessEnv = process.env): void {
  for (const name of SECRET_SETTINGS) delete env[name];
}

/** Outside any repository, so no code or dataset path can reach it: $XDG_DATA_HOME/griffin or ~/.local/share/griffin. */
export function userDataDir(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_DATA_HOME && path.isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : path.join(env.HOME || os.homedir(), '.local', 'share');
  return path.join(xdg, 'griffin');
}

/**
 * The data directory when GRIFFIN_DATA_DIR is unset. A <repository>/.griffin left by an older
 * version is still chosen, so that a restart never opens an empty database beside the user's data;
 * inside the default code root it is then refused with a note on moving it.
 */
export function defaultDataDir(env: NodeJS.ProcessEnv, projectRoot: string): { dir: string; legacy: boolean } {
  const legacy = path.join(projectRoot, '.griffin');
  if (fs.existsSync(legacy)) return { dir: legacy, legacy: true };
  return { dir: userDataDir(env), legacy: false };
}

const NAMED_PROXY_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function isAddressOrSubnet(text: string): boolean {
  const [address, bits, extra] = text.split('/');
  const family = net.isIP(address);
  if (!family || extra !== undefined) return false;
  return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}

/** GRIFFIN_TRUST_PROXY: unset = no proxy; a hop count; `true`; or addresses, subnets and loopback/linklocal/uniquelocal. */
function trustProxyFrom(env: NodeJS.ProcessEnv): boolean | number | string {
  const raw = env.GRIFFIN_TRUST_PROXY?.trim();
  if (!raw || /^(false|no|off)$/i.test(raw)) return false;
  if (/^(true|yes|on)$/i.test(raw)) return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  const entries = raw.split(',').map((entry) => entry.trim());
  const bad = entries.find((entry) => !NAMED_PROXY_RANGES.has(entry) && !isAddressOrSubnet(entry));
  if (bad !== undefined) {
    throw new InputError(`GRIFFIN_TRUST_PROXY: "${bad}" is not an address, a subnet (10.0.0.0/8) or one of loopback, linklocal, uniquelocal`, 'GRIFFIN_TRUST_PROXY');
  }
  return entries.join(',');
}

/** Refuses a data directory inside the code root (symbolic links followed): a model or dataset could name it. */
function checkDataDirOutsideCodeRoot(dataDir: string, codeRoot: string, legacyMoveTo: string | undefined): void {
  if (!isWithin(realPathOf(codeRoot), realPathOf(dataDir))) return;
  if (legacyMoveTo) {
    throw new InputError(
      `Griffin's data directory ${dataDir} (the old default) lies inside the code root ${codeRoot}, where a model or dataset could name its database and secrets. ` +
        `With Griffin stopped and no local run in flight, move it to the new default: mkdir -p ${path.dirname(legacyMoveTo)} && mv ${dataDir} ${legacyMoveTo} ` +
        `(or set GRIFFIN_DATA_DIR to a directory outside GRIFFIN_CODE_ROOT)`,
      'GRIFFIN_DATA_DIR',
    );
  }
  throw new InputError(
    `GRIFFIN_DATA_DIR (${dataDir}) lies inside GRIFFIN_CODE_ROOT (${codeRoot}), where a model or dataset could name its database and secrets; choose a data directory outside the code root`,
    'GRIFFIN_DATA_DIR',
  );
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Parses the environment once; the result is frozen and passed down explicitly. `projectRoot`
 * (the repository) is where the code root defaults to and an old data directory is looked for.
 */
/** Where runtime venvs go by default: a directory the run user can reach when training runs as another user. */
export function defaultRuntimeDir(isolating: boolean, env: NodeJS.ProcessEnv): string {
  if (isolating) return '/var/cache/griffin/runtimes';
  return path.join(env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), '.cache'), 'griffin', 'runtimes');
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, projectRoot: string = PROJECT_ROOT): Config {
  const notices: string[] = [];
  const host = env.GRIFFIN_HOST || '127.0.0.1';
  const port = intFrom(env, 'GRIFFIN_PORT', 8080);
  if (port > 65535) throw new InputError('GRIFFIN_PORT must be at most 65535', 'GRIFFIN_PORT');
  const fallback = env.GRIFFIN_DATA_DIR ? undefined : defaultDataDir(env, projectRoot);
  const dataDir = path.resolve(env.GRIFFIN_DATA_DIR || fallback!.dir);
  const codeRoot = path.resolve(env.GRIFFIN_CODE_ROOT || projectRoot);
  checkDataDirOutsideCodeRoot(dataDir, codeRoot, fallback?.legacy ? userDataDir(env) : undefined);
  if (fallback?.legacy) {
    notices.push(`using the data directory ${dataDir} left by an older version; the default is now ${userDataDir(env)}: move it there (with Griffin stopped) or set GRIFFIN_DATA_DIR`);
  }
  const databaseUrl = secretFrom(env, 'GRIFFIN_DATABASE_URL', notices);
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
    codeRoot,
    adminToken: secretFrom(env, 'GRIFFIN_ADMIN_TOKEN', notices),
    secret: secretFrom(env, 'GRIFFIN_SECRET', notices),
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
    runtimeDir: path.resolve(env.GRIFFIN_RUNTIME_DIR || defaultRuntimeDir(process.getuid?.() === 0, env)),
    runtimeBuildTimeoutSeconds: intFrom(env, 'GRIFFIN_RUNTIME_BUILD_TIMEOUT_SECONDS', 1800, 10),
    logLevel: env.GRIFFIN_LOG_LEVEL || 'info',
    readCacheMs: intFrom(env, 'GRIFFIN_READ_CACHE_MS', 2000, 0),
    authCacheMs: intFrom(env, 'GRIFFIN_AUTH_CACHE_MS', 5000, 0),
    maxBodyBytes: intFrom(env, 'GRIFFIN_MAX_BODY_BYTES', 1024 * 1024, 1024),
    maxArtifactBytes: intFrom(env, 'GRIFFIN_MAX_ARTIFACT_BYTES', 256 * 1024 * 1024, 1024),
    maxCodeBytes: intFrom(env, 'GRIFFIN_MAX_CODE_BYTES', 100 * 1024 * 1024, 1024),
    reportTimeoutSeconds: intFrom(env, 'GRIFFIN_REPORT_TIMEOUT', 900, 0),
    logFollowStallSeconds: intFrom(env, 'GRIFFIN_LOG_FOLLOW_STALL_SECONDS', 30, 1),
    authFailureLimit: intFrom(env, 'GRIFFIN_AUTH_FAILURE_LIMIT', 20, 1),
    trustProxy: trustProxyFrom(env),
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
    startupNotices: Object.freeze(notices),
  });
}
