import type { ReactNode } from 'react';
import { ApiError, enc, get } from '../api';
import { useLoad } from '../hooks';
import { dateTime, duration, num, plain } from '../format';
import { Link } from '../router';
import { Card, Chips, ErrorBanner, KeyValues, Loading, PageHeader, ParamsTable, StateBadge } from '../components/ui';
import { ArtifactList } from '../components/ArtifactList';
import { LineageChain } from '../components/Lineage';
import { TimeContextLine } from '../components/TimeContext';
import { PromoteButton } from '../components/Promote';
import type { Artifact, Lineage, ModelVersion, RegisteredModel } from '../types';

export function ModelVersionPage({ name, version }: { name: string; version: number }) {
  const v = useLoad(() => get<ModelVersion>(`/registry/models/${enc(name)}/versions/${version}`), [name, version]);
  const lineage = useLoad(() => get<Lineage>(`/registry/models/${enc(name)}/versions/${version}/lineage`), [name, version]);
  const model = useLoad(() => get<RegisteredModel>(`/registry/models/${enc(name)}`), [name]);
  const crumbs = (
    <>
      <Link to="/registry">Registry</Link> / <Link to={`/registry/${name}`}>{name}</Link>
    </>
  );
  if (v.error && !v.data)
    return (
      <div className="page">
        <PageHeader crumbs={crumbs} title={`${name} v${version}`} />
        <ErrorBanner error={v.error} title={v.error instanceof ApiError && v.error.status === 404 ? 'No such model version' : 'Could not load the version'} />
      </div>
    );
  if (!v.data) return <Loading />;
  const mv = v.data;
  const l = lineage.data;
  const reload = () => {
    void v.reload();
    void model.reload();
  };
  const metrics = Object.entries(mv.metrics).sort(([a], [b]) => a.localeCompare(b));
  return (
    <div className="page">
      <PageHeader
        crumbs={crumbs}
        title={
          <>
            {name} <span className="version-pill">v{mv.version}</span> {mv.aliases.length > 0 && <Chips items={mv.aliases} kind="production" />}
          </>
        }
        subtitle={mv.description || undefined}
        actions={model.data && <PromoteButton name={name} version={mv.version} current={model.data.aliases?.production} onDone={reload} />}
      />
      <div className="grid-2">
        <div className="stack">
          <Card title="Metrics">
            {metrics.length ? (
              <div className="metric-tiles">
                {metrics.map(([k, val]) => (
                  <div key={k} className="metric-tile">
                    <span className="metric-key">{k}</span>
                    <span className="metric-value">{num(val)}</span>
                  </div>
                ))}
              </div>
            ) : (
              <p className="muted">No metrics were recorded with this version.</p>
            )}
          </Card>
          <Card title="Version">
            <KeyValues
              items={[
                ...(mv.runId ? [] : [['Artifacts', <span className="mono break">{mv.artifactUri}</span>] as [string, ReactNode]]),
                ['Source run', mv.runId ? <Link to={`/runs/${mv.runId}`} className="mono">{mv.runId}</Link> : 'registered from an artifact URI'],
                ['Created', dateTime(mv.createdAt)],
                ['Aliases', mv.aliases.length ? <Chips items={mv.aliases} /> : 'none'],
                ['Tags', Object.keys(mv.tags).length ? <Chips items={Object.entries(mv.tags).map(([k, t]) => `${k}=${t}`)} /> : 'none'],
              ]}
            />
          </Card>
          {mv.runId && <VersionArtifacts runId={mv.runId} uri={mv.artifactUri} />}
        </div>
        <div className="stack">
          <Card title="Lineage">
            <ErrorBanner error={lineage.error} title="Could not load the lineage" />
            {l && (
              <>
                <LineageChain
                  nodes={[
                    ...(l.features.length ? [{ kind: 'Features', label: `${l.features.length} features`, to: '/catalog/features', detail: l.features.map((f) => f.name).slice(0, 6).join(', ') + (l.features.length > 6 ? ', …' : '') }] : []),
                    ...(l.dataset ? [{ kind: 'Dataset', label: `${l.dataset.name}@${l.dataset.version}`, to: `/catalog/datasets/${l.dataset.name}`, detail: l.dataset.uri }] : []),
                    ...(l.model ? [{ kind: 'Model', label: `${l.model.name}@${l.model.version}`, to: `/catalog/models/${l.model.name}`, detail: l.model.framework }] : []),
                    ...(l.workflow ? [{ kind: 'Workflow', label: `${l.workflow.name}@${l.workflow.version}`, to: `/workflows/${l.workflow.name}?version=${l.workflow.version}` }] : []),
                    ...(l.run
                      ? [
                          {
                            kind: 'Run',
                            label: l.run.id,
                            to: `/runs/${l.run.id}`,
                            detail: (
                              <>
                                <StateBadge state={l.run.state} /> on {l.run.backend}
                                {l.run.startedAt && l.run.finishedAt ? `, ${duration(Date.parse(l.run.finishedAt) - Date.parse(l.run.startedAt))}` : ''}
                              </>
                            ),
                          },
                        ]
                      : []),
                    { kind: 'Model version', label: `${name} v${mv.version}` },
                  ]}
                />
                {l.trigger && (
                  <p className="small muted">
                    Started by {plain(l.trigger.type)}
                    {l.trigger.dagId ? ` (DAG ${plain(l.trigger.dagId)}, task ${plain(l.trigger.taskId)})` : ''}
                  </p>
                )}
                {l.timeContext && <TimeContextLine context={l.timeContext} />}
              </>
            )}
          </Card>
          {l?.hyperparameters && (
            <Card title="Trained with">
              <ParamsTable entries={Object.entries(l.hyperparameters)} />
            </Card>
          )}
        </div>
      </div>
    </div>
  );
}

/** The source run's files: a version registered from a run points at them. */
function VersionArtifacts({ runId, uri }: { runId: string; uri: string }) {
  const artifacts = useLoad(() => get<{ items: Artifact[] }>(`/runs/${enc(runId)}/artifacts`), [runId]);
  return (
    <Card title="Artifacts" actions={<span className="muted small mono break" title={uri}>from run {runId}</span>}>
      <ArtifactList runId={runId} items={artifacts.data?.items} error={artifacts.error} empty="The source run uploaded no artifacts." />
    </Card>
  );
}
