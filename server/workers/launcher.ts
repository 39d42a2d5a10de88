import type { Run } from '../domain.ts';
import { StateConflict } from '../errors.ts';
import type { ExecutorRegistry } from '../executors/registry.ts';
import type { Logger } from '../logger.ts';
import type { RunStore } from '../store/runStore.ts';
import type { RunService } from '../services/runService.ts';
import { BackendUnreachable, unreachableReason, unreachableSince } from '../executors/unreachable.ts';

/**
 * Launches a claimed (launching) run outside any transaction, then records the result. Shared by
 * the dispatcher (fresh claims) and the reconciler (claims whose owner died mid-launch).
 */
export class Launcher {
  constructor(
    private readonly runs: RunStore,
    private readonly runService: RunService,
    private readonly executors: ExecutorRegistry,
    private readonly logger: Logger,
  ) {}

  async launch(run: Run): Promise<void> {
    const log = this.logger.child({ runId: run.id, backend: run.backend });
    let ref: Record<string, unknown>;
    try {
      const executor = this.executors.get(run.backend);
      ref = await executor.launch({ run, env: this.runService.environment(run) });
    } catch (error) {
      if (error instanceof BackendUnreachable) return this.deferLaunch(run, error);
      const message = error instanceof Error ? error.message : String(error);
      log.warn({ err: error }, 'launch failed');
      await this.runs.transition(run.id, ['launching'], 'failed', `launch failed: ${message}`).catch((e) => this.ignoreConflict(e));
      return;
    }
    const now = new Date();
    try {
      await this.runs.transition(run.id, ['launching'], 'running', `started on ${run.backend}`, {
        backendRef: ref,
        leaseOwner: null,
        leaseExpiresAt: null,
        startedAt: now.toISOString(),
        deadlineAt: new Date(now.getTime() + run.spec.timeoutSeconds * 1000).toISOString(),
      });
      log.info('run started');
    } catch (error) {
      if (!(error instanceof StateConflict)) throw error;
      // Cancelled while launching: keep the reference so the reconciler can stop what started.
      await this.runs.patchWhileIn(run.id, ['cancelling'], { backendRef: ref });
      await this.executors.get(run.backend).cancel({ ...run, backendRef: ref }).catch(() => undefined);
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
      await this.runs.transition(run.id, ['launching'], 'failed', reason).catch((e) => this.ignoreConflict(e));
      return;
    }
    this.logger.warn({ runId: run.id, backend: run.backend, since }, `launch deferred: ${error.message}`);
    await this.runs.patchWhileIn(run.id, ['launching'], { backendRef: { unreachableSince: since } });
  }

  private ignoreConflict(error: unknown): void {
    if (!(error instanceof StateConflict)) throw error;
  }
}
