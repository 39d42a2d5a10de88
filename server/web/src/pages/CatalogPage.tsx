import { useState, type FormEvent, type ReactNode } from 'react';
import { ApiError, enc, get, post } from '../api';
import { useAuth } from '../auth';
import { useLoad } from '../hooks';
import { dateTime, plain } from '../format';
import { compact, parseJsonObject, splitList, type FieldErrors } from '../forms';
import { useForm } from '../useForm';
import { Table, type Column } from '../components/Table';
import { Link, navigate } from '../router';
import { Card, Chips, Empty, ErrorBanner, Field, KeyValues, Loading, Notice, PageHeader, Tabs } from '../components/ui';
import { latestByName } from './WorkflowsPage';
import type { Dataset, Feature, Model, Page, Runtime } from '../types';

const TABS = [
  { id: 'models', label: 'Models' },
  { id: 'datasets', label: 'Datasets' },
  { id: 'features', label: 'Features' },
  { id: 'runtimes', label: 'Runtimes' },
];

export function CatalogPage({ tab, name }: { tab: string; name?: string }) {
  const known = TABS.some((t) => t.id === tab);
  return (
    <div className="page">
      <PageHeader title="Model Store" subtitle="Untrained model architectures, the datasets and offline features they train on, and the standard runtimes they run in." />
      <Tabs tabs={TABS} active={tab} onChange={(id) => navigate(`/catalog/${id}`)} />
      {!known && <ErrorBanner error={new Error(`There is no "${tab}" section in the Model Store.`)} title="Not found" />}
      {tab === 'models' && (name ? <ModelDetail name={name} /> : <Models />)}
      {tab === 'datasets' && (name ? <DatasetDetail name={name} /> : <Datasets />)}
      {tab === 'features' && <Features selected={name} />}
      {tab === 'runtimes' && <Runtimes />}
    </div>
  );
}

function CreateToggle({ label, children }: { label: string; children: (close: () => void) => ReactNode }) {
  const { can } = useAuth();
  const [open, setOpen] = useState(false);
  if (!can('editor')) return null;
  return open ? (
    <Card title={label} actions={<button className="btn btn-ghost btn-small" onClick={() => setOpen(false)}>Close</button>}>
      {children(() => setOpen(false))}
    </Card>
  ) : (
    <div className="toolbar">
      <button className="btn btn-primary" onClick={() => setOpen(true)}>
        {label}
      </button>
    </div>
  );
}

/** The create forms share this: their values, POST, then field errors in place or a banner. */
function useCreate<T, V extends Record<string, unknown>>(path: string, fields: string[], initial: V, onDone: (created: T) => void) {
  const form = useForm(initial, fields);
  const submit = (body: Record<string, unknown> | null, localErrors?: FieldErrors) =>
    form.run(async () => {
      if (localErrors) form.setErrors(localErrors);
      if (!body) return;
      onDone(await post<T>(path, body));
    });
  return { f: form.values, set: form.set, errors: form.errors, general: form.general, busy: form.busy, submit };
}

/**
 * The list of a versioned catalog kind: one row per name with its latest version (and how many it
 * has), the name and latest-version columns first, then `columns`; a form to create a version.
 */
function LatestVersions<T extends { name: string; version: number; description: string | null }>({
  kind,
  noun,
  columns,
  form,
}: {
  kind: 'models' | 'datasets';
  noun: string;
  columns: Column<T>[];
  form: (onDone: (created: T) => void) => ReactNode;
}) {
  const items = useLoad(() => get<Page<T>>(`/${kind}?limit=500`), [kind]);
  const rows = latestByName(items.data?.items ?? []);
  return (
    <>
      <CreateToggle label={`New ${noun.toLowerCase()} version`}>{(close) => form((created) => { close(); navigate(`/catalog/${kind}/${created.name}`); })}</CreateToggle>
      <ErrorBanner error={items.error} title={`Could not load ${kind}`} />
      {items.loading ? <Loading /> : rows.length === 0 ? <Empty>No {kind} yet.</Empty> : (
        <Table
          rows={rows}
          rowKey={(r) => r.latest.name}
          columns={[
            { key: 'name', header: noun, cell: ({ latest }) => <><Link to={`/catalog/${kind}/${latest.name}`} className="strong">{latest.name}</Link>{latest.description && <div className="muted small clamp">{latest.description}</div>}</> },
            { key: 'latest', header: 'Latest', cell: ({ latest, count }) => <>v{latest.version} <span className="muted small">({count})</span></> },
            ...columns.map((c) => ({ ...c, cell: (r: { latest: T }) => c.cell(r.latest) })),
          ]}
        />
      )}
    </>
  );
}

