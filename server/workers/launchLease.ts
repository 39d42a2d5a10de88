import type { Run } from '../domain/index.ts';
import { LeaseLost } from '../executors/types.ts';
import type { Logger } from '../logger.ts';
import type { RunStore } from '../store/runStore.ts';

/**
 * Keeps a launch's lease alive while it copies code, bundles and submits: renewed every third of
 * the lease, so another replica takes the run over only when this one really stopped (crashed, or
 * lost the database for longer than the lease). Each renewal is a compare-and-set on the expiry it
 * wrote last; when it fails, someone else owns the launch and `signal` aborts it.
 */
export class LaunchLease {
  private readonly controller = new AbortController();
  private expiry: string;
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly runs: RunStore,
    private readonly run: Run,
    private readonly leaseSeconds: number,
    private readonly logger: Logger,
  ) {
    this.expiry = run.leaseExpiresAt ?? '';
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  start(): this {
    this.timer = setInterval(() => {
      this.renew().catch(() => undefined);
    }, Math.max(100, (this.leaseSeconds * 1000) / 3));
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Extends the lease now; throws LeaseLost when it is gone. Renewals never overlap. */
  renew(): Promise<void> {
    const next = this.chain.then(() => this.renewOnce());
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async renewOnce(): Promise<void> {
    if (this.controller.signal.aborted) throw this.controller.signal.reason;
    const until = new Date(Date.now() + this.leaseSeconds * 1000).toISOString();
    let kept: boolean;
    try {
      kept = await this.runs.extendLease(this.run.id, this.expiry, until);
    } catch (error) {
      // A database hiccup is not a lost lease: the next heartbeat tries again while the lease lasts.
      this.logger.warn({ err: error, runId: this.run.id }, 'could not renew a launch lease');
      if (Date.parse(this.expiry) > Date.now()) return;
      throw error;
    }
    if (!kept) {
      const lost = new LeaseLost(this.run.id);
      this.controller.abort(lost);
      throw lost;
    }
    this.expiry = until;
  }
}
