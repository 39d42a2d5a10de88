import { useMemo } from 'react';
import { ApiError, enc, get } from '../api';
import { useAuth } from '../auth';
import { useBackends } from '../backends';
import { useLoad } from '../hooks';
import { Link, navigate, setSearch, useLocation } from '../router';
import { Card, ErrorBanner, Loading, PageHeader, Tabs } from '../components/ui';
import { Overview } from './workflow/Overview';
import { Versions } from './workflow/Versions';
import { DryRun } from './workflow/DryRun';
import { WorkflowForm } from './workflow/WorkflowForm';
import { RunForm } from './workflow/RunForm';
import type { Page, Workflow } from '../types';

export function WorkflowPage({ name }: { name: string | null }) {
  if (name === null) {
    return (
      <div className="page">
        <PageHeader crumbs={<Link to="/workflows">Workflows</Link>} title="New workflow" subtitle="Its first version. Later changes become new versions; runs always record the version they used." />
        <Card>
          <WorkflowForm onCreated={(w) => navigate(`/workflows/${w.name}?version=${w.version}`)} />
        </Card>
      </div>
    );
  }
  return <ExistingWorkflow name={name} />;
}

function ExistingWorkflow({ name }: { name: string }) {
  const { can } = useAuth();
  const { search } = useLocation();
  const versions = useLoad(() => get<Page<Workflow>>(`/workflows/${enc(name)}/versions?limit=500`), [name]);
  const sorted = useMemo(() => [...(versions.data?.items ?? [])].sort((a, b) => b.version - a.version), [versions.data]);
  const wanted = Number(search.get('version')) || undefined;
  const selected = sorted.find((w) => w.version === wanted) ?? sorted[0];
  const tab = search.get('tab') ?? 'overview';
  const backends = useBackends();

  if (versions.error && !versions.data) {
    return (
      <div className="page">
        <PageHeader crumbs={<Link to="/workflows">Workflows</Link>} title={name} />
        <ErrorBanner error={versions.error} title={versions.error instanceof ApiError && versions.error.status === 404 ? 'No such workflow' : 'Could not load the workflow'} />
      </div>
    );
  }
  if (!selected) return <Loading what="Loading the workflow" />;
  const latest = sorted[0];

  const tabs = [
    { id: 'overview', label: 'Definition' },
    ...(can('editor') ? [{ id: 'run', label: 'Run' }] : []),
    { id: 'dryrun', label: 'Dry run' },
    { id: 'versions', label: `Versions (${sorted.length})` },
    ...(can('editor') ? [{ id: 'new', label: 'New version' }] : []),
  ];

  return (
    <div className="page">
      <PageHeader
        crumbs={<Link to="/workflows">Workflows</Link>}
        title={
          <>
            {name} <span className="version-pill">v{selected.version}</span>
            {selected.version !== latest.version && <span className="chip chip-warn">not the latest (v{latest.version})</span>}
            {backends.status(selected.backend)?.configured === false && (
              <span className="chip chip-warn" data-testid="workflow-backend-warning" title={backends.status(selected.backend)?.hint ?? undefined}>
                {selected.backend} is not configured on this server
              </span>
            )}
          </>
        }
        subtitle={selected.description || undefined}
        actions={
          <>
            <label className="inline-select">
              Version
              <select value={selected.version} onChange={(e) => setSearch({ version: e.target.value === String(latest.version) ? undefined : e.target.value })} name="version">
                {sorted.map((w) => (
                  <option key={w.version} value={w.version}>
                    v{w.version}
                    {w.version === latest.version ? ' (latest)' : ''}
                  </option>
                ))}
              </select>
            </label>
            {can('editor') && tab !== 'run' && (
              <button className="btn btn-primary" onClick={() => setSearch({ tab: 'run' })}>
                Run
              </button>
            )}
          </>
        }
      />
      <Tabs tabs={tabs} active={tab} onChange={(id) => setSearch({ tab: id === 'overview' ? undefined : id })} />
      {tab === 'overview' && <Overview workflow={selected} />}
      {tab === 'run' && <RunForm workflow={selected} fromRun={search.get('from') ?? undefined} />}
      {tab === 'dryrun' && <DryRun workflow={selected} />}
      {tab === 'versions' && <Versions versions={sorted} selected={selected.version} />}
      {tab === 'new' && (
        <Card title={`New version of ${name}`} actions={<span className="muted small">starts from v{selected.version}</span>}>
          <WorkflowForm
            initial={selected}
            onCreated={async (w) => {
              await versions.reload();
              navigate(`/workflows/${w.name}?version=${w.version}`);
            }}
          />
        </Card>
      )}
    </div>
  );
}