function Models() {
  return (
    <LatestVersions<Model>
      kind="models"
      noun="Model"
      form={(onDone) => <ModelForm onDone={onDone} />}
      columns={[
        { key: 'framework', header: 'Framework', cell: (m) => m.framework },
        { key: 'code', header: 'Code', className: 'mono', cell: (m) => m.codeUri },
        { key: 'entrypoint', header: 'Entrypoint', className: 'mono', cell: (m) => m.entrypoint },
        { key: 'hp', header: 'Hyperparameters', cell: (m) => `${Object.keys(m.defaultHyperparameters).length} defaults` },
      ]}
    />
  );
}

function Versioned<T extends { name: string; version: number; createdAt: string }>({ kind, name, render }: { kind: 'models' | 'datasets'; name: string; render: (item: T) => ReactNode }) {
  const versions = useLoad(() => get<Page<T>>(`/${kind}/${enc(name)}/versions?limit=500`), [kind, name]);
  const [picked, setPicked] = useState<number | null>(null);
  const sorted = [...(versions.data?.items ?? [])].sort((a, b) => b.version - a.version);
  const item = sorted.find((v) => v.version === picked) ?? sorted[0];
  if (versions.error) return <ErrorBanner error={versions.error} title={versions.error instanceof ApiError && versions.error.status === 404 ? `No ${kind.slice(0, -1)} named ${name}` : 'Could not load'} />;
  if (!item) return <Loading />;
  return (
    <Card
      title={
        <>
          <Link to={`/catalog/${kind}`} className="muted">{kind === 'models' ? 'Models' : 'Datasets'}</Link> / {name} <span className="version-pill">v{item.version}</span>
        </>
      }
      actions={
        <label className="inline-select">
          Version
          <select value={item.version} onChange={(e) => setPicked(Number(e.target.value))}>
            {sorted.map((v) => (<option key={v.version} value={v.version}>v{v.version} · {dateTime(v.createdAt)}</option>))}
          </select>
        </label>
      }
    >
      {render(item)}
    </Card>
  );
}

function ModelDetail({ name }: { name: string }) {
  return (
    <Versioned<Model>
      kind="models"
      name={name}
      render={(m) => {
        const props = (m.hyperparameterSchema.properties ?? {}) as Record<string, { type?: string; description?: string }>;
        const keys = [...new Set([...Object.keys(props), ...Object.keys(m.defaultHyperparameters)])];
        return (
          <>
            {m.description && <p>{m.description}</p>}
            <KeyValues items={[['Framework', m.framework], ['Code', <span className="mono">{m.codeUri}</span>], ['Entrypoint', <span className="mono">{m.entrypoint}</span>], ['Created', dateTime(m.createdAt)]]} />
            <h3>Hyperparameters</h3>
            <table className="table compact">
              <thead><tr><th>Name</th><th>Type</th><th>Default</th><th>Meaning</th></tr></thead>
              <tbody>
                {keys.map((k) => (
                  <tr key={k}><th className="mono">{k}</th><td>{props[k]?.type ?? '—'}</td><td className="mono">{plain(m.defaultHyperparameters[k])}</td><td>{props[k]?.description ?? ''}</td></tr>
                ))}
              </tbody>
            </table>
          </>
        );
      }}
    />
  );
}

const MODEL_FIELDS = ['name', 'framework', 'codeUri', 'entrypoint', 'defaultHyperparameters', 'hyperparameterSchema', 'description'];

