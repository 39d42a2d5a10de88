import nodeCron, { type ScheduledTask } from 'node-cron';
import type { Logger } from '../logger.ts';
import type { Schedule, ScheduleStore } from '../store/scheduleStore.ts';
import type { ScheduleService } from '../services/scheduleService.ts';
import { floorToSecond } from '../domain/cron.ts';
import { WorkerLoop } from './loop.ts';

export interface SchedulerOptions {
  /** How often the schedules table is checked for changes made on any replica. */
  syncIntervalMs: number;
  /** A firing still pending after this long lost its claimer and is finished by another replica. */
  staleFiringMs: number;
  /**
   * How long after a timer starts its catch-up waits. Ticks up to the timer's start belong to
   * replicas that were already running; waiting lets them claim those first, so catch-up only
   * ever sees fire times that nobody fired, and never takes a live tick from another replica.
   */
  catchUpDelayMs?: number;
}

interface Timer {
  task: ScheduledTask;
  cron: string;
  timezone: string;
  enabledAt: string | null;
  stall?: { from: Date; upTo: Date };
}

const DEFAULT_CATCH_UP_DELAY_MS = 2000;
/** A tick node-cron reports as missed but no later than this still fires as itself. */
const LATE_TICK_GRACE_MS = 5000;

/**
 * One node-cron task per enabled schedule, in the schedule's time zone. Every tick claims its
 * (schedule, scheduled time) firing in the database before anything is submitted, so replicas
 * all tick and exactly one fires. The task set follows the schedules table: a cheap signature is
 * polled every sync interval, and any change (on any replica) rebuilds the affected tasks.
 */
export class Scheduler {
  private readonly timers = new Map<string, Timer>();
  private readonly catchUps = new Set<NodeJS.Timeout>();
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly loop: WorkerLoop;
  private readonly cronLogger;
  private signature: string | undefined;
  private lastRecovery = 0;
  private running = false;

  constructor(
    private readonly store: ScheduleStore,
    private readonly service: ScheduleService,
    private readonly options: SchedulerOptions,
    private readonly logger: Logger,
  ) {
    this.loop = new WorkerLoop('scheduler', options.syncIntervalMs, () => this.pass(), logger);
    const log = logger.child({ worker: 'scheduler' });
    this.cronLogger = {
      info: (m: string) => log.info(m),
      warn: (m: string) => log.warn(m),
      error: (m: string | Error, err?: Error) => log.error({ err: err ?? m }, String(m)),
      debug: (m: string | Error) => log.debug(String(m)),
    };
  }

  start(): void {
    this.running = true;
    this.loop.start();
  }

  /** Sync now (after a change made through this replica's API). */
  wake(): void {
    this.loop.wake();
  }

