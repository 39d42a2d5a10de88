import { useEffect, useRef, useState } from 'react';
import { get, query } from '../api';
import { useLoad, useNow } from '../hooks';
import { num, plain, relativeTime, runDuration } from '../format';
import { Link, setSearch, useLocation } from '../router';
import { Empty, ErrorBanner, Loading, PageHeader, StateBadge } from '../components/ui';
import { RUN_STATES } from '../../../domain/lifecycle.ts';
import { compareCells, joinList, metricDirection, splitList } from '../comparison';
import type { Page, Run, Workflow } from '../types';
import './compare.css';

const TRIGGERS = ['ui', 'http', 'cli', 'airflow', 'schedule'];
const PAGE = 50;

export function RunsPage() {
  const { search } = useLocation();
  const filters = { state: search.get('state') ?? '', workflow: search.get('workflow') ?? '', trigger: search.get('trigger') ?? '', dagId: search.get('dagId') ?? '' };
  const [limit, setLimit] = useState(PAGE);
  const [dagDraft, setDagDraft] = useState(filters.dagId);
  const now = useNow();
  // The whole visible window is re-read every 2 s, so new runs and state changes appear by themselves.
  const runs = useLoad(() => get<Page<Run>>(`/runs${query({ ...filters, limit, include: 'latestMetrics' })}`), [filters.state, filters.workflow, filters.trigger, filters.dagId, limit], 2000);
  const workflows = useLoad(() => get<Page<Workflow>>('/workflows?limit=500'), []);
  const workflowNames = [...new Set((workflows.data?.items ?? []).map((w) => w.name))].sort();
  const active = Object.values(filters).some(Boolean);
  const columns = columnsFrom(search);
  const [selected, setSelected] = useState<string[]>([]);
  const items = runs.data ? sortRuns(runs.data.items, columns.sort) : [];
  const toggle = (id: string, on: boolean) => setSelected((s) => (on ? [...s.filter((x) => x !== id), id] : s.filter((x) => x !== id)));

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
        {runs.data && <ColumnChooser runs={runs.data.items} columns={columns} />}
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
      {runs.data && runs.data.items.length > 0 && (
        <div className="selection-bar">
          {selected.length >= 2 ? (
            <Link className="btn btn-primary btn-small" to={`/compare?runs=${joinList(selected)}`} data-testid="compare-runs">
              Compare {selected.length} runs
            </Link>
          ) : (
            <button type="button" className="btn btn-small" disabled data-testid="compare-runs">
              Compare
            </button>
          )}
          <span className="muted">{selected.length === 0 ? 'Tick two or more runs to compare them.' : `${selected.length} selected`}</span>
          {selected.length > 0 && (
            <button type="button" className="btn btn-ghost btn-small" onClick={() => setSelected([])}>
              Clear selection
            </button>
          )}
        </div>
      )}
      {runs.loading && !runs.data ? (
        <Loading what="Loading runs" />
      ) : runs.data && runs.data.items.length === 0 ? (
        <Empty>
          {active ? 'No runs match these filters.' : <>No runs yet. Open a <Link to="/workflows">workflow</Link> and press Run.</>}
        </Empty>
      ) : (
        runs.data && (
          <div className="table-wrap">
            <table className={`table runs-table${columns.metrics.length + columns.params.length ? ' with-columns' : ''}`}>
              <thead>
                <tr>
                  <th className="select-cell">
                    <span className="sr-only">select</span>
                  </th>
                  <th>Run</th>
                  <th>State</th>
                  <th>Workflow</th>
                  <th>Trigger</th>
                  <th>Backend</th>
                  <th>Created</th>
                  <th>Duration</th>
                  <th>Model version</th>
                  {columns.metrics.map((k) => (
                    <SortableHead key={`m:${k}`} column={{ kind: 'metric', key: k }} sort={columns.sort} />
                  ))}
                  {columns.params.map((k) => (
                    <SortableHead key={`p:${k}`} column={{ kind: 'param', key: k }} sort={columns.sort} />
                  ))}
                </tr>
              </thead>
              <tbody>
                {items.map((r) => (
                  <tr key={r.id} data-run={r.id}>
                    <td className="select-cell">
                      <input type="checkbox" name="select" value={r.id} aria-label={`select run ${r.id}`} checked={selected.includes(r.id)} onChange={(e) => toggle(r.id, e.target.checked)} />
                    </td>
                    <td>
                      <Link to={`/runs/${r.id}`} className="mono strong">
                        {r.id}
                      </Link>
                    </td>
                    <td>
                      <StateBadge state={r.state} />
                      {r.state === 'queued' && r.reason && <div className="muted small" data-testid="run-waiting">{r.reason}</div>}
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
                    {columns.metrics.map((k) => (
                      <td key={`m:${k}`} className="num mono" data-metric={k} title={r.latestMetrics?.[k] ? `step ${r.latestMetrics[k].step}` : 'not reported'}>
                        {num(r.latestMetrics?.[k]?.value)}
                      </td>
                    ))}
                    {columns.params.map((k) => (
                      <td key={`p:${k}`} className="num mono" data-param={k}>
                        {k in r.spec.hyperparameters ? plain(r.spec.hyperparameters[k]) : <span className="muted">—</span>}
                      </td>
                    ))}
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

/*
 * Metric and parameter columns, chosen by the user and kept in the URL (metrics=, params=, sort=,
 * order=), so a reload or a shared link shows the same table.
 */

interface Column {
  kind: 'metric' | 'param';
  key: string;
}

interface Columns {
  metrics: string[];
  params: string[];
  sort: (Column & { order: 'asc' | 'desc' }) | null;
}

function columnsFrom(search: URLSearchParams): Columns {
  const sort = search.get('sort') ?? '';
  const at = sort.indexOf(':');
  const kind = sort.slice(0, at);
  const order = search.get('order') === 'asc' ? 'asc' : 'desc';
  return {
    metrics: splitList(search.get('metrics')),
    params: splitList(search.get('params')),
    sort: at > 0 && (kind === 'metric' || kind === 'param') ? { kind, key: sort.slice(at + 1), order } : null,
  };
}

const cellOf = (run: Run, c: Column): unknown => (c.kind === 'metric' ? run.latestMetrics?.[c.key]?.value : run.spec.hyperparameters[c.key]);

/** The runs shown, sorted by a chosen column (numbers by value, missing values last); otherwise newest first as served. */
function sortRuns(runs: Run[], sort: Columns['sort']): Run[] {
  if (!sort) return runs;
  return [...runs].sort((a, b) => compareCells(cellOf(a, sort), cellOf(b, sort), sort.order));
}

function SortableHead({ column, sort }: { column: Column; sort: Columns['sort'] }) {
  const current = sort && sort.kind === column.kind && sort.key === column.key ? sort.order : null;
  // A metric first sorts best first; a parameter ascending. Clicking again flips.
  const first = column.kind === 'metric' && metricDirection(column.key) === 'max' ? 'desc' : 'asc';
  const next = current ? (current === 'asc' ? 'desc' : 'asc') : first;
  return (
    <th className={`num sortable col-${column.kind}`} aria-sort={current === 'asc' ? 'ascending' : current === 'desc' ? 'descending' : 'none'} data-column={`${column.kind}:${column.key}`}>
      <button type="button" onClick={() => setSearch({ sort: `${column.kind}:${column.key}`, order: next })} title={`${column.kind === 'metric' ? 'last value of metric' : 'hyperparameter'} ${column.key}; click to sort`}>
        {column.key}
      </button>
    </th>
  );
}

function ColumnChooser({ runs, columns }: { runs: Run[]; columns: Columns }) {
  // The keys of the runs listed, and any the URL names that this page of runs lacks.
  const metricKeys = [...new Set([...runs.flatMap((r) => Object.keys(r.latestMetrics ?? {})), ...columns.metrics])].sort((a, b) => a.localeCompare(b));
  const paramKeys = [...new Set([...runs.flatMap((r) => Object.keys(r.spec.hyperparameters)), ...columns.params])].sort((a, b) => a.localeCompare(b));
  const chosen = columns.metrics.length + columns.params.length;
  // Open, it closes on a click elsewhere, as a menu does.
  const details = useRef<HTMLDetailsElement>(null);
  useEffect(() => {
    const close = (e: MouseEvent) => {
      if (details.current?.open && !details.current.contains(e.target as Node)) details.current.open = false;
    };
    document.addEventListener('mousedown', close);
    return () => document.removeEventListener('mousedown', close);
  }, []);
  const set = (kind: 'metric' | 'param', key: string, on: boolean) => {
    const list = kind === 'metric' ? columns.metrics : columns.params;
    const next = on ? [...list.filter((k) => k !== key), key] : list.filter((k) => k !== key);
    const dropsSort = !on && columns.sort?.kind === kind && columns.sort.key === key;
    setSearch({ [kind === 'metric' ? 'metrics' : 'params']: joinList(next), ...(dropsSort ? { sort: '', order: '' } : {}) });
  };
  const group = (kind: 'metric' | 'param', title: string, keys: string[], on: string[]) => (
    <>
      <h3>{title}</h3>
      {keys.length === 0 && <div className="muted small">none in these runs</div>}
      {keys.map((k) => (
        <label key={k}>
          <input type="checkbox" name={`${kind}-column`} value={k} checked={on.includes(k)} onChange={(e) => set(kind, k, e.target.checked)} />
          {k}
        </label>
      ))}
    </>
  );
  return (
    <details className="column-chooser" data-testid="column-chooser" ref={details}>
      <summary className="btn btn-small">Columns{chosen ? ` (${chosen})` : ''} ▾</summary>
      <div className="chooser-panel">
        {group('metric', 'Metrics (last value)', metricKeys, columns.metrics)}
        {group('param', 'Hyperparameters', paramKeys, columns.params)}
      </div>
    </details>
  );
}
