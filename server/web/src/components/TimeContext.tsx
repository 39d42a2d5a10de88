import type { TimeContext } from '../types';

/** The slice of time a run trained for: its logical date and data interval (Airflow's or a schedule's). */
export function TimeContextLine({ context }: { context: TimeContext }) {
  return (
    <p className="small" data-testid="time-context">
      {context.logicalDate && (
        <>
          Logical date <span className="mono">{context.logicalDate}</span>
        </>
      )}
      {context.logicalDate && context.dataIntervalStart && ' · '}
      {context.dataIntervalStart && (
        <>
          data interval <span className="mono">{context.dataIntervalStart}</span> → <span className="mono">{context.dataIntervalEnd}</span>
        </>
      )}
    </p>
  );
}
