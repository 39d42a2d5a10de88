import type { Logger } from '../logger.ts';
import type { RayJobDetails } from './rayClient.ts';
import { describeFailure } from './retry.ts';

/** What about a Ray job makes the reconciler look at its run: its status and exit code. */
const fingerprint = (job: RayJobDetails): string => `${job.status}|${job.driver_exit_code ?? ''}`;

/**
 * Ray's Jobs API has no watch: this takes one listing of the head every `intervalMs` and reports
 * the runs whose Griffin job changed status, appeared or disappeared since the last listing. The
 * reconciler then looks only at those between its full sweeps, instead of asking about every
 * Ray run on every pass. After a listing that fails, the feed is not `following` (the reconciler
 * polls Ray runs, which reports the head unreachable), and the first listing that works again
 * reports every Griffin job it holds, since what changed meanwhile was not seen.
 */
export class RayChangeFeed {
  private seen: Map<string, { runId: string; fingerprint: string }> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private failing = false;

  constructor(
    private readonly list: () => Promise<RayJobDetails[]>,
    private readonly onChange: (runId: string) => void,
    private readonly logger: Logger,
    private readonly intervalMs: number,
    private readonly target: string,
  ) {}

  /** True while the last listing worked: every change since has been or will be reported. */
  get following(): boolean {
    return this.seen !== undefined;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    this.seen = undefined;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.poll().finally(() => {
        this.running = undefined;
        this.schedule(this.intervalMs);
      });
    }, ms);
    this.timer.unref?.();
  }

  /** One listing, compared with the one before. */
  async poll(): Promise<void> {
    let jobs: RayJobDetails[];
    try {
      jobs = await this.list();
    } catch (error) {
      if (!this.failing) this.logger.warn({ target: this.target, reason: describeFailure(error) }, 'listing the Ray jobs failed; Ray runs are polled until it works again');
      this.failing = true;
      this.seen = undefined;
      return;
    }
    if (this.failing) this.logger.info({ target: this.target }, 'listing the Ray jobs works again');
    this.failing = false;
    const before = this.seen;
    const now = new Map<string, { runId: string; fingerprint: string }>();
    for (const job of jobs) {
      const runId = job.metadata?.griffin_run_id;
      if (!runId) continue;
      const entry = { runId, fingerprint: fingerprint(job) };
      now.set(job.submission_id, entry);
      if (before?.get(job.submission_id)?.fingerprint !== entry.fingerprint) this.onChange(runId);
    }
    if (before) for (const [submissionId, { runId }] of before) if (!now.has(submissionId)) this.onChange(runId);
    this.seen = now;
  }
}
