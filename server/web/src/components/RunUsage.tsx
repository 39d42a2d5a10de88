import { enc, get } from '../api';
import { useLoad } from '../hooks';
import { duration, num } from '../format';
import type { RunUsage as Usage } from '../types';
import { Table } from './Table';
import { Empty, ErrorBanner, KeyValues } from './ui';

/** Short attempts keep a decimal, so a run of half a second does not read "0 s". */
const wall = (seconds: number) => (seconds < 10 ? `${num(seconds, 1)} s` : duration(seconds * 1000));

/** Resource-seconds in the unit that reads best: per second below an hour's worth, else per hour. */
const amount = (seconds: number, unit: string) => (seconds < 3600 ? `${num(seconds, 1)} ${unit}-seconds` : `${num(seconds / 3600, 2)} ${unit}-hours`);

/** Wall time and requested resources times that time, per attempt (GET /runs/{id}/usage). */
export function RunUsage({ runId, active }: { runId: string; active: boolean }) {
  const usage = useLoad(() => get<Usage>(`/runs/${enc(runId)}/usage`), [runId, active], active ? 5000 : null);
  if (usage.error && !usage.data) return <ErrorBanner error={usage.error} title="Could not load the usage" />;
  if (!usage.data) return <Empty>Loading…</Empty>;
  const { attempts, total } = usage.data;
  if (!attempts.length) return <Empty>Nothing used yet: the run has not started running.</Empty>;
  return (
    <div data-testid="run-usage">
      <KeyValues
        items={[
          ['Wall time', wall(total.wallSeconds)],
          ['CPU', amount(total.resourceSeconds.cpu, 'core')],
          ['Memory', amount(total.resourceSeconds.memoryMb / 1024, 'GB')],
          ['GPU', amount(total.resourceSeconds.gpu, 'GPU')],
        ]}
      />
      {attempts.length > 1 || attempts[0].endedAt === null ? (
        <Table
          className="compact"
          flush
          rows={attempts}
          rowKey={(a) => a.attempt}
          columns={[
            { key: 'attempt', header: 'Attempt', cell: (a) => `${a.attempt}${a.endedAt === null ? ' (so far)' : ''}` },
            { key: 'wall', header: 'Wall', cell: (a) => wall(a.wallSeconds) },
            { key: 'cpu', header: 'CPU', cell: (a) => amount(a.resourceSeconds.cpu, 'core') },
            { key: 'memory', header: 'Memory', cell: (a) => amount(a.resourceSeconds.memoryMb / 1024, 'GB') },
            { key: 'gpu', header: 'GPU', cell: (a) => amount(a.resourceSeconds.gpu, 'GPU') },
          ]}
        />
      ) : null}
      <p className="muted small">Requested resources times the time each attempt ran.</p>
    </div>
  );
}
