import type { BackendName, Run } from '../domain/index.ts';
import { Transitions } from '../domain/index.ts';
import { GriffinError, StateConflict } from '../errors.ts';
import type { ExecutorRegistry } from '../executors/registry.ts';
import { readLogTail } from '../executors/logs.ts';
import type { Executor } from '../executors/types.ts';
import { failureCause, withCause } from '../services/failureCause.ts';
import type { Logger } from '../logger.ts';
import type { RunStore } from '../store/runStore.ts';
import type { RegistryService } from '../services/registryService.ts';
import type { Launcher } from './launcher.ts';
import { AttemptEnd } from './attemptEnd.ts';

/** How much of a failed run's log is read for its cause: enough for a long traceback. */
const FAILURE_LOG_TAIL_BYTES = 64 * 1024;

const CANCEL_FORCE_AFTER_MS = 30_000;

/**
 * Level-triggered: a full sweep compares every in-flight run with what its backend says and fixes
 * the difference; it keeps no memory that matters, so a restarted service loses nothing.
 *
 * A full sweep costs about as much as reading every in-flight run (the bench: ~0.9 s of CPU for
 * 10,000 on SQLite), so it runs every `fullSweepMs`. The passes between look only at runs that may
 * have changed: those an executor reported (the local executor sees its children exit, the
 * Kubernetes executors watch their Jobs and RayJobs, the Ray executor diffs one listing of its
 * head), those on backends not following their changes right now (a watch that is reconnecting),
 * launching and cancelling runs, and runs past their deadline.
 * Anything an event misses (a process re-attached after a restart has no parent to report its
 * exit) is caught by the next sweep.
 */
export class Reconciler {
  private readonly changed = new Set<string>();
  private lastFullSweep = 0;
  private readonly attemptEnd: AttemptEnd;

  constructor(
    private readonly runs: RunStore,
    private readonly executors: ExecutorRegistry,
    private readonly registry: RegistryService,
    private readonly launcher: Launcher,
    private readonly options: {
      instanceId: string;
      leaseSeconds: number;
      fullSweepMs: number;
      eventedBackends: readonly BackendName[];
      onRunEnded?: (run: Run) => Promise<void>;
      redact?: (run: Run, text: string) => Promise<string>;
      /** Shared with the launcher; built from onRunEnded when not given. */
      attemptEnd?: AttemptEnd;
    },
    private readonly logger: Logger,
  ) {
    this.attemptEnd =
      options.attemptEnd ??
      new AttemptEnd(runs, { onAttemptEnded: options.onRunEnded, release: async (run) => (executors.has(run.backend) ? executors.get(run.backend).release?.(run) : undefined) }, logger);
  }

  /** An executor saw this run change (e.g. its process exited): the next pass looks at it. */
  markChanged(runId: string): void {
    this.changed.add(runId);
  }

  async pass(): Promise<void> {
    const now = Date.now();
    if (now - this.lastFullSweep >= this.options.fullSweepMs) {
      await this.sweepAll();
      return;
    }
    const runIds = [...this.changed];
    this.changed.clear();
    const polledBackends = this.executors.names().filter((b) => !this.options.eventedBackends.includes(b) && !this.executors.get(b).followingChanges?.());
    const runs = await this.runs.needingAttention({ runIds, polledBackends, now: new Date(now).toISOString() });
    const reported = new Set(runIds);
    for (const run of runs) {
      // A fast process can exit before its launch is recorded: the event names a run still
      // launching, which this pass cannot judge. Keep it marked for the pass after the launch.
      if (run.state === 'launching' && reported.has(run.id)) this.changed.add(run.id);
      await this.reconcileOne(run);
    }
  }

  /** Every in-flight run against its backend: the level-triggered ground truth. */
  async sweepAll(): Promise<void> {
    this.lastFullSweep = Date.now();
    this.changed.clear();
    for await (const page of this.runs.inFlight()) {
      for (const run of page) await this.reconcileOne(run);
    }
  }

  private async reconcileOne(run: Run): Promise<void> {
    try {
      await this.reconcile(run);
    } catch (error) {
      if (error instanceof StateConflict) return; // someone else moved it; the next pass sees the new state
      this.logger.warn({ err: error, runId: run.id }, 'could not reconcile run');
    }
  }

