import type { RunOverridesInput, TimeContext } from '../domain/index.ts';
import type { FiringView, Page, ScheduleListItemView as ScheduleListItem, ScheduleView } from '../domain/index.ts';
import { Conflict, GriffinError, NotFound } from '../errors.ts';
import { newRunId } from '../ids.ts';
import type { Logger } from '../logger.ts';
import type { OverlapPolicy, Schedule, ScheduleDefinition, ScheduleFiring, ScheduleStore } from '../store/scheduleStore.ts';
import { missedFireTimes, nextFireTimes, previousFireTime } from '../domain/cron.ts';
import type { RunService } from './runService.ts';


const MAX_UPDATE_ATTEMPTS = 3;
const MANUAL_CLAIM_ATTEMPTS = 5;

/**
 * The scheduler's own idempotency key namespace. Firings submit through RunService directly;
 * every client entry point refuses keys with this prefix, so no run outside a firing can hold one.
 */
export const SCHEDULER_KEY_PREFIX = 'schedule:';

/** The idempotency key of the run a firing submits: one run per (schedule, scheduled time), ever. */
export const firingIdempotencyKey = (scheduleId: string, scheduledAt: string): string => `${SCHEDULER_KEY_PREFIX}${scheduleId}:${scheduledAt}`;

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * Schedules: their definitions, and the one path every firing takes (cron tick, catch-up, or
 * "trigger now"): claim the (schedule, scheduled time) firing, apply the overlap and concurrency
 * policies, submit through RunService with an idempotency key derived from the firing, and record
 * the outcome on the firing.
 */
export class ScheduleService {
  constructor(
    private readonly store: ScheduleStore,
    private readonly runs: RunService,
    private readonly options: { instanceId: string; publicUrl: string },
    private readonly logger: Logger,
    /** Called after any definition change, so this replica's scheduler picks it up at once. */
    private readonly onChange: () => void = () => {},
  ) {}

  /** A schedule must be able to submit when it fires; refuse it now rather than fail at 3 a.m. */
  private async checkRunnable(workflow: string, overrides: Record<string, unknown>): Promise<void> {
    await this.runs.dryRun({ workflow, overrides: overrides as RunOverridesInput, trigger: 'schedule', rerunIfFailed: false });
  }

  async create(definition: ScheduleDefinition): Promise<Schedule> {
    await this.checkRunnable(definition.workflow, definition.overrides);
    const schedule = await this.store.insert(newRunId(), definition);
    this.onChange();
    return schedule;
  }

  /** By id, or by name (the CLI's natural handle). */
  async find(ref: string): Promise<Schedule> {
    const schedule = (await this.store.get(ref)) ?? (await this.store.getByName(ref));
    if (!schedule) throw new NotFound(`schedule "${ref}" does not exist`, 'id');
    return schedule;
  }

  list(filter: { enabled?: boolean; limit: number; pageToken?: string }): Promise<Page<Schedule>> {
    return this.store.list(filter);
  }

