import type { AttemptFailure, Run, Transition } from '../domain/index.ts';
import { finalReason, retryDelaySeconds, retryPolicyOf, retryReason, shouldRetry, Transitions } from '../domain/index.ts';
import type { Logger } from '../logger.ts';
import type { RunStore } from '../store/runStore.ts';

export interface AttemptEndOptions {
  /** The ended attempt's usage is recorded (usageService), whether another attempt follows or not. */
  onAttemptEnded?: (run: Run) => Promise<void>;
  /** Frees what the attempt held beside its backend object (a per-run Secret); the next launch makes it again. */
  release?: (run: Run) => Promise<void>;
  random?: () => number;
}

/**
 * What happens when an attempt fails, decided in one place for the reconciler (the backend reported
 * a failure, lost the run, or the run timed out) and the launcher (the launch failed): the run's
 * retry policy either queues it again for its next attempt, after a backoff kept on the run
 * (not_before, so a restart during the wait loses nothing), or the run fails with `move`.
 */
export class AttemptEnd {
  constructor(
    private readonly runs: RunStore,
    private readonly options: AttemptEndOptions,
    private readonly logger: Logger,
  ) {}

  /**
   * Returns the run as stored afterwards. A StateConflict propagates: the run was cancelled
   * meanwhile, or another replica already ended this attempt (and the next one may be running).
   */
  async failed(run: Run, move: Transition, why: string, failure: AttemptFailure): Promise<Run> {
    const policy = retryPolicyOf(run.spec);
    if (!shouldRetry(policy, run.attempt, failure)) {
      const ended = await this.runs.transition(run.id, move, finalReason(policy, run.attempt, why, failure), {}, { attempt: run.attempt });
      await this.attemptEnded(ended);
      return ended;
    }
    const delay = retryDelaySeconds(policy, run.attempt, this.options.random);
    const endedAt = new Date();
    const next = await this.runs.transition(run.id, Transitions.retried, retryReason(run.attempt, why, delay, policy.maxAttempts), {
      attempt: run.attempt + 1,
      notBefore: new Date(endedAt.getTime() + delay * 1000).toISOString(),
      backendRef: null,
      leaseOwner: null,
      leaseExpiresAt: null,
      deadlineAt: null,
      startedAt: null,
    }, { attempt: run.attempt });
    this.logger.info({ runId: run.id, attempt: run.attempt, nextAttempt: next.attempt, delaySeconds: delay }, 'run attempt failed; retrying');
    // The attempt that ended, as it was: its own number and start, ended now.
    await this.attemptEnded({ ...run, finishedAt: endedAt.toISOString() } as Run);
    return next;
  }

  /** Usage and release of an attempt that has ended; a failure of either is logged and does not hold the run back. */
  async attemptEnded(run: Run): Promise<void> {
    await this.options.onAttemptEnded?.(run).catch((error: unknown) => this.logger.warn({ err: error, runId: run.id }, 'could not record the usage of the ended attempt'));
    await this.options.release?.(run).catch((error: unknown) => this.logger.warn({ err: error, runId: run.id }, 'could not release what the ended attempt held'));
  }
}