  private async reconcile(run: Run): Promise<void> {
    const now = Date.now();
    if (run.state === 'launching') {
      if (run.leaseExpiresAt && Date.parse(run.leaseExpiresAt) < now) await this.takeOverLaunch(run);
      return;
    }
    if (!this.executors.has(run.backend)) {
      await this.runs.transition(run.id, Transitions.backendGone, `the ${run.backend} backend is not configured on this server any more`);
      return;
    }
    const executor = this.executors.get(run.backend);
    const status = await executor.status(run);
    await this.recordDetails(run, status.details);

    if (run.state === 'cancelling') {
      // The backend cannot be asked right now (see executors/unreachable.ts); the next pass tries again.
      if (status.phase === 'unknown') return;
      if (status.phase === 'running' || status.phase === 'pending') {
        const requested = run.cancelRequestedAt ? Date.parse(run.cancelRequestedAt) : now;
        await executor.cancel(run, { force: now - requested > CANCEL_FORCE_AFTER_MS });
        return;
      }
      await this.attemptEnd.attemptEnded(await this.runs.transition(run.id, Transitions.cancelled, run.reason ?? 'cancelled'));
      return;
    }

    // running
    switch (status.phase) {
      case 'succeeded': {
        const outcome = await this.registerModel(run, status.undeliveredReports).catch((error: unknown) => {
          // No executor event will name this run again: look at it on the next pass, not the next sweep.
          this.markChanged(run.id);
          throw error;
        });
        await this.attemptEnd.attemptEnded(await this.runs.transition(run.id, Transitions.succeeded, outcome));
        return;
      }
      case 'failed':
      case 'lost': {
        // A lost run was lost by the backend, never by its code.
        const infrastructure = status.phase === 'lost' || status.infrastructure === true;
        // The cause comes from the backend and the training log, where code may have printed a secret's value.
        const reason = withCause(status.reason ?? 'the backend reported a failure', await this.causeInLog(run, executor, infrastructure));
        await this.attemptEnd.failed(run, Transitions.failed, (await this.options.redact?.(run, reason)) ?? reason, { infrastructure });
        return;
      }
      default:
        if (run.deadlineAt && Date.parse(run.deadlineAt) < now) {
          await executor.cancel(run, { force: true }).catch(() => undefined);
          await this.attemptEnd.failed(run, Transitions.timedOut, `timed out: still running after the ${run.spec.timeoutSeconds} s timeout`, { infrastructure: false });
        }
    }
  }

  /** What the backend adds to its reference (a dashboard URL, since when it is unreachable) is kept on the run. */
  private async recordDetails(run: Run, details: Record<string, unknown> | undefined): Promise<void> {
    if (!details) return;
    const current = run.backendRef ?? {};
    const changed = Object.entries(details).some(([key, value]) => JSON.stringify(current[key] ?? null) !== JSON.stringify(value ?? null));
    if (!changed) return;
    const merged = Object.fromEntries(Object.entries({ ...current, ...details }).filter(([, value]) => value !== null && value !== undefined));
    await this.runs.patchWhileIn(run.id, [run.state], { backendRef: merged });
  }

  /** The instance that claimed this run died mid-launch: take over its lease and launch again (idempotent). */
  private async takeOverLaunch(run: Run): Promise<void> {
    const leaseUntil = new Date(Date.now() + this.options.leaseSeconds * 1000).toISOString();
    const took = await this.runs.takeOverLease(run.id, run.leaseExpiresAt!, this.options.instanceId, leaseUntil);
    if (!took) return;
    this.logger.info({ runId: run.id, previousOwner: run.leaseOwner }, 'recovering a launch whose lease expired');
    await this.launcher.launch({ ...run, leaseOwner: this.options.instanceId, leaseExpiresAt: leaseUntil });
  }

  /** The log line that says why a run failed; never a reason to fail the reconcile itself. */
  private async causeInLog(run: Run, executor: Executor, infrastructure: boolean): Promise<string | undefined> {
    try {
      const tail = await readLogTail(executor, run, FAILURE_LOG_TAIL_BYTES);
      // A log that holds several attempts (the local backend's) is read from this attempt's first line on.
      const start = tail.indexOf(`[griffin] attempt ${run.attempt}: `);
      return failureCause(start > 0 ? tail.slice(start) : tail, { tracebackOnly: infrastructure });
    } catch (error) {
      this.logger.debug({ err: error, runId: run.id }, 'could not read the log of a failed run');
      return undefined;
    }
  }

  /**
   * Registers the model version of a run whose training succeeded and says, as the reason of its
   * success, whether that worked. The exit status decides success; reports that never arrived
   * (the process gave up after GRIFFIN_REPORT_TIMEOUT) or a registry refusal only keep the version
   * from being registered. A failure that may pass (the database away) is thrown, so the run stays
   * running and the next pass tries again, until the run's deadline.
   */
  private async registerModel(run: Run, undeliveredReports: string | undefined): Promise<string> {
    const success = 'the training process finished successfully';
    if (undeliveredReports) {
      const reason = `${success}, but ${undeliveredReports}${run.spec.register ? '; its model version was not registered' : ''}`;
      this.logger.error({ runId: run.id }, reason);
      return reason;
    }
    if (!run.spec.register) return success;
    try {
      const version = await this.registry.registerFromRun(run);
      if (version) this.logger.info({ runId: run.id, model: version.name, version: version.version }, 'registered model version');
      return success;
    } catch (error) {
      const pastDeadline = run.deadlineAt !== null && Date.parse(run.deadlineAt) < Date.now();
      if (!(error instanceof GriffinError) && !pastDeadline) throw error;
      // The training itself succeeded; a registry problem must not turn it into a failure.
      this.logger.error({ err: error, runId: run.id }, 'run succeeded but registering its model version failed');
      return `${success}, but registering its model version failed: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
}
