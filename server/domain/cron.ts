import { CronExpressionParser } from 'cron-parser';
import nodeCron from 'node-cron';

/*
 * node-cron times the live ticks and lists the next fire times (so what the API shows is what
 * fires); cron-parser, which can walk from any instant, finds the fire times missed while nothing
 * could fire. The two read one case differently: with both a day of month and a day of week,
 * node-cron fires when both match and cron-parser when either does. Expressions must therefore
 * pass both parsers and restrict at most one of the two day fields (tests/unit/cron.test.ts holds
 * the two to the same instants). They still differ inside the wall-clock hour that a DST change
 * skips or repeats, where node-cron fires at most once.
 */

const ANY = new Set(['*', '?']);

/** Why an expression is not acceptable, or undefined when it is. */
export function cronProblem(expression: string): string | undefined {
  const fields = expression.trim().split(/\s+/).filter(Boolean);
  if (fields.length !== 5 && fields.length !== 6) {
    return `must have 5 fields (minute hour day-of-month month day-of-week) or 6 (with seconds first), got ${fields.length}`;
  }
  const detailed = nodeCron.validateDetailed(fields.join(' '));
  if (!detailed.valid) {
    const first = detailed.errors[0];
    return `${first?.message ?? 'is not a valid cron expression'}`;
  }
  const [dayOfMonth, , dayOfWeek] = fields.slice(-3);
  if (!ANY.has(dayOfMonth) && !ANY.has(dayOfWeek)) {
    return 'restrict either the day of month or the day of week, not both (cron implementations disagree on whether both or either must match); use "*" for the other';
  }
  try {
    CronExpressionParser.parse(fields.join(' '), { tz: 'UTC' }).next();
  } catch (error) {
    return `is not a valid cron expression: ${(error as Error).message}`;
  }
  return undefined;
}

/** Why a time zone is not an IANA zone both libraries understand, or undefined. */
export function timezoneProblem(timezone: string): string | undefined {
  const hint = 'must be an IANA time zone such as "UTC" or "Europe/Berlin"';
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(timezone)) return hint;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    CronExpressionParser.parse('0 0 * * *', { tz: timezone }).next();
  } catch {
    return `"${timezone}" ${hint}`;
  }
  return undefined;
}

/** Cron firings happen on whole seconds; every replica derives the same instant from a tick. */
export const floorToSecond = (date: Date): Date => new Date(Math.floor(date.getTime() / 1000) * 1000);

/** The next `count` fire times from now, as the scheduler's timer computes them. */
export function nextFireTimes(expression: string, timezone: string, count: number): Date[] {
  const task = nodeCron.createTask(expression, () => {}, { timezone });
  try {
    return task.getNextRuns(count);
  } finally {
    task.destroy();
  }
}

/** The fire time before `instant` (strictly), or undefined when the expression has none. */
export function previousFireTime(expression: string, timezone: string, instant: Date): Date | undefined {
  try {
    return CronExpressionParser.parse(expression, { tz: timezone, currentDate: instant }).prev().toDate();
  } catch {
    return undefined;
  }
}

export interface MissedFireTimes {
  /** How many fire times fall in the window (counted up to `cap`). */
  count: number;
  capped: boolean;
  first: Date | undefined;
  latest: Date | undefined;
}

/**
 * Fire times in the window (after, upTo]: what a schedule missed while it could not fire.
 * Counting stops at `cap`: a per-second schedule down for a day would otherwise cost seconds.
 */
export function missedFireTimes(expression: string, timezone: string, after: Date, upTo: Date, cap = 100): MissedFireTimes {
  if (upTo.getTime() <= after.getTime()) return { count: 0, capped: false, first: undefined, latest: undefined };
  const latest = CronExpressionParser.parse(expression, { tz: timezone, currentDate: new Date(upTo.getTime() + 1) }).prev().toDate();
  if (latest.getTime() <= after.getTime()) return { count: 0, capped: false, first: undefined, latest: undefined };
  const iterator = CronExpressionParser.parse(expression, { tz: timezone, currentDate: after });
  let count = 0;
  let capped = false;
  let first: Date | undefined;
  for (;;) {
    const next = iterator.next().toDate();
    if (next.getTime() > upTo.getTime()) break;
    first ??= next;
    if (count === cap) {
      capped = true;
      break;
    }
    count += 1;
  }
  return { count, capped, first, latest };
}