  /** Applies a partial edit against the version it read; a concurrent edit makes it re-read and re-apply. */
  async update(ref: string, patch: Partial<ScheduleDefinition>): Promise<Schedule> {
    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt += 1) {
      const current = await this.find(ref);
      if (patch.workflow !== undefined || patch.overrides !== undefined) {
        await this.checkRunnable(patch.workflow ?? current.workflow, patch.overrides ?? current.overrides);
      }
      const updated = await this.store.update(current.id, current.version, patch, current.enabled);
      if (updated) {
        this.onChange();
        return updated;
      }
    }
    throw new Conflict(`schedule "${ref}" is being changed concurrently; retry`, 'id');
  }

  async remove(ref: string): Promise<void> {
    const schedule = await this.find(ref);
    if (!(await this.store.delete(schedule.id))) throw new NotFound(`schedule "${ref}" does not exist`, 'id');
    this.onChange();
  }

  /** Pausing a paused schedule (or resuming a running one) changes nothing and is not an error. */
  async setEnabled(ref: string, enabled: boolean): Promise<Schedule> {
    const schedule = await this.find(ref);
    if (await this.store.setEnabled(schedule.id, enabled)) this.onChange();
    return this.find(schedule.id);
  }

  /**
   * "Trigger now": a manual firing at the current time through the same path as cron firings
   * (policies included, unless the caller overrides the overlap policy for this firing). It works
   * on a paused schedule too, and leaves the cron catch-up anchor where it is.
   */
  async trigger(ref: string, options: { overlapPolicy?: OverlapPolicy } = {}): Promise<ScheduleFiring> {
    const schedule = await this.find(ref);
    const start = Date.now();
    for (let i = 0; i < MANUAL_CLAIM_ATTEMPTS; i += 1) {
      // A cron tick may hold this exact millisecond; the next one is just as "now".
      const scheduledAt = new Date(start + i).toISOString();
      const firing = await this.store.claimFiring({ scheduleId: schedule.id, scheduledAt, kind: 'manual', claimedBy: this.options.instanceId, reason: 'triggered by request' });
      if (firing) return this.process(firing, options);
    }
    await this.find(schedule.id);
    throw new Conflict(`could not record a firing of schedule "${ref}"; retry`, 'id');
  }

  async firings(ref: string, page: { limit: number; pageToken?: string }): Promise<Page<ScheduleFiring>> {
    const schedule = await this.find(ref);
    return this.store.firings(schedule.id, page);
  }

  /** The list's items, each with its last firing, read in one query. */
  async listItems(schedules: Schedule[]): Promise<ScheduleListItem[]> {
    const latest = await this.store.latestFirings(schedules.map((s) => s.id));
    return schedules.map((s) => {
      const f = latest.get(s.id);
      return { ...this.view(s), lastFiring: f ? { scheduledAt: f.scheduledAt, kind: f.kind, outcome: f.outcome, reason: f.reason, runId: f.runId, runState: f.runState } : null };
    });
  }

  view(schedule: Schedule, next = 5): ScheduleView {
    const { version: _version, enabledAt: _enabledAt, firstEnabledAt: _firstEnabledAt, ...rest } = schedule;
    let upcoming: string[] = [];
    if (schedule.enabled && next > 0) {
      try {
        upcoming = nextFireTimes(schedule.cron, schedule.timezone, next).map((d) => d.toISOString());
      } catch (error) {
        this.logger.warn({ err: error, scheduleId: schedule.id }, 'cannot compute the next fire times');
      }
    }
    return { ...rest, nextFireTimes: upcoming };
  }

  firingView(firing: ScheduleFiring): FiringView {
    return { ...firing, runUrl: firing.runId ? `${this.options.publicUrl}/runs/${firing.runId}` : null };
  }

  /** A live cron tick. Returns the firing when this replica claimed it, undefined when another did. */
  async fireTick(scheduleId: string, scheduledAt: Date, expect: { cron: string; timezone: string }): Promise<ScheduleFiring | undefined> {
    const firing = await this.store.claimFiring({ scheduleId, scheduledAt: scheduledAt.toISOString(), kind: 'scheduled', claimedBy: this.options.instanceId, expect });
    return firing && this.process(firing);
  }

  /**
   * Applies the catch-up policy to fire times in (anchor, upTo] that no firing claimed: they
   * were missed while no replica was running, or while the schedule was paused. `run_once` makes
   * one firing for the latest missed time and submits it; `skip` records that one firing as
   * skipped with the count, so the history shows the gap. Nothing happens when nothing was missed.
   */
  async catchUp(scheduleId: string, expect: { cron: string; timezone: string }, anchor: string, upTo: Date): Promise<ScheduleFiring | undefined> {
    const schedule = await this.store.get(scheduleId);
    if (!schedule || !schedule.enabled || schedule.cron !== expect.cron || schedule.timezone !== expect.timezone) return undefined;
    const upToIso = upTo.toISOString();
    const from = (await this.store.latestCronFiringBetween(scheduleId, anchor, upToIso)) ?? anchor;
    const missed = missedFireTimes(schedule.cron, schedule.timezone, new Date(from), upTo);
    if (missed.count === 0 || !missed.latest) return undefined;
    const what =
      missed.count === 1
        ? `missed the fire time ${missed.latest.toISOString()}`
        : `missed ${missed.capped ? 'more than ' : ''}${plural(missed.count, 'fire time')} from ${missed.first!.toISOString()} to ${missed.latest.toISOString()}`;
    const reason =
      schedule.catchUpPolicy === 'run_once'
        ? `catch-up: ${what} while it could not fire; one run for them (catch-up policy run_once)`
        : `${what} while it could not fire; not run (catch-up policy skip)`;
    const firing = await this.store.claimFiring({ scheduleId, scheduledAt: missed.latest.toISOString(), kind: 'catch_up', claimedBy: this.options.instanceId, expect, reason });
    return firing && this.process(firing);
  }

  /** Finishes firings whose claimer died between claiming and recording the outcome. */
  async recoverStale(claimedBefore: Date): Promise<number> {
    let recovered = 0;
    for (const firing of await this.store.stalePending(claimedBefore.toISOString())) {
      if (!(await this.store.takeOverFiring(firing.id, firing.claimedAt, this.options.instanceId))) continue;
      await this.process({ ...firing, claimedBy: this.options.instanceId }, { recovering: true });
      recovered += 1;
    }
    return recovered;
  }

  /** Policies, submission and the recorded outcome of a claimed firing. Never throws for a run-level problem. */
  private async process(firing: ScheduleFiring, options: { overlapPolicy?: OverlapPolicy; recovering?: boolean } = {}): Promise<ScheduleFiring> {
    const schedule = await this.store.get(firing.scheduleId);
    if (!schedule) return firing; // deleted meanwhile; its firings went with it
    const key = firingIdempotencyKey(schedule.id, firing.scheduledAt);
    const resolve = async (outcome: 'submitted' | 'skipped' | 'failed', reason: string | null, runId: string | null = null) => {
      await this.store.resolveFiring(firing.id, firing.claimedBy, { outcome, reason, runId });
      return (await this.store.firing(firing.id)) ?? firing;
    };
    try {
      if (options.recovering) {
        // The previous claimer may have submitted before it died: the key finds that run.
        const [existing] = (await this.runs.list({ idempotencyKey: key, limit: 1 })).items;
        if (existing) return await resolve('submitted', firing.reason, existing.id);
      }
      if (firing.kind === 'catch_up' && schedule.catchUpPolicy === 'skip') return await resolve('skipped', firing.reason);
      const blocking = await this.store.blockingFirings(schedule.id, firing);
      const policy = options.overlapPolicy ?? schedule.overlapPolicy;
      const notes: string[] = [];
      if (firing.reason) notes.push(firing.reason);
      // A skipped catch-up keeps its account of what was missed in front of why it was skipped.
      const skipped = (why: string) => resolve('skipped', firing.kind === 'catch_up' && firing.reason ? `${firing.reason}; ${why}` : why);
      if (policy === 'skip' && blocking.length > 0) return await skipped(`${describeBlocking(blocking[0])} (overlap policy skip)`);

      const cancelled = new Set<string>();
      if (policy === 'cancel_previous') {
        for (const previous of blocking) {
          if (!previous.runId || previous.runState === 'cancelling') continue;
          try {
            await this.runs.cancel(previous.runId, `superseded by the firing of schedule "${schedule.name}" at ${firing.scheduledAt}`);
            cancelled.add(previous.runId);
          } catch (error) {
            if (!(error instanceof GriffinError && error.status === 409)) throw error; // ended meanwhile: nothing to cancel
          }
        }
        if (cancelled.size) notes.push(`cancelled the previous ${cancelled.size === 1 ? 'run' : 'runs'} ${[...cancelled].join(', ')} (overlap policy cancel_previous)`);
      }

      if (schedule.maxConcurrentRuns !== null) {
        const occupying = blocking.filter((b) => b.outcome === 'pending' || (b.runId && !cancelled.has(b.runId) && b.runState !== 'cancelling'));
        if (occupying.length >= schedule.maxConcurrentRuns) {
          return await skipped(
            `${plural(occupying.length, 'run')} of this schedule ${occupying.length === 1 ? 'is' : 'are'} active or starting (${occupying.map((b) => b.runId ?? `firing at ${b.scheduledAt}`).join(', ')}) and maxConcurrentRuns is ${schedule.maxConcurrentRuns}`,
          );
        }
      }

      const { run } = await this.runs.submit(
        {
          workflow: schedule.workflow,
          overrides: schedule.overrides as RunOverridesInput,
          trigger: 'schedule',
          triggerInfo: { schedule: { id: schedule.id, name: schedule.name, scheduledAt: firing.scheduledAt, firingId: firing.id, kind: firing.kind } },
          timeContext: scheduledTimeContext(schedule, firing.scheduledAt),
          rerunIfFailed: false,
        },
        key,
      );
      return await resolve('submitted', notes.length ? notes.join('; ') : null, run.id);
    } catch (error) {
      const message = error instanceof GriffinError ? error.message : 'internal error while submitting; the server log has details';
      if (!(error instanceof GriffinError)) this.logger.error({ err: error, scheduleId: schedule.id, firingId: firing.id }, 'schedule firing failed');
      return resolve('failed', `could not submit: ${message}`).catch(() => firing);
    }
  }
}

/**
 * A firing trains for the time since the schedule's previous fire time, as an Airflow cron DAG
 * run's data interval does: logical date and interval end are the scheduled time (not when the
 * firing happened to run, so a late catch-up still trains on its own interval).
 */
function scheduledTimeContext(schedule: { cron: string; timezone: string }, scheduledAt: string): TimeContext {
  const previous = previousFireTime(schedule.cron, schedule.timezone, new Date(scheduledAt));
  return { logicalDate: scheduledAt, dataIntervalStart: (previous ?? new Date(scheduledAt)).toISOString(), dataIntervalEnd: scheduledAt };
}

function describeBlocking(b: ScheduleFiring): string {
  if (b.outcome === 'pending') return `the firing at ${b.scheduledAt} is still being submitted`;
  return `the previous run ${b.runId} of this schedule is still ${b.runState}`;
}