  /** Stops every timer and waits for firings in progress, so none is left half-recorded. */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop.stop();
    for (const t of this.catchUps) clearTimeout(t);
    this.catchUps.clear();
    for (const id of [...this.timers.keys()]) this.drop(id);
    this.signature = undefined;
    await Promise.allSettled([...this.inflight]);
  }

  /** The schedule ids this replica currently has timers for (for tests and diagnostics). */
  armed(): string[] {
    return [...this.timers.keys()];
  }

  private async pass(): Promise<void> {
    await this.sync();
    const now = Date.now();
    if (now - this.lastRecovery >= Math.min(10_000, this.options.staleFiringMs / 2)) {
      this.lastRecovery = now;
      const recovered = await this.service.recoverStale(new Date(now - this.options.staleFiringMs));
      if (recovered) this.logger.warn({ recovered }, 'finished schedule firings left pending by a replica that went away');
    }
  }

  private async sync(): Promise<void> {
    // Read the signature first: a change racing the reload only causes one more reload.
    const signature = await this.store.signature();
    if (signature === this.signature) return;
    const schedules = await this.store.listAll();
    if (!this.running) return;
    const present = new Set<string>();
    for (const schedule of schedules) {
      present.add(schedule.id);
      const timer = this.timers.get(schedule.id);
      if (!schedule.enabled) {
        if (timer) this.drop(schedule.id);
      } else if (!timer || timer.enabledAt !== schedule.enabledAt) {
        // Started, created or resumed: whatever fell due meanwhile follows the catch-up policy.
        this.arm(schedule, true);
      } else if (timer.cron !== schedule.cron || timer.timezone !== schedule.timezone) {
        // Re-timed: the old timing is void, and misses under the new one are not misses.
        this.arm(schedule, false);
      }
    }
    for (const id of [...this.timers.keys()]) if (!present.has(id)) this.drop(id);
    this.signature = signature;
  }

  private arm(schedule: Schedule, catchUp: boolean): void {
    this.drop(schedule.id);
    const expect = { cron: schedule.cron, timezone: schedule.timezone };
    let task: ScheduledTask;
    try {
      task = nodeCron.createTask(schedule.cron, (ctx) => this.tick(schedule.id, expect, ctx.date), {
        name: `griffin-schedule-${schedule.id}`,
        timezone: schedule.timezone,
        logger: this.cronLogger,
      });
    } catch (error) {
      this.logger.error({ err: error, scheduleId: schedule.id }, 'cannot time this schedule; it will not fire until it is fixed');
      return;
    }
    task.on('execution:missed', (ctx) => this.late(schedule.id, expect, ctx.date));
    task.start();
    // Taken after start: the task fires ticks after its start second, catch-up covers up to here.
    // An overlap of one tick is harmless (the claim decides); a gap would lose a firing.
    const armedAt = floorToSecond(new Date());
    this.timers.set(schedule.id, { task, ...expect, enabledAt: schedule.enabledAt });
    if (catchUp) {
      const anchor = schedule.lastFiredAt ?? schedule.firstEnabledAt ?? schedule.createdAt;
      this.later(() => this.service.catchUp(schedule.id, expect, anchor, armedAt), this.options.catchUpDelayMs ?? DEFAULT_CATCH_UP_DELAY_MS);
    }
  }

  private drop(id: string): void {
    const timer = this.timers.get(id);
    if (!timer) return;
    this.timers.delete(id);
    timer.task.destroy();
  }

  private tick(scheduleId: string, expect: { cron: string; timezone: string }, date: Date): void {
    if (!this.running) return;
    this.track(this.service.fireTick(scheduleId, floorToSecond(date), expect));
  }

  /**
   * node-cron reports ticks it could not run on time (a blocked event loop, a suspended host).
   * A slightly late tick still fires as itself; a long stall is handled like downtime: the
   * catch-up policy decides once for all fire times it swallowed.
   */
  private late(scheduleId: string, expect: { cron: string; timezone: string }, date: Date): void {
    const slot = floorToSecond(date);
    if (Date.now() - slot.getTime() <= LATE_TICK_GRACE_MS) return this.tick(scheduleId, expect, slot);
    const timer = this.timers.get(scheduleId);
    if (!timer || !this.running) return;
    if (timer.stall) {
      if (slot < timer.stall.from) timer.stall.from = slot;
      if (slot > timer.stall.upTo) timer.stall.upTo = slot;
      return;
    }
    timer.stall = { from: slot, upTo: slot };
    this.later(() => {
      const stall = timer.stall!;
      timer.stall = undefined;
      return this.service.catchUp(scheduleId, expect, new Date(stall.from.getTime() - 1).toISOString(), stall.upTo);
    }, 0);
  }

  private later(work: () => Promise<unknown>, delayMs: number): void {
    const t = setTimeout(() => {
      this.catchUps.delete(t);
      if (this.running) this.track(work());
    }, delayMs);
    this.catchUps.add(t);
  }

  private track(work: Promise<unknown>): void {
    const p = work.catch((error) => this.logger.error({ err: error }, 'schedule firing failed'));
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }
}
