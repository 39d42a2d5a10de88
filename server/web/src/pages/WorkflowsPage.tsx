import { get } from '../api';
import { useAuth } from '../auth';
import { useLoad, useNow } from '../hooks';
import { relativeTime } from '../format';
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
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th>Workflow</th>
                <th>Latest</th>
                <th>Model</th>
                <th>Dataset</th>
                <th>Runtime</th>
                <th>Backend</th>
                <th>Registers</th>
                <th>Updated</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {rows.map(({ latest: w, count }) => (
                <tr key={w.name} data-workflow={w.name}>
                  <td>
                    <Link to={`/workflows/${w.name}`} className="strong">
                      {w.name}
                    </Link>
                    {w.description && <div className="muted small clamp">{w.description}</div>}
                  </td>
                  <td>
                    v{w.version} <span className="muted small">({count} version{count === 1 ? '' : 's'})</span>
                  </td>
                  <td className="mono">{w.model}</td>
                  <td className="mono">{w.dataset}</td>
                  <td>{w.runtime}</td>
                  <td>{w.backend}</td>
                  <td>{w.register ? <Link to={`/registry/${w.register.modelName}`}>{w.register.modelName}</Link> : <span className="muted">—</span>}</td>
                  <td title={w.createdAt}>{relativeTime(w.createdAt, now)}</td>
                  <td className="right">
                    {can('editor') && (
                      <button className="btn btn-small" onClick={() => navigate(`/workflows/${w.name}?tab=run`)}>
                        Run
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
