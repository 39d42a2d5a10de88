import type { Run } from '../domain/index.ts';
import { Transitions } from '../domain/index.ts';
import { StateConflict } from '../errors.ts';
import type { ExecutorRegistry } from '../executors/registry.ts';
import type { Logger } from '../logger.ts';
import type { RunStore } from '../store/runStore.ts';
import type { RunService } from '../services/runService.ts';
import { BackendUnreachable, unreachableReason, unreachableSince } from '../executors/unreachable.ts';
import { isInfrastructureError, LeaseLost } from '../executors/types.ts';
import { LaunchLease } from './launchLease.ts';
import { AttemptEnd } from './attemptEnd.ts';

/**
 * Launches a claimed (launching) run outside any transaction, then records the result. Shared by
 * the dispatcher (fresh claims) and the reconciler (claims whose owner died mid-launch).
 */
export class Launcher {
  constructor(
    private readonly runs: RunStore,
    private readonly runService: RunService,
    private readonly executors: ExecutorRegistry,
    private readonly options: { leaseSeconds: number },
    private readonly logger: Logger,
    /** The run's secret env values (secretService.ts); resolved per launch, never stored. */
    private readonly resolveSecrets: (run: Run) => Promise<Record<string, string>> = async () => ({}),
    /** Decides, with the reconciler, whether a failed attempt is retried. */
    private readonly attemptEnd: AttemptEnd = new AttemptEnd(runs, {}, logger),
  ) {}

  /** `run` carries the lease this launch holds (its leaseExpiresAt as stored). */
  async launch(run: Run): Promise<void> {
    const log = this.logger.child({ runId: run.id, backend: run.backend });
    let ref: Record<string, unknown>;
    const lease = new LaunchLease(this.runs, run, this.options.leaseSeconds, log).start();
    try {
      const executor = this.executors.get(run.backend);
      const secretEnv = await this.resolveSecrets(run);
      ref = await executor.launch({ run, env: await this.runService.launchEnvironment(run), secretEnv, signal: lease.signal, renewLease: () => lease.renew() });
    } catch (error) {
      if (error instanceof LeaseLost || lease.signal.aborted) {
        log.info('launch abandoned: its lease was taken over or the run left launching');
        return;
      }
      if (error instanceof BackendUnreachable) return this.deferLaunch(run, error);
      const message = error instanceof Error ? error.message : String(error);
      log.warn({ err: error }, 'launch failed');
      await this.attemptEnd.failed(run, Transitions.launchFailed, `launch failed: ${message}`, { infrastructure: isInfrastructureError(error) }).catch((e) => this.ignoreConflict(e));
      return;
    } finally {
      lease.stop();
    }
    const now = new Date();
    try {
      await this.runs.transition(run.id, Transitions.started, `started on ${run.backend}`, {
        backendRef: ref,
        leaseOwner: null,
        leaseExpiresAt: null,
        startedAt: now.toISOString(),
        deadlineAt: new Date(now.getTime() + run.spec.timeoutSeconds * 1000).toISOString(),
      }, { attempt: run.attempt });
      log.info('run started');
    } catch (error) {
      if (!(error instanceof StateConflict)) throw error;
      // Cancelled while launching: keep the reference so the reconciler can stop what started.
      if (await this.runs.patchWhileIn(run.id, [Transitions.cancelled.from[0]], { backendRef: ref })) {
        await this.executors.get(run.backend).cancel({ ...run, backendRef: ref }).catch(() => undefined);
        return;
      }
      // Another launch recorded the run first. A reference with a launchId (local) is a process of
      // this launch alone and is stopped; other backends name one object per attempt, which the
      // winner adopted, so it is left alone.
      const current = await this.runs.get(run.id);
      if (ref.launchId && current?.backendRef?.launchId !== ref.launchId) {
        log.warn({ winner: current?.backendRef?.launchId, ours: ref.launchId }, 'another launch recorded this run first; stopping ours');
        await this.executors.get(run.backend).cancel({ ...run, backendRef: ref }, { force: true }).catch(() => undefined);
      }
    }
  }

  /**
   * The backend did not answer: the run stays launching and its lease runs out, so the
   * reconciler launches it again (idempotently) until the backend's grace period is over.
   */
  private async deferLaunch(run: Run, error: BackendUnreachable): Promise<void> {
    const since = unreachableSince(run) ?? new Date().toISOString();
    const elapsed = (Date.now() - Date.parse(since)) / 1000;
    if (elapsed >= error.graceSeconds) {
      const reason = `launch failed: ${unreachableReason(error.target, elapsed, error.lastError)}`;
      await this.attemptEnd.failed(run, Transitions.launchFailed, reason, { infrastructure: true }).catch((e) => this.ignoreConflict(e));
      return;
    }
    this.logger.warn({ runId: run.id, backend: run.backend, since }, `launch deferred: ${error.message}`);
    await this.runs.patchWhileIn(run.id, Transitions.started.from, { backendRef: { unreachableSince: since } });
  }

  private ignoreConflict(error: unknown): void {
    if (!(error instanceof StateConflict)) throw error;
  }
}