function ModelForm({ onDone }: { onDone: (m: Model) => void }) {
  const c = useCreate('/models', MODEL_FIELDS, { name: '', framework: '', codeUri: '', entrypoint: 'python train.py', defaultHyperparameters: '{}', hyperparameterSchema: '{}', description: '' }, onDone);
  const { f, set } = c;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const d = parseJsonObject(f.defaultHyperparameters, 'defaultHyperparameters');
    const s = parseJsonObject(f.hyperparameterSchema, 'hyperparameterSchema');
    if (d.error || s.error) return c.submit(null, { ...d.error, ...s.error });
    return c.submit(compact({ ...f, defaultHyperparameters: d.value, hyperparameterSchema: s.value }));
  };
  return (
    <form className="form" onSubmit={submit} noValidate>
      <Notice>Creating a model whose name exists adds a new version; versions never change.</Notice>
      <div className="form-grid">
        <Field label="Name" name="name" error={c.errors.name}><input name="name" value={f.name} onChange={set('name')} /></Field>
        <Field label="Framework" name="framework" error={c.errors.framework}><input name="framework" value={f.framework} onChange={set('framework')} placeholder="pytorch, xgboost, …" /></Field>
        <Field label="Code location" name="codeUri" error={c.errors.codeUri} hint="a directory inside the code root"><input name="codeUri" value={f.codeUri} onChange={set('codeUri')} placeholder="examples/grocery-reorder" /></Field>
        <Field label="Entrypoint" name="entrypoint" error={c.errors.entrypoint}><input name="entrypoint" value={f.entrypoint} onChange={set('entrypoint')} /></Field>
        <Field label="Default hyperparameters (JSON)" name="defaultHyperparameters" error={c.errors.defaultHyperparameters} wide><textarea className="mono" rows={3} name="defaultHyperparameters" value={f.defaultHyperparameters} onChange={set('defaultHyperparameters')} /></Field>
        <Field label="Hyperparameter schema (JSON Schema)" name="hyperparameterSchema" error={c.errors.hyperparameterSchema} wide><textarea className="mono" rows={3} name="hyperparameterSchema" value={f.hyperparameterSchema} onChange={set('hyperparameterSchema')} /></Field>
        <Field label="Description" name="description" error={c.errors.description} wide><textarea rows={2} name="description" value={f.description} onChange={set('description')} /></Field>
      </div>
      <ErrorBanner error={c.general} title="The model was not created" />
      <div className="form-actions"><button className="btn btn-primary" disabled={c.busy}>Create model version</button></div>
    </form>
  );
}

function Datasets() {
  return (
    <LatestVersions<Dataset>
      kind="datasets"
      noun="Dataset"
      form={(onDone) => <DatasetForm onDone={onDone} />}
      columns={[
        { key: 'uri', header: 'URI', className: 'mono break', cell: (d) => d.uri },
        { key: 'format', header: 'Format', cell: (d) => d.format },
        { key: 'features', header: 'Features', cell: (d) => d.features.length },
        { key: 'label', header: 'Label', className: 'mono', cell: (d) => d.label ?? '—' },
        { key: 'split', header: 'Split', cell: (d) => Object.entries(d.split).map(([k, v]) => `${k} ${Math.round(v * 100)}%`).join(', ') },
      ]}
    />
  );
}

function DatasetDetail({ name }: { name: string }) {
  return (
    <Versioned<Dataset>
      kind="datasets"
      name={name}
      render={(d) => (
        <>
          {d.description && <p>{d.description}</p>}
          <KeyValues items={[['URI', <span className="mono break">{d.uri}</span>], ['Format', d.format], ['Label', d.label ?? '—'], ['Split', Object.entries(d.split).map(([k, v]) => `${k} ${Math.round(v * 100)}%`).join(', ')], ['Created', dateTime(d.createdAt)]]} />
          <h3>Features ({d.features.length})</h3>
          <div className="chips-wrap">
            {d.features.map((f) => (<Link key={f} to={`/catalog/features/${f}`} className="chip">{f}</Link>))}
          </div>
        </>
      )}
    />
  );
}

const DATASET_FIELDS = ['name', 'uri', 'format', 'features', 'label', 'split', 'description'];

function DatasetForm({ onDone }: { onDone: (d: Dataset) => void }) {
  const c = useCreate('/datasets', DATASET_FIELDS, { name: '', uri: '', format: 'csv', features: '', label: '', split: '{"train": 0.8, "validation": 0.2}', description: '' }, onDone);
  const { f, set } = c;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const split = parseJsonObject(f.split, 'split');
    if (split.error) return c.submit(null, split.error);
    return c.submit(compact({ ...f, features: splitList(f.features), label: f.label.trim() || undefined, split: split.value }));
  };
  return (
    <form className="form" onSubmit={submit} noValidate>
      <div className="form-grid">
        <Field label="Name" name="name" error={c.errors.name}><input name="name" value={f.name} onChange={set('name')} /></Field>
        <Field label="Format" name="format" error={c.errors.format}>
          <select name="format" value={f.format} onChange={set('format')}>{['csv', 'parquet', 'jsonl', 'tfrecord', 'other'].map((x) => <option key={x}>{x}</option>)}</select>
        </Field>
        <Field label="URI" name="uri" error={c.errors.uri} hint="a path inside the code root, or s3://, gs://, …" wide><input name="uri" value={f.uri} onChange={set('uri')} /></Field>
        <Field label="Features" name="features" error={c.errors.features} hint="comma-separated feature names" wide><input name="features" value={f.features} onChange={set('features')} /></Field>
        <Field label="Label column" name="label" error={c.errors.label}><input name="label" value={f.label} onChange={set('label')} /></Field>
        <Field label="Split (JSON)" name="split" error={c.errors.split}><input className="mono" name="split" value={f.split} onChange={set('split')} /></Field>
        <Field label="Description" name="description" error={c.errors.description} wide><textarea rows={2} name="description" value={f.description} onChange={set('description')} /></Field>
      </div>
      <ErrorBanner error={c.general} title="The dataset was not created" />
      <div className="form-actions"><button className="btn btn-primary" disabled={c.busy}>Create dataset version</button></div>
    </form>
  );
}

