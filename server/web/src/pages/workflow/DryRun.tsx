import { useEffect, useState } from 'react';
import { stringify } from 'yaml';
import { post } from '../../api';
import { useAuth } from '../../auth';
import { BACKENDS, useBackends } from '../../backends';
import { Card, Code, ErrorBanner, Loading, Notice, Tabs } from '../../components/ui';
import type { Workflow } from '../../types';

type Rendered = { request: unknown } | { error: unknown };

/**
 * What a backend would be sent for this version, without creating anything. Only what can be
 * answered is asked: a viewer is told why it cannot render, an unconfigured backend says what to
 * configure, and a backend's request is rendered when its tab is opened.
 */
export function DryRun({ workflow }: { workflow: Workflow }) {
  const { can, me } = useAuth();
  const backends = useBackends();
  const ref = `${workflow.name}@${workflow.version}`;
  const [backend, setBackend] = useState<string>(workflow.backend);
  const [rendered, setRendered] = useState<Record<string, Rendered>>({});
  useEffect(() => setRendered({}), [ref]);
  const status = backends.status(backend);
  const configured = status ? status.configured : true;
  const mayRender = can('editor') && backends.loaded && configured && !rendered[backend];

  useEffect(() => {
    if (!mayRender) return;
    let stale = false;
    post<{ request: unknown }>('/runs?dryRun=true', { workflow: ref, overrides: { backend } }).then(
      (r) => !stale && setRendered((s) => ({ ...s, [backend]: { request: r.request } })),
      (error) => !stale && setRendered((s) => ({ ...s, [backend]: { error } })),
    );
    return () => {
      stale = true;
    };
  }, [mayRender, ref, backend]);

  if (!can('editor')) {
    return (
      <Card title="Dry run">
        <Notice kind="warn">
          <strong>Your role {me.role} cannot render dry runs.</strong> <span>A dry run goes through run submission, which needs an editor or admin token. The Definition tab shows what this version runs.</span>
        </Notice>
      </Card>
    );
  }
  const current = rendered[backend];
  return (
    <Card title="Dry run" actions={<span className="muted small">nothing is created; the service renders exactly what it would send</span>}>
      <Tabs
        tabs={BACKENDS.map((b) => {
          const off = backends.status(b)?.configured === false;
          return {
            id: b,
            label: (
              <>
                {b} {off && <span className="chip chip-warn small">not configured</span>}
                {b === workflow.backend && <span className="muted small"> (default)</span>}
              </>
            ),
          };
        })}
        active={backend}
        onChange={(b) => setBackend(b)}
      />
      <div data-testid={`dryrun-${backend}`}>
        {!configured ? (
          <Notice kind="warn">
            <strong>The {backend} backend is not configured on this server.</strong> <span>{status?.hint}</span>
          </Notice>
        ) : !current ? (
          <Loading what={`Rendering the ${backend} request`} />
        ) : 'error' in current ? (
          <ErrorBanner error={current.error} title={`The ${backend} backend cannot run this`} />
        ) : (
          <Code text={stringify(current.request)} maxHeight={520} />
        )}
      </div>
    </Card>
  );
}
