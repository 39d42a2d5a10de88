import type { Logger } from '../logger.ts';

/**
 * Runs `pass` every `intervalMs`, never overlapping itself; wake() runs it soon without waiting
 * for the interval. stop() resolves once the pass in progress has finished.
 */
export class WorkerLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private rerun = false;
  private stopped = true;

  constructor(
    private readonly name: string,
    private readonly intervalMs: number,
    private readonly pass: () => Promise<void>,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.rerun = true;
      return;
    }
    this.schedule(0);
  }

  private schedule(delay: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), delay);
  }

  private async tick(): Promise<void> {
    if (this.stopped || this.running) return;
    this.running = this.pass().catch((error) => this.logger.error({ err: error, worker: this.name }, `${this.name} pass failed`));
    await this.running;
    this.running = undefined;
    if (this.stopped) return;
    this.schedule(this.rerun ? 0 : this.intervalMs);
    this.rerun = false;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
