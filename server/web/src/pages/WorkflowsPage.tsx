import { get } from '../api';
import { useAuth } from '../auth';
import { useLoad, useNow } from '../hooks';
import { dateTime, relativeTime } from '../format';
import { useBackends } from '../backends';
import { Table } from '../components/Table';
import { Link, navigate } from '../router';
import { Empty, ErrorBanner, Loading, PageHeader } from '../components/ui';
import type { Page, Workflow } from '../types';

/** Latest version of each workflow name, with how many versions it has. */
export function latestByName<T extends { name: string; version: number }>(items: T[]): { latest: T; count: number }[] {
  const by = new Map<string, { latest: T; count: number }>();
  for (const item of items) {
    const cur = by.get(item.name);
    if (!cur) by.set(item.name, { latest: item, count: 1 });
    else by.set(item.name, { latest: item.version > cur.latest.version ? item : cur.latest, count: cur.count + 1 });
  }
  return [...by.values()].sort((a, b) => a.latest.name.localeCompare(b.latest.name));
}

export function WorkflowsPage() {
  const { can } = useAuth();
  const now = useNow(10_000);
  const workflows = useLoad(() => get<Page<Workflow>>('/workflows?limit=500'), []);
  const rows = latestByName(workflows.data?.items ?? []);
  const backends = useBackends();
  return (
    <div className="page">
      <PageHeader
        title="Workflows"
        subtitle="Production workflow definitions: a model and a dataset at pinned versions, a runtime, a backend, resources and what to register. Every change is a new, immutable version."
        actions={
          can('editor') && (
            <Link className="btn btn-primary" to="/workflows/new">
              New workflow
            </Link>
          )
        }
      />
      <ErrorBanner error={workflows.error} title="Could not load workflows" />
      {workflows.loading ? (
        <Loading />
      ) : rows.length === 0 ? (
        <Empty>No workflows yet.</Empty>
      ) : (
        <Table
          rows={rows}
          rowKey={(r) => r.latest.name}
          rowProps={(r) => ({ 'data-workflow': r.latest.name })}
          columns={[
            {
              key: 'name',
              header: 'Workflow',
              cell: ({ latest: w }) => (
                <>
                  <Link to={`/workflows/${w.name}`} className="strong">
                    {w.name}
                  </Link>
                  {w.description && <div className="muted small clamp">{w.description}</div>}
                </>
              ),
            },
            { key: 'latest', header: 'Latest', cell: ({ latest: w, count }) => <>v{w.version} <span className="muted small">({count} version{count === 1 ? '' : 's'})</span></> },
            { key: 'model', header: 'Model', className: 'mono', cell: ({ latest: w }) => w.model },
            { key: 'dataset', header: 'Dataset', className: 'mono', cell: ({ latest: w }) => w.dataset },
            { key: 'runtime', header: 'Runtime', cell: ({ latest: w }) => w.runtime },
            {
              key: 'backend',
              header: 'Backend',
              cell: ({ latest: w }) => (
                <>
                  {w.backend}
                  {backends.status(w.backend)?.configured === false && <div className="warn-text small">not configured</div>}
                </>
              ),
            },
            { key: 'registers', header: 'Registers', cell: ({ latest: w }) => (w.register ? <Link to={`/registry/${w.register.modelName}`}>{w.register.modelName}</Link> : <span className="muted">—</span>) },
            { key: 'updated', header: 'Updated', cell: ({ latest: w }) => <span title={dateTime(w.createdAt)}>{relativeTime(w.createdAt, now)}</span> },
            {
              key: 'run',
              header: '',
              className: 'right',
              cell: ({ latest: w }) =>
                can('editor') && (
                  <button className="btn btn-small" onClick={() => navigate(`/workflows/${w.name}?tab=run`)}>
                    Run
                  </button>
                ),
            },
          ]}
        />
      )}
    </div>
  );
}
