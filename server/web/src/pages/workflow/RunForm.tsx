import { useEffect, useState, type FormEvent } from 'react';
import { enc, get, post } from '../../api';
import { BACKENDS, backendLabel, useBackends } from '../../backends';
import { useLoad } from '../../hooks';
import { plain } from '../../format';
import { compact, numberOrUndefined } from '../../forms';
import { useForm } from '../../useForm';
import { Link, navigate } from '../../router';
import { Card, ErrorBanner, Field, Loading, Notice } from '../../components/ui';
import type { Model, Run, Workflow } from '../../types';

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

const asText = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/**
 * What a run changed from this workflow version, as the form's text fields: "Run again" opens the
 * form with them filled in, so the new run repeats the old one and not the defaults.
 */
function overridesOf(run: Run, workflow: Workflow, defaults: Record<string, unknown>) {
  const hp = Object.fromEntries(Object.entries(run.spec.hyperparameters).filter(([k, v]) => !same(v, defaults[k])).map(([k, v]) => [k, asText(v)]));
  const differs = (ran: unknown, configured: unknown) => (ran !== undefined && !same(ran, configured) ? String(ran) : '');
  const resources = run.spec.resources as Workflow['resources'];
  return {
    hp,
    fields: {
      // A run created through the MLflow API ran on no backend: run it again on the workflow's.
      backend: run.spec.backend === 'external' ? workflow.backend : run.spec.backend,
      datasetVersion: differs(run.spec.dataset.version, Number(workflow.dataset.split('@')[1])),
      timeoutSeconds: differs(run.spec.timeoutSeconds, workflow.timeoutSeconds),
      cpu: differs(resources.cpu, workflow.resources.cpu),
      memoryMb: differs(resources.memoryMb, workflow.resources.memoryMb),
      gpu: differs(resources.gpu, workflow.resources.gpu),
    },
  };
}

/** Starts a run of this version; only the values typed in become overrides. `fromRun` fills in that run's overrides. */
export function RunForm({ workflow, fromRun }: { workflow: Workflow; fromRun?: string }) {
  const [modelName, modelVersion] = workflow.model.split('@');
  const model = useLoad(() => get<Model>(modelVersion ? `/models/${enc(modelName)}/versions/${modelVersion}` : `/models/${enc(modelName)}`), [workflow.model]);
  const source = useLoad(() => (fromRun ? get<Run>(`/runs/${enc(fromRun)}`) : Promise.resolve(undefined)), [fromRun]);
  const backends = useBackends();
  const [hp, setHp] = useState<Record<string, string>>({});
  const [prefilled, setPrefilled] = useState<string | null>(null);
  const props = (model.data?.hyperparameterSchema?.properties ?? {}) as Record<string, SchemaProp>;
  const defaults = { ...(model.data?.defaultHyperparameters ?? {}), ...workflow.hyperparameters };
  const keys = [...new Set([...Object.keys(props), ...Object.keys(defaults), ...Object.keys(hp)])];
  const form = useForm({ backend: workflow.backend, datasetVersion: '', timeoutSeconds: '', cpu: '', memoryMb: '', gpu: '', idempotencyKey: '' }, [...RUN_FIELDS, ...keys.map((k) => `overrides.hyperparameters.${k}`)]);
  const { values: f, set, errors, general, busy } = form;

  useEffect(() => {
    const run = source.data;
    if (!run || model.loading || prefilled === run.id) return;
    const { hp: ranWith, fields } = overridesOf(run, workflow, defaults);
    setHp(ranWith);
    form.setValues((v) => ({ ...v, ...fields }));
    setPrefilled(run.id);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [source.data, model.loading]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
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
    void form.run(async () => {
      const run = await post<Run>('/runs', { workflow: `${workflow.name}@${workflow.version}`, overrides, trigger: 'ui' }, f.idempotencyKey.trim() ? { 'Idempotency-Key': f.idempotencyKey.trim() } : undefined);
      navigate(`/runs/${run.id}`);
    });
  };
  const backendStatus = backends.status(f.backend);

  return (
    <Card title={`Run ${workflow.name}@${workflow.version}`} actions={<span className="muted small">leave a field empty to keep the workflow's value</span>}>
      <form className="form" onSubmit={submit} noValidate data-testid="run-form">
        <ErrorBanner error={model.error} title={`Could not load the model ${workflow.model} (hyperparameter hints are missing)`} />
        <ErrorBanner error={source.error} title={`Could not load run ${fromRun} to repeat its overrides`} />
        {prefilled && (
          <Notice>
            Filled in with what run <Link to={`/runs/${prefilled}`} className="mono">{prefilled}</Link> changed from this version; empty fields keep the workflow's values.
          </Notice>
        )}
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
          <Field
            label="Backend"
            name="overrides.backend"
            error={errors['overrides.backend']}
            hint={backendStatus?.configured === false ? <span className="warn-text" data-testid="backend-warning">not configured on this server: {backendStatus.hint}</span> : undefined}
          >
            <select name="backend" value={f.backend} onChange={set('backend')}>
              {BACKENDS.map((b) => (
                <option key={b} value={b}>
                  {backendLabel(b, backends.status(b))}
                </option>
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
