import { enc, get, query } from '../../api';
import { useLoad, useNow } from '../../hooks';
import { dateTime, duration, plain, relativeTime } from '../../format';
import { Link } from '../../router';
import { Card, Empty, ErrorBanner, KeyValues, ParamsTable, StateBadge } from '../../components/ui';
import { Table } from '../../components/Table';
import type { Page, Run, Workflow } from '../../types';

/** One version's definition beside its recent runs. */
export function Overview({ workflow: w }: { workflow: Workflow }) {
  const now = useNow();
  const runs = useLoad(() => get<Page<Run>>(`/runs${query({ workflow: w.name, limit: 8 })}`), [w.name], 3000);
  const hp = Object.entries(w.hyperparameters);
  return (
    <div className="grid-2">
      <Card title="Definition">
        <KeyValues
          items={[
            ['Model', <Link to={`/catalog/models/${w.model.split('@')[0]}`} className="mono">{w.model}</Link>],
            ['Dataset', <Link to={`/catalog/datasets/${w.dataset.split('@')[0]}`} className="mono">{w.dataset}</Link>],
            ['Runtime', w.runtime],
            ['Backend', w.backend],
            ['Entrypoint', w.entrypoint ? <span className="mono">{w.entrypoint}</span> : <span className="muted">the model's</span>],
            ['Resources', Object.keys(w.resources).length ? Object.entries(w.resources).map(([k, v]) => `${k} ${plain(v)}`).join(', ') : 'defaults'],
            ['Timeout', duration(w.timeoutSeconds * 1000)],
            ['Registers', w.register ? <><Link to={`/registry/${w.register.modelName}`}>{w.register.modelName}</Link>{w.register.aliases.length ? ` with aliases ${w.register.aliases.join(', ')}` : ''}</> : 'nothing'],
            ['Created', dateTime(w.createdAt)],
          ]}
        />
        <h3>Hyperparameters</h3>
        {hp.length ? <ParamsTable entries={hp} /> : <p className="muted">None set here: runs use the model's defaults.</p>}
      </Card>
      <Card title="Recent runs" actions={<Link to={`/runs?workflow=${enc(w.name)}`}>All runs</Link>}>
        <ErrorBanner error={runs.error} />
        {runs.data && runs.data.items.length === 0 && <Empty>No runs of this workflow yet.</Empty>}
        {runs.data && runs.data.items.length > 0 && (
          <Table
            flush
            headless
            className="compact"
            rows={runs.data.items}
            rowKey={(r) => r.id}
            columns={[
              { key: 'id', header: 'Run', cell: (r) => <Link to={`/runs/${r.id}`} className="mono">{r.id}</Link> },
              { key: 'state', header: 'State', cell: (r) => <StateBadge state={r.state} /> },
              { key: 'version', header: 'Version', className: 'muted', cell: (r) => `v${r.workflow?.version}` },
              { key: 'trigger', header: 'Trigger', className: 'muted', cell: (r) => r.trigger },
              { key: 'created', header: 'Created', className: 'muted', cell: (r) => <span title={dateTime(r.createdAt)}>{relativeTime(r.createdAt, now)}</span> },
            ]}
          />
        )}
      </Card>
    </div>
  );
}
