import { dateTime } from '../../format';
import { Link } from '../../router';
import { Table } from '../../components/Table';
import type { Workflow } from '../../types';

const COMPARED: (keyof Workflow)[] = ['model', 'dataset', 'runtime', 'backend', 'entrypoint', 'hyperparameters', 'resources', 'timeoutSeconds', 'register', 'description'];

/** Every version, newest first, with what changed from the one before. */
export function Versions({ versions, selected }: { versions: Workflow[]; selected: number }) {
  const changedFrom = (w: Workflow) => {
    const prev = versions[versions.indexOf(w) + 1];
    if (!prev) return <span className="muted">first version</span>;
    const changed = COMPARED.filter((k) => JSON.stringify(w[k]) !== JSON.stringify(prev[k]));
    return changed.length ? changed.join(', ') : <span className="muted">nothing</span>;
  };
  return (
    <Table
      rows={versions}
      rowKey={(w) => w.version}
      rowProps={(w) => ({ className: w.version === selected ? 'selected' : undefined })}
      columns={[
        { key: 'version', header: 'Version', cell: (w) => <Link to={`/workflows/${w.name}?version=${w.version}`} className="strong">v{w.version}</Link> },
        { key: 'created', header: 'Created', className: 'nowrap', cell: (w) => dateTime(w.createdAt) },
        { key: 'model', header: 'Model', className: 'mono', cell: (w) => w.model },
        { key: 'dataset', header: 'Dataset', className: 'mono', cell: (w) => w.dataset },
        { key: 'backend', header: 'Backend', cell: (w) => w.backend },
        { key: 'changed', header: 'Changed from the version before', cell: changedFrom },
      ]}
    />
  );
}