function Features({ selected }: { selected?: string }) {
  const features = useLoad(() => get<Page<Feature>>('/features?limit=500'), []);
  const items = features.data?.items ?? [];
  return (
    <>
      <CreateToggle label="New feature">{(close) => <FeatureForm onDone={() => { close(); void features.reload(); }} />}</CreateToggle>
      <ErrorBanner error={features.error} title="Could not load features" />
      {features.loading ? <Loading /> : items.length === 0 ? <Empty>No features yet.</Empty> : (
        <Table
          rows={items}
          rowKey={(f) => f.name}
          rowProps={(f) => ({ className: f.name === selected ? 'selected' : undefined, id: `feature-${f.name}` })}
          columns={[
            { key: 'name', header: 'Feature', className: 'mono strong', cell: (f) => f.name },
            { key: 'entity', header: 'Entity', cell: (f) => f.entityKey },
            { key: 'dtype', header: 'Type', cell: (f) => <span className="chip">{f.dtype}</span> },
            { key: 'source', header: 'Source', className: 'mono break small', cell: (f) => f.source },
            { key: 'description', header: 'Description', className: 'small', cell: (f) => f.description },
          ]}
        />
      )}
    </>
  );
}

const FEATURE_FIELDS = ['name', 'entityKey', 'dtype', 'source', 'description'];

function FeatureForm({ onDone }: { onDone: (f: Feature) => void }) {
  const c = useCreate('/features', FEATURE_FIELDS, { name: '', entityKey: '', dtype: 'float', source: '', description: '' }, onDone);
  const { f, set } = c;
  return (
    <form className="form" onSubmit={(e) => { e.preventDefault(); void c.submit(compact(f)); }} noValidate>
      <Notice>A feature with an existing name is updated.</Notice>
      <div className="form-grid">
        <Field label="Name" name="name" error={c.errors.name}><input name="name" value={f.name} onChange={set('name')} /></Field>
        <Field label="Entity key" name="entityKey" error={c.errors.entityKey}><input name="entityKey" value={f.entityKey} onChange={set('entityKey')} placeholder="user_id" /></Field>
        <Field label="Type" name="dtype" error={c.errors.dtype}>
          <select name="dtype" value={f.dtype} onChange={set('dtype')}>{['float', 'int', 'bool', 'string', 'timestamp', 'category'].map((x) => <option key={x}>{x}</option>)}</select>
        </Field>
        <Field label="Source" name="source" error={c.errors.source}><input name="source" value={f.source} onChange={set('source')} placeholder="warehouse.table.column" /></Field>
        <Field label="Description" name="description" error={c.errors.description} wide><textarea rows={2} name="description" value={f.description} onChange={set('description')} /></Field>
      </div>
      <ErrorBanner error={c.general} title="The feature was not saved" />
      <div className="form-actions"><button className="btn btn-primary" disabled={c.busy}>Save feature</button></div>
    </form>
  );
}

function Runtimes() {
  const runtimes = useLoad(() => get<Page<Runtime>>('/runtimes'), []);
  return (
    <>
      <p className="muted">A curated list: admins maintain it through the API (<code>POST /api/v1/runtimes</code>); workflows pick one.</p>
      <ErrorBanner error={runtimes.error} title="Could not load runtimes" />
      {runtimes.loading ? <Loading /> : (
        <div className="cards">
          {(runtimes.data?.items ?? []).map((r) => (
            <Card key={r.name} title={r.name}>
              {r.description && <p className="small">{r.description}</p>}
              <KeyValues items={[['Image', <span className="mono break">{r.image ?? '—'}</span>], ['Python', r.pythonVersion ?? '—'], ['Ray', r.rayVersion ?? '—'], ['Local interpreter', <span className="mono">{r.localInterpreter ?? '—'}</span>], ['Backends', <Chips items={r.backends} />], ['Frameworks', <Chips items={r.frameworks} />]]} />
            </Card>
          ))}
        </div>
      )}
    </>
  );
}

