import { CronExpressionParser } from 'cron-parser';
import nodeCron from 'node-cron';
import { describe, expect, it, vi } from 'vitest';
import { cronProblem, missedFireTimes, nextFireTimes, timezoneProblem } from '../../server/domain/cron.ts';

describe('cron expressions and time zones', () => {
  it('accepts 5 and 6 fields and names what is wrong otherwise', () => {
    for (const ok of ['0 3 * * *', '*/15 * * * *', '* * * * * *', '30 0 3 * * 1-5', '0 0 L * *', '0 9 * * mon#1', '0 0 1 jan,jul *', '0 12 ? * fri']) {
      expect(cronProblem(ok), ok).toBeUndefined();
    }
    expect(cronProblem('* * * *')).toMatch(/5 fields .* or 6 .* got 4/);
    expect(cronProblem('* * * * * * *')).toMatch(/got 7/);
    expect(cronProblem('61 * * * *')).toMatch(/61 .*minute/);
    expect(cronProblem('0 25 * * *')).toMatch(/hour/);
    expect(cronProblem('0 0 30 2 *')).toMatch(/impossible day of month/);
    expect(cronProblem('0 0 1 * 1')).toMatch(/either the day of month or the day of week/);
    expect(cronProblem('@daily')).toMatch(/5 fields/);
    expect(cronProblem('H * * * *')).toBeDefined();
  });

  it('accepts IANA zones only', () => {
    for (const ok of ['UTC', 'Europe/Berlin', 'America/Sao_Paulo', 'Asia/Kolkata']) expect(timezoneProblem(ok), ok).toBeUndefined();
    for (const bad of ['Mars/Olympus_Mons', 'Europe/Atlantis', 'not a zone', '+02:00', '../etc/passwd']) expect(timezoneProblem(bad), bad).toMatch(/IANA time zone/);
  });

  it('lists the next fire times in the schedule time zone', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(new Date('2026-03-28T12:00:00Z'));
      // 03:00 in Berlin: 02:00 UTC before the switch to summer time on 29 March, 01:00 UTC after it.
      expect(nextFireTimes('0 3 * * *', 'Europe/Berlin', 3).map((d) => d.toISOString())).toEqual([
        '2026-03-29T01:00:00.000Z',
        '2026-03-30T01:00:00.000Z',
        '2026-03-31T01:00:00.000Z',
      ]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('counts the fire times missed in a window, up to a cap', () => {
    const missed = missedFireTimes('*/10 * * * * *', 'UTC', new Date('2026-01-01T00:00:00Z'), new Date('2026-01-01T00:01:00Z'));
    expect(missed).toMatchObject({ count: 6, capped: false });
    expect(missed.first!.toISOString()).toBe('2026-01-01T00:00:10.000Z');
    expect(missed.latest!.toISOString()).toBe('2026-01-01T00:01:00.000Z');
    expect(missedFireTimes('0 3 * * *', 'UTC', new Date('2026-01-01T03:00:00Z'), new Date('2026-01-02T02:59:59Z')).count).toBe(0);
    const long = missedFireTimes('* * * * * *', 'UTC', new Date('2026-01-01T00:00:00Z'), new Date('2026-01-02T00:00:00Z'), 50);
    expect(long).toMatchObject({ count: 50, capped: true });
    expect(long.latest!.toISOString()).toBe('2026-01-02T00:00:00.000Z');
  });

  /*
   * node-cron fires; cron-parser finds missed fire times for catch-up. Both must produce the same
   * instants for every accepted expression, also across DST changes (the clock is set just before
   * each). The known difference: in the wall-clock hour that DST skips or repeats, node-cron
   * fires at most once and cron-parser may list another instant, or two; those are left out.
   */
  it('node-cron fires at the times cron-parser computes, across DST changes', () => {
    const expressions = ['0 3 * * *', '*/7 * * * *', '15 2,14 * * 1-5', '0 0 L * *', '0 9 * * mon#1', '30 1 * * sun', '0 */2 * * *', '30 2 * * *', '*/30 * * * * *'];
    const zones = ['Europe/Berlin', 'America/New_York', 'Asia/Kolkata'];
    // The US spring change (8 March) and the EU autumn change (25 October).
    const starts = ['2026-03-08T05:00:00Z', '2026-10-25T00:00:00Z'];
    const count = 12;
    let compared = 0;
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      for (const expression of expressions) {
        expect(cronProblem(expression), expression).toBeUndefined();
        for (const zone of zones) {
          for (const start of starts) {
            vi.setSystemTime(new Date(start));
            const fired = nextFireTimes(expression, zone, count).map((d) => d.getTime());
            const parsed = CronExpressionParser.parse(expression, { tz: zone, currentDate: new Date(start) });
            const computed = Array.from({ length: count }, () => parsed.next().getTime());
            const horizon = Math.min(fired[count - 1], computed[count - 1]);
            const comparable = (times: number[]) => times.filter((t) => t <= horizon && !nearOffsetChange(t, zone)).map((t) => new Date(t).toISOString());
            expect(comparable(computed), `${expression} in ${zone} from ${start}`).toEqual(comparable(fired));
            compared += comparable(fired).length;
          }
        }
      }
    } finally {
      vi.useRealTimers();
    }
    expect(compared).toBeGreaterThan(expressions.length * zones.length * starts.length * (count / 2));
  });
});

const offsetFormats = new Map<string, Intl.DateTimeFormat>();
function utcOffset(t: number, zone: string): string {
  if (!offsetFormats.has(zone)) offsetFormats.set(zone, new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' }));
  return offsetFormats.get(zone)!.formatToParts(t).find((p) => p.type === 'timeZoneName')!.value;
}

/** True within an hour of a UTC offset change: the wall-clock hour DST skips or repeats. */
function nearOffsetChange(t: number, zone: string): boolean {
  const here = utcOffset(t, zone);
  return here !== utcOffset(t - 3_600_000, zone) || here !== utcOffset(t + 3_600_000, zone);
}
