import { useState } from 'react';
import { get, query } from '../api';
import { useLoad, useNow } from '../hooks';
import { relativeTime, runDuration } from '../format';
import { Link, setSearch, useLocation } from '../router';
import { Empty, ErrorBanner, Loading, PageHeader, RUN_STATES, StateBadge } from '../components/ui';
import type { Page, Run, Workflow } from '../types';

const TRIGGERS = ['ui', 'http', 'cli', 'airflow', 'schedule'];
const PAGE = 50;

export function RunsPage() {
  const { search } = useLocation();
  const filters = { state: search.get('state') ?? '', workflow: search.get('workflow') ?? '', trigger: search.get('trigger') ?? '', dagId: search.get('dagId') ?? '' };
  const [limit, setLimit] = useState(PAGE);
  const [dagDraft, setDagDraft] = useState(filters.dagId);
  const now = useNow();
  // The whole visible window is re-read every 2 s, so new runs and state changes appear by themselves.
  const runs = useLoad(() => get<Page<Run>>(`/runs${query({ ...filters, limit })}`), [filters.state, filters.workflow, filters.trigger, filters.dagId, limit], 2000);
  const workflows = useLoad(() => get<Page<Workflow>>('/workflows?limit=500'), []);
  const workflowNames = [...new Set((workflows.data?.items ?? []).map((w) => w.name))].sort();
  const active = Object.values(filters).some(Boolean);

  return (
    <div className="page">
      <PageHeader
        title="Runs"
        subtitle="Every training run, whichever way it started: the UI, the CLI, HTTP, an Airflow DAG or a schedule. Updates live."
        actions={
          <Link className="btn btn-primary" to="/workflows">
            New run
          </Link>
        }
      />
      <div className="filters" role="search">
        <label>
          State
          <select name="state" value={filters.state} onChange={(e) => setSearch({ state: e.target.value })}>
            <option value="">any</option>
            {RUN_STATES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Workflow
          <select name="workflow" value={filters.workflow} onChange={(e) => setSearch({ workflow: e.target.value })}>
            <option value="">any</option>
            {workflowNames.map((n) => (
              <option key={n}>{n}</option>
            ))}
            {filters.workflow && !workflowNames.includes(filters.workflow) && <option>{filters.workflow}</option>}
          </select>
        </label>
        <label>
          Trigger
          <select name="trigger" value={filters.trigger} onChange={(e) => setSearch({ trigger: e.target.value })}>
            <option value="">any</option>
            {TRIGGERS.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            setSearch({ dagId: dagDraft.trim() });
          }}
        >
          <label>
            Airflow DAG
            <input name="dagId" placeholder="dag_id, then Enter" value={dagDraft} onChange={(e) => setDagDraft(e.target.value)} onBlur={() => setSearch({ dagId: dagDraft.trim() })} />
          </label>
        </form>
        {active && (
          <button
            className="btn btn-ghost btn-small"
            onClick={() => {
              setDagDraft('');
              setSearch({ state: '', workflow: '', trigger: '', dagId: '' });
            }}
          >
            Clear filters
          </button>
        )}
        <span className="live" title="refreshed every 2 seconds">
          <span className="live-dot" /> live
        </span>
      </div>
      <ErrorBanner error={runs.error} title="Could not load runs" />
      {runs.loading && !runs.data ? (
        <Loading what="Loading runs" />
      ) : runs.data && runs.data.items.length === 0 ? (
        <Empty>
          {active ? 'No runs match these filters.' : <>No runs yet. Open a <Link to="/workflows">workflow</Link> and press Run.</>}
        </Empty>
      ) : (
        runs.data && (
          <div className="table-wrap">
            <table className="table runs-table">
              <thead>
                <tr>
                  <th>Run</th>
                  <th>State</th>
                  <th>Workflow</th>
                  <th>Trigger</th>
                  <th>Backend</th>
                  <th>Created</th>
                  <th>Duration</th>
                  <th>Model version</th>
                </tr>
              </thead>
              <tbody>
                {runs.data.items.map((r) => (
                  <tr key={r.id} data-run={r.id}>
                    <td>
                      <Link to={`/runs/${r.id}`} className="mono strong">
                        {r.id}
                      </Link>
                    </td>
                    <td>
                      <StateBadge state={r.state} />
                    </td>
                    <td>{r.workflow ? <Link to={`/workflows/${r.workflow.name}`}>{`${r.workflow.name}@${r.workflow.version}`}</Link> : <span className="muted">inline spec</span>}</td>
                    <td>
                      <span className="trigger">{r.trigger}</span>
                      {r.airflow && <div className="muted small">{String(r.airflow.dagId)}</div>}
                    </td>
                    <td>{r.backend}</td>
                    <td title={r.createdAt}>{relativeTime(r.createdAt, now)}</td>
                    <td>{runDuration(r, now)}</td>
                    <td>{r.modelVersion ? <Link to={`/registry/${r.modelVersion.name}/versions/${r.modelVersion.version}`}>{`${r.modelVersion.name} v${r.modelVersion.version}`}</Link> : <span className="muted">—</span>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )
      )}
      {runs.data?.nextPageToken && (
        <div className="more">
          <button className="btn" onClick={() => setLimit((l) => Math.min(l + PAGE, 500))} disabled={limit >= 500}>
            {limit >= 500 ? 'Showing the newest 500; narrow the filters to see older runs' : 'Show more'}
          </button>
        </div>
      )}
    </div>
  );
}
