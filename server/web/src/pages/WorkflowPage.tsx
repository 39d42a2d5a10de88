import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { stringify } from 'yaml';
import { ApiError, enc, get, post, query } from '../api';
import { useAuth } from '../auth';
import { useLoad, useNow } from '../hooks';
import { dateTime, duration, plain, relativeTime } from '../format';
import { compact, numberOrUndefined, parseJsonObject, placeError, splitList, type FieldErrors } from '../forms';
import { Link, navigate, setSearch, useLocation } from '../router';
import { Card, Code, Empty, ErrorBanner, Field, KeyValues, Loading, PageHeader, ParamsTable, StateBadge, Tabs } from '../components/ui';
import type { Dataset, Model, Page, Run, Runtime, Workflow } from '../types';

export const BACKENDS = ['local', 'ray', 'kubernetes', 'kuberay'] as const;

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
      {tab === 'run' && <RunForm workflow={selected} />}
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

function Overview({ workflow: w }: { workflow: Workflow }) {
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
        {hp.length ? (
          <ParamsTable entries={hp} />
        ) : (
          <p className="muted">None set here: runs use the model's defaults.</p>
        )}
      </Card>
      <Card title="Recent runs" actions={<Link to={`/runs?workflow=${enc(w.name)}`}>All runs</Link>}>
        <ErrorBanner error={runs.error} />
        {runs.data && runs.data.items.length === 0 && <Empty>No runs of this workflow yet.</Empty>}
        {runs.data && runs.data.items.length > 0 && (
          <table className="table compact">
            <tbody>
              {runs.data.items.map((r) => (
                <tr key={r.id}>
                  <td>
                    <Link to={`/runs/${r.id}`} className="mono">
                      {r.id}
                    </Link>
                  </td>
                  <td>
                    <StateBadge state={r.state} />
                  </td>
                  <td className="muted">v{r.workflow?.version}</td>
                  <td className="muted">{r.trigger}</td>
                  <td className="muted">{relativeTime(r.createdAt, now)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </div>
  );
}

function Versions({ versions, selected }: { versions: Workflow[]; selected: number }) {
  const keys: (keyof Workflow)[] = ['model', 'dataset', 'runtime', 'backend', 'entrypoint', 'hyperparameters', 'resources', 'timeoutSeconds', 'register', 'description'];
  return (
    <div className="table-wrap">
      <table className="table">
        <thead>
          <tr>
            <th>Version</th>
            <th>Created</th>
            <th>Model</th>
            <th>Dataset</th>
            <th>Backend</th>
            <th>Changed from the version before</th>
          </tr>
        </thead>
        <tbody>
          {versions.map((w, i) => {
            const prev = versions[i + 1];
            const changed = prev ? keys.filter((k) => JSON.stringify(w[k]) !== JSON.stringify(prev[k])) : [];
            return (
              <tr key={w.version} className={w.version === selected ? 'selected' : undefined}>
                <td>
                  <Link to={`/workflows/${w.name}?version=${w.version}`} className="strong">
                    v{w.version}
                  </Link>
                </td>
                <td>{dateTime(w.createdAt)}</td>
                <td className="mono">{w.model}</td>
                <td className="mono">{w.dataset}</td>
                <td>{w.backend}</td>
                <td>{prev ? (changed.length ? changed.join(', ') : <span className="muted">nothing</span>) : <span className="muted">first version</span>}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

interface DryRunResult {
  backend: string;
  request?: unknown;
  error?: unknown;
}

/** What every backend would create for this version, without creating anything. */
function DryRun({ workflow }: { workflow: Workflow }) {
  const ref = `${workflow.name}@${workflow.version}`;
  const [results, setResults] = useState<DryRunResult[] | null>(null);
  const [backend, setBackend] = useState<string>(workflow.backend);
  useEffect(() => {
    let stale = false;
    setResults(null);
    Promise.all(
      BACKENDS.map((b) =>
        post<{ backend: string; request: unknown }>('/runs?dryRun=true', { workflow: ref, overrides: { backend: b } }).then(
          (r) => ({ backend: b, request: r.request }),
          (error) => ({ backend: b, error }),
        ),
      ),
    ).then((r) => !stale && setResults(r));
    return () => {
      stale = true;
    };
  }, [ref]);
  if (!results) return <Loading what="Rendering each backend's request" />;
  const current = results.find((r) => r.backend === backend) ?? results[0];
  return (
    <Card title="Dry run" actions={<span className="muted small">nothing is created; the service renders exactly what it would send</span>}>
      <Tabs
        tabs={results.map((r) => ({
          id: r.backend,
          label: (
            <>
              {r.backend} <span className={r.error ? 'dot-bad' : 'dot-ok'} aria-label={r.error ? 'unavailable' : 'ok'} />
              {r.backend === workflow.backend && <span className="muted small"> (default)</span>}
            </>
          ),
        }))}
        active={current.backend}
        onChange={(b) => setBackend(b)}
      />
      <div data-testid={`dryrun-${current.backend}`}>{current.error ? <ErrorBanner error={current.error} title={`The ${current.backend} backend cannot run this`} /> : <Code text={stringify(current.request)} maxHeight={520} />}</div>
    </Card>
  );
}

function useCatalogOptions() {
  const models = useLoad(() => get<Page<Model>>('/models?limit=500'), []);
  const datasets = useLoad(() => get<Page<Dataset>>('/datasets?limit=500'), []);
  const runtimes = useLoad(() => get<Page<Runtime>>('/runtimes'), []);
  const refs = (items: { name: string; version: number }[] | undefined) =>
    [...(items ?? [])].sort((a, b) => a.name.localeCompare(b.name) || b.version - a.version).map((i) => `${i.name}@${i.version}`);
  return { models: refs(models.data?.items), datasets: refs(datasets.data?.items), runtimes: runtimes.data?.items ?? [], error: models.error ?? datasets.error ?? runtimes.error };
}

const WORKFLOW_FIELDS = ['name', 'description', 'model', 'dataset', 'runtime', 'backend', 'entrypoint', 'hyperparameters', 'resources.cpu', 'resources.memoryMb', 'resources.gpu', 'resources', 'timeoutSeconds', 'register.modelName', 'register.aliases', 'register'];

/** Creates a workflow version; the API's verdict on each field is shown next to that field. */
function WorkflowForm({ initial, onCreated }: { initial?: Workflow; onCreated: (w: Workflow) => void }) {
  const options = useCatalogOptions();
  const [f, setF] = useState(() => ({
    name: initial?.name ?? '',
    description: initial?.description ?? '',
    model: initial?.model ?? '',
    dataset: initial?.dataset ?? '',
    runtime: initial?.runtime ?? '',
    backend: initial?.backend ?? 'local',
    entrypoint: initial?.entrypoint ?? '',
    hyperparameters: JSON.stringify(initial?.hyperparameters ?? {}, null, 2),
    cpu: initial?.resources.cpu?.toString() ?? '',
    memoryMb: initial?.resources.memoryMb?.toString() ?? '',
    gpu: initial?.resources.gpu?.toString() ?? '',
    timeoutSeconds: String(initial?.timeoutSeconds ?? 3600),
    registerModelName: initial?.register?.modelName ?? '',
    registerAliases: initial?.register?.aliases.join(', ') ?? '',
  }));
  const [errors, setErrors] = useState<FieldErrors>({});
  const [general, setGeneral] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [preview, setPreview] = useState<{ request?: unknown; error?: unknown } | null>(null);
  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => setF((s) => ({ ...s, [k]: e.target.value }));

  const body = (): Record<string, unknown> | null => {
    const hp = parseJsonObject(f.hyperparameters, 'hyperparameters');
    if (hp.error) {
      setErrors(hp.error);
      return null;
    }
    return compact({
      name: f.name.trim(),
      description: f.description,
      model: f.model.trim(),
      dataset: f.dataset.trim(),
      runtime: f.runtime.trim(),
      backend: f.backend,
      entrypoint: f.entrypoint.trim() || undefined,
      hyperparameters: hp.value,
      resources: compact({ cpu: numberOrUndefined(f.cpu), memoryMb: numberOrUndefined(f.memoryMb), gpu: numberOrUndefined(f.gpu), ...(initial?.resources.customResources ? { customResources: initial.resources.customResources } : {}) }),
      timeoutSeconds: numberOrUndefined(f.timeoutSeconds),
      register: f.registerModelName.trim() ? { modelName: f.registerModelName.trim(), aliases: splitList(f.registerAliases), tags: initial?.register?.tags ?? {} } : undefined,
    });
  };

  const fail = (e: unknown) => {
    const placed = placeError(e, WORKFLOW_FIELDS);
    setErrors(placed.fieldErrors);
    setGeneral(placed.unplaced);
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setErrors({});
    setGeneral(null);
    const b = body();
    if (!b) return;
    setBusy(true);
    try {
      onCreated(await post<Workflow>('/workflows', b));
    } catch (err) {
      fail(err);
    } finally {
      setBusy(false);
    }
  };

  const runPreview = async () => {
    setErrors({});
    setGeneral(null);
    const b = body();
    if (!b) return;
    const { name: _n, description: _d, ...spec } = b;
    setPreview(null);
    try {
      setPreview({ request: (await post<{ request: unknown }>('/runs?dryRun=true', { spec })).request });
    } catch (err) {
      const placed = placeError(err instanceof ApiError && err.field?.startsWith('spec.') ? new ApiError(err.status, err.code, err.message.replace(/^spec\./, ''), err.field.slice(5)) : err, WORKFLOW_FIELDS);
      setErrors(placed.fieldErrors);
      setPreview({ error: placed.unplaced ?? err });
    }
  };

  const runtime = options.runtimes.find((r) => r.name === f.runtime);
  return (
    <form className="form" onSubmit={submit} noValidate data-testid="workflow-form">
      <ErrorBanner error={options.error} title="Could not load the catalog for the pickers" />
      <div className="form-grid">
        <Field label="Name" name="name" error={errors.name} hint={initial ? 'A new version of this workflow' : 'lowercase letters, digits, . _ -'}>
          <input name="name" value={f.name} onChange={set('name')} readOnly={Boolean(initial)} />
        </Field>
        <Field label="Backend" name="backend" error={errors.backend} hint={runtime ? `${runtime.name} supports ${runtime.backends.join(', ')}` : undefined}>
          <select name="backend" value={f.backend} onChange={set('backend')}>
            {BACKENDS.map((b) => (
              <option key={b}>{b}</option>
            ))}
          </select>
        </Field>
        <Field label="Model" name="model" error={errors.model} hint="name@version from the Model Store">
          <input name="model" list="model-options" value={f.model} onChange={set('model')} placeholder="logistic-regression@1" />
        </Field>
        <Field label="Dataset" name="dataset" error={errors.dataset} hint="name@version">
          <input name="dataset" list="dataset-options" value={f.dataset} onChange={set('dataset')} placeholder="grocery-reorder@1" />
        </Field>
        <Field label="Runtime" name="runtime" error={errors.runtime}>
          <select name="runtime" value={f.runtime} onChange={set('runtime')}>
            <option value="">choose a runtime</option>
            {options.runtimes.map((r) => (
              <option key={r.name} value={r.name}>
                {r.name}
                {r.image ? ` (${r.image})` : ''}
              </option>
            ))}
            {f.runtime && !options.runtimes.some((r) => r.name === f.runtime) && <option>{f.runtime}</option>}
          </select>
        </Field>
        <Field label="Entrypoint" name="entrypoint" error={errors.entrypoint} hint="empty: the model's entrypoint">
          <input name="entrypoint" value={f.entrypoint} onChange={set('entrypoint')} placeholder="python train.py" />
        </Field>
        <Field label="CPU" name="resources.cpu" error={errors['resources.cpu'] ?? errors.resources}>
          <input name="resources.cpu" type="number" step="any" value={f.cpu} onChange={set('cpu')} />
        </Field>
        <Field label="Memory (MiB)" name="resources.memoryMb" error={errors['resources.memoryMb']}>
          <input name="resources.memoryMb" type="number" value={f.memoryMb} onChange={set('memoryMb')} />
        </Field>
        <Field label="GPUs" name="resources.gpu" error={errors['resources.gpu']}>
          <input name="resources.gpu" type="number" value={f.gpu} onChange={set('gpu')} />
        </Field>
        <Field label="Timeout (seconds)" name="timeoutSeconds" error={errors.timeoutSeconds} hint="the server stops the run after this long">
          <input name="timeoutSeconds" type="number" value={f.timeoutSeconds} onChange={set('timeoutSeconds')} />
        </Field>
        <Field label="Register as (model name)" name="register.modelName" error={errors['register.modelName'] ?? errors.register} hint="empty: register nothing">
          <input name="register.modelName" value={f.registerModelName} onChange={set('registerModelName')} />
        </Field>
        <Field label="Aliases on registration" name="register.aliases" error={errors['register.aliases']} hint="comma-separated, e.g. staging">
          <input name="register.aliases" value={f.registerAliases} onChange={set('registerAliases')} />
        </Field>
        <Field label="Hyperparameters (JSON)" name="hyperparameters" error={errors.hyperparameters} hint="override the model's defaults" wide>
          <textarea name="hyperparameters" rows={5} className="mono" value={f.hyperparameters} onChange={set('hyperparameters')} />
        </Field>
        <Field label="Description" name="description" error={errors.description} wide>
          <textarea name="description" rows={2} value={f.description} onChange={set('description')} />
        </Field>
      </div>
      <datalist id="model-options">
        {options.models.map((m) => (
          <option key={m} value={m} />
        ))}
      </datalist>
      <datalist id="dataset-options">
        {options.datasets.map((d) => (
          <option key={d} value={d} />
        ))}
      </datalist>
      <ErrorBanner error={general} title="The version was not created" />
      {Object.keys(errors).length > 0 && <div className="banner banner-error" role="alert"><strong>The version was not created.</strong> <span>Fix the highlighted field and save again.</span></div>}
      <div className="form-actions">
        <button className="btn btn-primary" type="submit" disabled={busy}>
          {busy ? 'Saving…' : initial ? 'Save new version' : 'Create workflow'}
        </button>
        <button className="btn" type="button" onClick={runPreview}>
          Preview ({f.backend} dry run)
        </button>
      </div>
      {preview && (preview.error ? <ErrorBanner error={preview.error} title="Preview failed" /> : <Code text={stringify(preview.request)} maxHeight={420} />)}
    </form>
  );
}

type SchemaProp = { type?: string; description?: string; minimum?: number; maximum?: number; enum?: unknown[] };

function coerce(text: string, prop: SchemaProp | undefined): unknown {
  if (prop?.type === 'number' || prop?.type === 'integer') return numberOrUndefined(text);
  if (prop?.type === 'boolean') return text === 'true' ? true : text === 'false' ? false : text;
  if (prop?.type === 'string') return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

const RUN_FIELDS = ['overrides.hyperparameters', 'overrides.backend', 'overrides.datasetVersion', 'overrides.timeoutSeconds', 'overrides.resources.cpu', 'overrides.resources.memoryMb', 'overrides.resources.gpu', 'overrides.resources', 'Idempotency-Key'];

/** Starts a run of this version; only the values typed in become overrides. */
function RunForm({ workflow }: { workflow: Workflow }) {
  const [modelName, modelVersion] = workflow.model.split('@');
  const model = useLoad(() => get<Model>(modelVersion ? `/models/${enc(modelName)}/versions/${modelVersion}` : `/models/${enc(modelName)}`), [workflow.model]);
  const [hp, setHp] = useState<Record<string, string>>({});
  const [f, setF] = useState({ backend: workflow.backend, datasetVersion: '', timeoutSeconds: '', cpu: '', memoryMb: '', gpu: '', idempotencyKey: '' });
  const [errors, setErrors] = useState<FieldErrors>({});
  const [general, setGeneral] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => setF((s) => ({ ...s, [k]: e.target.value }));

  const props = (model.data?.hyperparameterSchema?.properties ?? {}) as Record<string, SchemaProp>;
  const defaults = { ...(model.data?.defaultHyperparameters ?? {}), ...workflow.hyperparameters };
  const keys = [...new Set([...Object.keys(props), ...Object.keys(defaults)])];

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setErrors({});
    setGeneral(null);
    const hyperparameters = Object.fromEntries(
      Object.entries(hp)
        .filter(([, v]) => v.trim() !== '')
        .map(([k, v]) => [k, coerce(v.trim(), props[k])]),
    );
    const resources = compact({ cpu: numberOrUndefined(f.cpu), memoryMb: numberOrUndefined(f.memoryMb), gpu: numberOrUndefined(f.gpu) });
    const overrides = compact({
      hyperparameters: Object.keys(hyperparameters).length ? hyperparameters : undefined,
      backend: f.backend !== workflow.backend ? f.backend : undefined,
      datasetVersion: numberOrUndefined(f.datasetVersion),
      timeoutSeconds: numberOrUndefined(f.timeoutSeconds),
      resources: Object.keys(resources).length ? resources : undefined,
    });
    setBusy(true);
    try {
      const run = await post<Run>('/runs', { workflow: `${workflow.name}@${workflow.version}`, overrides, trigger: 'ui' }, f.idempotencyKey.trim() ? { 'Idempotency-Key': f.idempotencyKey.trim() } : undefined);
      navigate(`/runs/${run.id}`);
    } catch (err) {
      const placed = placeError(err, [...RUN_FIELDS, ...keys.map((k) => `overrides.hyperparameters.${k}`)]);
      setErrors(placed.fieldErrors);
      setGeneral(placed.unplaced);
      setBusy(false);
    }
  };

  return (
    <Card title={`Run ${workflow.name}@${workflow.version}`} actions={<span className="muted small">leave a field empty to keep the workflow's value</span>}>
      <form className="form" onSubmit={submit} noValidate data-testid="run-form">
        <ErrorBanner error={model.error} title={`Could not load the model ${workflow.model} (hyperparameter hints are missing)`} />
        <h3>Hyperparameters</h3>
        {model.loading && <Loading />}
        <div className="form-grid">
          {keys.map((k) => (
            <Field key={k} label={k} name={`overrides.hyperparameters.${k}`} error={errors[`overrides.hyperparameters.${k}`]} hint={props[k]?.description}>
              {props[k]?.type === 'boolean' ? (
                <select name={`hp.${k}`} value={hp[k] ?? ''} onChange={(e) => setHp((s) => ({ ...s, [k]: e.target.value }))}>
                  <option value="">default ({plain(defaults[k])})</option>
                  <option>true</option>
                  <option>false</option>
                </select>
              ) : (
                <input
                  name={`hp.${k}`}
                  type={props[k]?.type === 'number' || props[k]?.type === 'integer' ? 'number' : 'text'}
                  step="any"
                  placeholder={k in defaults ? plain(defaults[k]) : 'not set'}
                  value={hp[k] ?? ''}
                  onChange={(e) => setHp((s) => ({ ...s, [k]: e.target.value }))}
                />
              )}
            </Field>
          ))}
        </div>
        {errors['overrides.hyperparameters'] && <div className="field-error" role="alert">{errors['overrides.hyperparameters']}</div>}
        <h3>Where and how</h3>
        <div className="form-grid">
          <Field label="Backend" name="overrides.backend" error={errors['overrides.backend']}>
            <select name="backend" value={f.backend} onChange={set('backend')}>
              {BACKENDS.map((b) => (
                <option key={b}>{b}</option>
              ))}
            </select>
          </Field>
          <Field label="Dataset version" name="overrides.datasetVersion" error={errors['overrides.datasetVersion']}>
            <input name="datasetVersion" type="number" placeholder={workflow.dataset.split('@')[1] ?? 'latest'} value={f.datasetVersion} onChange={set('datasetVersion')} />
          </Field>
          <Field label="Timeout (seconds)" name="overrides.timeoutSeconds" error={errors['overrides.timeoutSeconds']}>
            <input name="timeoutSeconds" type="number" placeholder={String(workflow.timeoutSeconds)} value={f.timeoutSeconds} onChange={set('timeoutSeconds')} />
          </Field>
          <Field label="CPU" name="overrides.resources.cpu" error={errors['overrides.resources.cpu'] ?? errors['overrides.resources']}>
            <input name="cpu" type="number" step="any" placeholder={plain(workflow.resources.cpu)} value={f.cpu} onChange={set('cpu')} />
          </Field>
          <Field label="Memory (MiB)" name="overrides.resources.memoryMb" error={errors['overrides.resources.memoryMb']}>
            <input name="memoryMb" type="number" placeholder={plain(workflow.resources.memoryMb)} value={f.memoryMb} onChange={set('memoryMb')} />
          </Field>
          <Field label="GPUs" name="overrides.resources.gpu" error={errors['overrides.resources.gpu']}>
            <input name="gpu" type="number" placeholder={plain(workflow.resources.gpu ?? 0)} value={f.gpu} onChange={set('gpu')} />
          </Field>
          <Field label="Idempotency key" name="Idempotency-Key" error={errors['Idempotency-Key']} hint="optional: the same key returns the same run" wide>
            <input name="idempotencyKey" value={f.idempotencyKey} onChange={set('idempotencyKey')} />
          </Field>
        </div>
        <ErrorBanner error={general} title="The run was not started" />
        <div className="form-actions">
          <button className="btn btn-primary" type="submit" disabled={busy} data-testid="start-run">
            {busy ? 'Starting…' : `Start run on ${f.backend}`}
          </button>
          <span className="muted small">The run page opens with live logs and metrics.</span>
        </div>
      </form>
    </Card>
  );
}
