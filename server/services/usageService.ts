import { Counter, type Registry } from 'prom-client';
import type { Run, RunUsageView } from '../domain/index.ts';
import { isTerminal } from '../domain/index.ts';
import type { UsageStore } from '../store/usageStore.ts';
import { attemptUsage, type AttemptUsage } from '../domain/usage.ts';

/** The workflow label of a run; inline specs share one series. */
const workflowLabel = (run: Run): string => run.workflowName ?? '(inline)';

/**
 * Records each ended attempt's usage (once, whichever replica sees the end) and counts it in
 * Prometheus counters by workflow. Counters are per replica, as Prometheus expects: sum() them.
 */
export class UsageService {
  private readonly wallSeconds: Counter<'workflow'>;
  private readonly resourceSeconds: Counter<'workflow' | 'resource'>;
  private readonly attempts: Counter<'workflow'>;

  constructor(
    private readonly store: UsageStore,
    registry: Registry,
  ) {
    this.wallSeconds = new Counter({ name: 'griffin_run_wall_seconds_total', help: 'Wall time of ended run attempts, from running to their end', labelNames: ['workflow'], registers: [registry] });
    this.resourceSeconds = new Counter({
      name: 'griffin_run_resource_seconds_total',
      help: 'Requested resources times wall time of ended run attempts (cpu: core-seconds, memory_mb: MB-seconds, gpu: GPU-seconds)',
      labelNames: ['workflow', 'resource'],
      registers: [registry],
    });
    this.attempts = new Counter({ name: 'griffin_run_attempts_ended_total', help: 'Run attempts that ended after they started running', labelNames: ['workflow'], registers: [registry] });
  }

  /** The attempt of a run that has just ended (its finishedAt set). */
  async attemptEnded(run: Run): Promise<void> {
    const usage = attemptUsage(run, run.finishedAt ?? new Date().toISOString());
    if (!usage) return;
    if (!(await this.store.record(run.id, run.workflowName, run.backend, usage))) return;
    const workflow = workflowLabel(run);
    this.attempts.inc({ workflow });
    this.wallSeconds.inc({ workflow }, usage.wallSeconds);
    this.resourceSeconds.inc({ workflow, resource: 'cpu' }, usage.resourceSeconds.cpu);
    this.resourceSeconds.inc({ workflow, resource: 'memory_mb' }, usage.resourceSeconds.memoryMb);
    this.resourceSeconds.inc({ workflow, resource: 'gpu' }, usage.resourceSeconds.gpu);
  }

  /** Every attempt's usage: the recorded ones, and the current one so far while it runs. */
  async ofRun(run: Run): Promise<RunUsageView> {
    const attempts = await this.store.ofRun(run.id);
    if (!attempts.some((a) => a.attempt === run.attempt)) {
      // A terminal run without a row ended before usage was recorded (or the recording failed): its end is finishedAt.
      const current = attemptUsage(run, isTerminal(run.state) ? run.finishedAt : null);
      if (current) attempts.push(current);
    }
    const sum = (pick: (a: AttemptUsage) => number) => Math.round(attempts.reduce((n, a) => n + pick(a), 0) * 1000) / 1000;
    return {
      attempts,
      total: {
        wallSeconds: sum((a) => a.wallSeconds),
        resourceSeconds: { cpu: sum((a) => a.resourceSeconds.cpu), memoryMb: sum((a) => a.resourceSeconds.memoryMb), gpu: sum((a) => a.resourceSeconds.gpu) },
      },
    };
  }
}
