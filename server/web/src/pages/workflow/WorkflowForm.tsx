import { useState, type FormEvent } from 'react';
import { stringify } from 'yaml';
import { ApiError, post } from '../../api';
import { BACKENDS, backendLabel, useBackends } from '../../backends';
import { compact, numberOrUndefined, parseJsonObject, splitList } from '../../forms';
import { useForm } from '../../useForm';
import { Code, ErrorBanner, Field } from '../../components/ui';
import { useCatalogOptions } from './catalogOptions';
import type { Workflow } from '../../types';

const WORKFLOW_FIELDS = ['name', 'description', 'model', 'dataset', 'runtime', 'backend', 'entrypoint', 'hyperparameters', 'resources.cpu', 'resources.memoryMb', 'resources.gpu', 'resources', 'timeoutSeconds', 'register.modelName', 'register.aliases', 'register'];

/**
 * Creates a workflow version; the API's verdict on each field is shown next to that field. A
 * backend this server has not configured is marked, and saving on it needs "Save anyway".
 */
export function WorkflowForm({ initial, onCreated }: { initial?: Workflow; onCreated: (w: Workflow & { warnings?: string[] }) => void }) {
  const options = useCatalogOptions();
  const backends = useBackends();
  const form = useForm(() => ({
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
    force: false as boolean,
  }), WORKFLOW_FIELDS);
  const { values: f, set, errors, setErrors, general, busy } = form;
  const [preview, setPreview] = useState<{ request?: unknown; error?: unknown } | null>(null);
  const backendStatus = backends.status(f.backend);
  const unconfigured = backendStatus?.configured === false;

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

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void form.run(async () => {
      const b = body();
      if (!b) return;
      onCreated(await post<Workflow & { warnings?: string[] }>(`/workflows${f.force && unconfigured ? '?force=true' : ''}`, b));
    });
  };

  const runPreview = () =>
    form.run(async () => {
      const b = body();
      if (!b) return;
      const { name: _n, description: _d, ...spec } = b;
      setPreview(null);
      try {
        setPreview({ request: (await post<{ request: unknown }>('/runs?dryRun=true', { spec })).request });
      } catch (err) {
        // An inline spec's errors name "spec.x"; this form's fields are "x".
        const local = err instanceof ApiError && err.field?.startsWith('spec.') ? new ApiError(err.status, err.code, err.message.replace(/^spec\./, ''), err.field.slice(5)) : err;
        form.fail(local);
        setPreview({ error: local });
      }
    });

  const runtime = options.runtimes.find((r) => r.name === f.runtime);
  return (
    <form className="form" onSubmit={submit} noValidate data-testid="workflow-form">
      <ErrorBanner error={options.error} title="Could not load the catalog for the pickers" />
      <div className="form-grid">
        <Field label="Name" name="name" error={errors.name} hint={initial ? 'A new version of this workflow' : 'lowercase letters, digits, . _ -'}>
          <input name="name" value={f.name} onChange={set('name')} readOnly={Boolean(initial)} />
        </Field>
        <Field
          label="Backend"
          name="backend"
          error={errors.backend}
          hint={unconfigured ? <span className="warn-text" data-testid="backend-warning">not configured on this server: {backendStatus?.hint}. Runs of this version fail until it is.</span> : runtime ? `${runtime.name} supports ${runtime.backends.join(', ')}` : undefined}
        >
          <select name="backend" value={f.backend} onChange={set('backend')}>
            {BACKENDS.map((b) => (
              <option key={b} value={b}>
                {backendLabel(b, backends.status(b))}
              </option>
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
      {unconfigured && (
        <label className="checkbox warn-text">
          <input type="checkbox" name="force" checked={f.force} onChange={(e) => form.setValues((v) => ({ ...v, force: e.target.checked }))} />
          Save anyway: the {f.backend} backend is not configured on this server, and this version becomes the latest that submits and schedules use
        </label>
      )}
      <div className="form-actions">
        <button className="btn btn-primary" type="submit" disabled={busy || (unconfigured && !f.force)}>
          {busy ? 'Saving…' : unconfigured ? 'Save anyway' : initial ? 'Save new version' : 'Create workflow'}
        </button>
        <button className="btn" type="button" onClick={runPreview}>
          Preview ({f.backend} dry run)
        </button>
      </div>
      {preview && (preview.error ? <ErrorBanner error={preview.error} title="Preview failed" /> : <Code text={stringify(preview.request)} maxHeight={420} />)}
    </form>
  );
}

