import type { BackendName, ResolvedRunSpec, Run } from '../domain/index.ts';

/**
 * What a backend reports about one launched run. `lost` means the backend has no trace of it;
 * `unknown` means the backend could not be asked (the run keeps its state; see unreachable.ts).
 */
export type BackendPhase = 'pending' | 'running' | 'succeeded' | 'failed' | 'lost' | 'unknown';

export interface BackendStatus {
  phase: BackendPhase;
  /** Why it failed or was lost, in words a user can act on. */
  reason?: string;
  /**
   * A failure the infrastructure caused, not the training code's own exit: killed by a signal
   * (OOM included), an evicted or preempted pod, a lost node, a backend unreachable past its grace.
   * Runs whose retryOn is "infrastructure" are retried only for these (and for `lost`).
   */
  infrastructure?: boolean;
  /** Extra reference data worth storing on the run (e.g. a dashboard URL); merged into backendRef. */
  details?: Record<string, unknown>;
  /**
   * Reports (metrics, artifacts) the training process gave up delivering, in words, when the
   * backend can tell: its model version is then not registered.
   */
  undeliveredReports?: string;
}

export interface LaunchRequest {
  run: Run;
  /** GRIFFIN_* variables and hyperparameters the training process must see. */
  env: Record<string, string>;
  /**
   * Variables resolved from secrets, for the training process only: a backend passes them by
   * reference where it can (a Kubernetes Secret) and never records them in what it returns or logs.
   */
  secretEnv?: Record<string, string>;
  /** Aborted when this launch lost its lease (another replica took the run over, or it was cancelled). */
  signal?: AbortSignal;
  /**
   * Extends the launch lease now and throws LeaseLost when it is gone. A backend calls it just
   * before it starts anything, so that a launch whose lease was taken over never starts a second copy.
   */
  renewLease?: () => Promise<void>;
}

/**
 * Whether a launch error is the backend's own trouble rather than the run's (an error that says
 * `infrastructure: true`, e.g. Ray's "try again later"): retried under retryOn "infrastructure".
 */
export const isInfrastructureError = (error: unknown): boolean => typeof error === 'object' && error !== null && (error as { infrastructure?: unknown }).infrastructure === true;

/** This launch no longer owns the run: whoever took it over launches it; nothing must be started or recorded. */
export class LeaseLost extends Error {
  constructor(runId: string) {
    super(`run ${runId}: the launch lease was lost (taken over, or the run left launching)`);
    this.name = 'LeaseLost';
  }
}

export interface LogChunk {
  text: string;
  nextCursor: number;
}

/** What a backend's rules look at: the run's code, runtime and resources. */
export type SpecToValidate = Pick<ResolvedRunSpec, 'backend' | 'model' | 'runtime' | 'resources'>;

/**
 * Why a backend cannot run a spec, in words a user can act on, and which part of the spec to
 * change: the caller turns `field` into the request's own path (spec.runtime, overrides.backend).
 */
export interface SpecProblem {
  message: string;
  field: 'runtime' | 'backend' | 'resources.customResources';
}

/**
 * One interface for every backend. launch() must be idempotent for a (run id, attempt): the
 * backend object is named from them, so a second call adopts what the first created.
 */
/** A slice of a log as bytes; `nextCursor` is the byte offset after it. */
export interface LogBytes {
  bytes: Buffer;
  nextCursor: number;
}

export interface Executor {
  readonly name: BackendName;
  launch(request: LaunchRequest): Promise<Record<string, unknown>>;
  status(run: Run): Promise<BackendStatus>;
  /** Asks the backend to stop the run; `force` when a polite stop was already tried. */
  cancel(run: Run, options?: { force?: boolean }): Promise<void>;
  logs(run: Run, cursor: number, limit: number): Promise<LogChunk>;
  /**
   * The same bytes as `logs`, undecoded, for backends that read them from a file: a follower
   * streams them as they are, read into a buffer of its own (`into`) that it reuses.
   */
  logBytes?(run: Run, cursor: number, limit: number, into?: Buffer): Promise<LogBytes>;
  /** About the last `bytes` of the log, for backends that can read it without reading the rest. */
  logTail?(run: Run, bytes: number): Promise<string>;
  /** The backend's own rules for a spec (an image, a Ray version, where code may live); nothing is contacted. */
  validate(spec: SpecToValidate): SpecProblem | undefined;
  /** Frees what a finished run still holds beside its backend object (the per-run Kubernetes Secret). */
  release?(run: Run): Promise<void>;
  /** Exactly what launch() would send or create, without doing it. */
  render(request: LaunchRequest): Promise<unknown>;
  /** Starts following the backend's changes (a watch, a listing poll), each reported with the run's id. */
  startFollowing?(): void;
  stopFollowing?(): Promise<void>;
  /**
   * True while every change of this backend's runs is being reported: the reconciler then looks at
   * its runs only when told (and at the full sweep); while false, it asks about them on every pass.
   */
  followingChanges?(): boolean;
}

export const backendObjectName = (runId: string, attempt: number): string => `griffin-run-${runId}-${attempt}`;
