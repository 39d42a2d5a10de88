import { useState, type FormEvent } from 'react';
import { ApiError, del, enc, get, post, put } from '../api';
import { useAuth } from '../auth';
import { useLoad, useNow } from '../hooks';
import { dateTime, plain, relativeTime } from '../format';
import { compact, numberOrUndefined, parseJsonObject } from '../forms';
import { useForm } from '../useForm';
import { Link, navigate } from '../router';
import { Card, Empty, ErrorBanner, Field, KeyValues, Loading, Notice, PageHeader, StateBadge } from '../components/ui';
import { Table } from '../components/Table';
import { latestByName } from './WorkflowsPage';
import type { Page, Schedule, Workflow } from '../types';

const idOf = (s: Schedule) => String(s.id ?? s.name);
/** The API takes a schedule's id or its name; so do the page's links. */
const isNamed = (s: Schedule, ref: string) => s.id === ref || s.name === ref;

/** A fire time as the schedule means it: in its own time zone, named. */
function FireTime({ at, timezone, now }: { at: string; timezone: string; now: number }) {
  return (
    <span title={`${at} (UTC)`}>
      {dateTime(at, timezone)} <span className="muted small when-rel">({relativeTime(at, now)})</span>
    </span>
  );
}

function LastFiring({ s }: { s: Schedule }) {
  const f = s.lastFiring;
  if (!f) return <span className="muted">{s.lastFiring === null ? 'never fired' : '—'}</span>;
  return (
    <span className="last-firing" title={f.reason ?? undefined}>
      {f.runId && f.runState ? <StateBadge state={f.runState} /> : <span className={`chip outcome-${f.outcome}`}>{f.outcome}</span>}{' '}
      {f.runId && (
        <Link to={`/runs/${f.runId}`} className="mono small">
          {f.runId}
        </Link>
      )}
      <div className="muted small">{f.kind} · {dateTime(f.scheduledAt, s.timezone)}</div>
    </span>
  );
}

/** The create body's schema as the service publishes it, for the policy choices and their defaults. */
function useScheduleSchema() {
  return useLoad(async () => {
    const doc = await get<any>('/openapi.json');
    const schema = doc?.paths?.['/api/v1/schedules']?.post?.requestBody?.content?.['application/json']?.schema;
    return (schema?.properties ?? {}) as Record<string, { enum?: string[]; default?: unknown; description?: string }>;
  }, []);
}

export function SchedulesPage({ selected }: { selected?: string }) {
  const { can } = useAuth();
  const now = useNow(5000);
  const schedules = useLoad(() => get<Page<Schedule>>('/schedules?limit=500'), [], 5000);
  const [creating, setCreating] = useState(false);
  const missing = schedules.error instanceof ApiError && schedules.error.status === 404;

  if (missing)
    return (
      <div className="page">
        <PageHeader title="Schedules" />
        <Notice kind="warn">
          <strong>Schedules are not available on this Griffin service.</strong>{' '}
          <span>
            It answered <code>GET /api/v1/schedules</code> with 404 ({(schedules.error as ApiError).message}). A service version with cron schedules lists them here; runs, workflows and
            the registry work without them.
          </span>
        </Notice>
      </div>
    );

  const items = schedules.data?.items ?? [];
  const current = selected ? items.find((s) => isNamed(s, selected)) : undefined;
  return (
    <div className="page">
      <PageHeader
        title="Schedules"
        subtitle="Cron schedules that start workflow runs; with several replicas each firing happens once."
        actions={
          can('editor') &&
          !creating && (
            <button className="btn btn-primary" onClick={() => setCreating(true)}>
              New schedule
            </button>
          )
        }
      />
      {creating && (
        <Card title="New schedule" actions={<button className="btn btn-ghost btn-small" onClick={() => setCreating(false)}>Close</button>}>
          <ScheduleForm
            onSaved={(s) => {
              setCreating(false);
              void schedules.reload();
              navigate(`/schedules/${enc(s.name)}`);
            }}
          />
        </Card>
      )}
      <ErrorBanner error={schedules.error} title="Could not load schedules" />
      {schedules.loading && !schedules.data ? (
        <Loading />
      ) : items.length === 0 ? (
        schedules.data && <Empty>No schedules yet.</Empty>
      ) : (
        <Table
          className="schedules-table"
          rows={items}
          rowKey={idOf}
          rowProps={(s) => ({ className: current && idOf(s) === idOf(current) ? 'selected' : undefined, 'data-schedule': s.name })}
          columns={[
            { key: 'name', header: 'Schedule', className: 'nowrap', cell: (s) => <Link to={`/schedules/${enc(s.name)}`} className="strong">{s.name}</Link> },
            { key: 'state', header: 'State', cell: (s) => <StateBadge state={s.enabled ? 'active' : 'paused'} /> },
            {
              key: 'cron',
              header: 'Cron',
              className: 'nowrap',
              cell: (s) => (
                <>
                  <span className="mono">{s.cron}</span>
                  <div className="muted small">{s.timezone}</div>
                </>
              ),
            },
            { key: 'workflow', header: 'Workflow', className: 'nowrap', cell: (s) => <Link to={`/workflows/${String(s.workflow).split('@')[0]}`} className="mono">{s.workflow}</Link> },
            { key: 'last', header: 'Last run', cell: (s) => <LastFiring s={s} /> },
            {
              key: 'next',
              header: 'Next fire times',
              cell: (s) =>
                s.enabled && s.nextFireTimes?.length ? (
                  <ul className="fire-times">
                    {s.nextFireTimes.slice(0, 3).map((t) => (
                      <li key={t}>
                        <FireTime at={t} timezone={s.timezone} now={now} />
                      </li>
                    ))}
                  </ul>
                ) : (
                  <span className="muted">{s.enabled ? '—' : 'paused'}</span>
                ),
            },
            { key: 'actions', header: '', className: 'right', cell: (s) => <ScheduleActions schedule={s} onDone={schedules.reload} /> },
          ]}
        />
      )}
      {selected && schedules.data && !current && <ErrorBanner error={new Error(`There is no schedule ${selected}.`)} title="Not found" />}
      {current && <ScheduleDetail key={idOf(current)} schedule={current} onChanged={schedules.reload} />}
    </div>
  );
}

function ScheduleActions({ schedule, onDone }: { schedule: Schedule; onDone: () => Promise<void> }) {
  const { can } = useAuth();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [triggered, setTriggered] = useState<string | null>(null);
  if (!can('editor')) return null;
  const act = async (action: 'pause' | 'resume' | 'trigger') => {
    setBusy(true);
    setError(null);
    try {
      const result = await post<Record<string, any>>(`/schedules/${enc(idOf(schedule))}/${action}`, {});
      if (action === 'trigger') setTriggered(result?.run?.id ?? result?.runId ?? result?.firing?.runId ?? `not started: ${result?.firing?.reason ?? result?.firing?.outcome ?? 'see the firings'}`);
      await onDone();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <span className="row-actions">
      {schedule.enabled ? (
        <button className="btn btn-small" disabled={busy} onClick={() => act('pause')}>
          Pause
        </button>
      ) : (
        <button className="btn btn-small" disabled={busy} onClick={() => act('resume')}>
          Resume
        </button>
      )}
      <button className="btn btn-small" disabled={busy} onClick={() => act('trigger')} title="fire once now">
        Run now
      </button>
      {triggered && (triggered.startsWith('not started') ? <span className="small muted">{triggered}</span> : <Link to={`/runs/${triggered}`} className="small mono">{triggered}</Link>)}
      {error ? <ErrorBanner error={error} title="Not done" /> : null}
    </span>
  );
}

function ScheduleDetail({ schedule: s, onChanged }: { schedule: Schedule; onChanged: () => Promise<void> }) {
  const { can } = useAuth();
  const now = useNow(5000);
  const [editing, setEditing] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [deleteError, setDeleteError] = useState<unknown>(null);
  const remove = async () => {
    setDeleteError(null);
    try {
      await del(`/schedules/${enc(idOf(s))}`);
      await onChanged();
      navigate('/schedules');
    } catch (e) {
      setDeleteError(e);
    }
  };
  const firings = useLoad(() => get<Page<Record<string, unknown>>>(`/schedules/${enc(idOf(s))}/firings?limit=50`), [idOf(s)], 5000);
  const rows = firings.data?.items ?? [];
  const present = new Set(rows.flatMap((r) => Object.keys(r)));
  const preferred = FIRING_COLUMNS.filter(([k]) => present.has(k));
  const columns: [string, string][] = preferred.length ? preferred : [...present].filter((k) => !['scheduleId', 'id'].includes(k)).slice(0, 7).map((k) => [k, k]);
  const cell = (k: string, v: unknown) => {
    if (v === null || v === undefined) return <span className="muted">—</span>;
    if (k === 'runId' && typeof v === 'string') return <Link to={`/runs/${v}`} className="mono">{v}</Link>;
    if (typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v)) return <span title={v}>{dateTime(v, s.timezone)}</span>;
    if (k === 'runState' && typeof v === 'string') return <StateBadge state={v} />;
    if (k === 'outcome') return <span className={`chip outcome-${String(v)}`}>{String(v)}</span>;
    return <span className={k === 'reason' ? 'small' : undefined}>{plain(v)}</span>;
  };
  if (editing)
    return (
      <Card title={`Edit schedule ${s.name}`} actions={<button className="btn btn-ghost btn-small" onClick={() => setEditing(false)}>Cancel</button>}>
        <ScheduleForm
          initial={s}
          onSaved={async (saved) => {
            setEditing(false);
            await onChanged();
            navigate(`/schedules/${enc(saved.name)}`, { replace: true });
          }}
        />
      </Card>
    );
  return (
    <div className="schedule-detail">
      <Card
        title={`Schedule ${s.name}`}
        actions={
          can('editor') && (
            <span className="row-actions">
              <button className="btn btn-small" onClick={() => setEditing(true)}>
                Edit
              </button>
              {deleting ? (
                <span className="confirm">
                  <span>Delete it and its firing history? Its runs stay.</span>
                  <button className="btn btn-small btn-danger" onClick={remove}>
                    Yes, delete
                  </button>
                  <button className="btn btn-small btn-ghost" onClick={() => setDeleting(false)}>
                    Keep it
                  </button>
                </span>
              ) : (
                <button className="btn btn-small btn-ghost" onClick={() => setDeleting(true)}>
                  Delete…
                </button>
              )}
            </span>
          )
        }
      >
        <ErrorBanner error={deleteError} title="The schedule was not deleted" />
        <KeyValues
          items={[
            ['State', <StateBadge state={s.enabled ? 'active' : 'paused'} />],
            ...(s.description ? [['Description', String(s.description)] as [string, string]] : []),
            ['Cron', <span className="mono">{s.cron}</span>],
            ['Time zone', <span data-testid="schedule-timezone">{s.timezone} <span className="muted small">(fire times below are in it)</span></span>],
            ['Workflow', <span className="mono">{s.workflow}</span>],
            ['Overrides', <span className="mono break">{JSON.stringify(s.overrides ?? {})}</span>],
            ['Overlap policy', plain(s.overlapPolicy)],
            ['Catch-up policy', plain(s.catchUpPolicy)],
            ['Max concurrent runs', s.maxConcurrentRuns === null ? 'no limit' : plain(s.maxConcurrentRuns)],
            ['Last cron firing', typeof s.lastFiredAt === 'string' ? dateTime(s.lastFiredAt, s.timezone) : 'never'],
          ]}
        />
        <h3>Next fire times</h3>
        {s.enabled && s.nextFireTimes?.length ? (
          <ul className="fire-times">
            {s.nextFireTimes.map((t) => (
              <li key={t}>
                <FireTime at={t} timezone={s.timezone} now={now} />
              </li>
            ))}
          </ul>
        ) : (
          <p className="muted">{s.enabled ? 'None.' : 'Paused: resume it to fire again.'}</p>
        )}
      </Card>
      <Card title="Firings">
        <ErrorBanner error={firings.error} title="Could not load firings" />
        {firings.data && rows.length === 0 && <Empty>It has not fired yet.</Empty>}
        {rows.length > 0 && (
          <Table
            flush
            className="compact firings-table"
            rows={rows}
            rowKey={(r) => String(r.id ?? `${r.scheduledAt}-${r.kind}`)}
            columns={columns.map(([c, label]) => ({ key: c, header: label, className: c === 'reason' ? 'reason' : 'nowrap', cell: (r: Record<string, unknown>) => cell(c, r[c]) }))}
          />
        )}
      </Card>
    </div>
  );
}

const FIRING_COLUMNS: [string, string][] = [
  ['scheduledAt', 'Scheduled for'],
  ['kind', 'Kind'],
  ['outcome', 'Outcome'],
  ['runId', 'Run'],
  ['runState', 'Run state'],
  ['reason', 'Reason'],
];

const SCHEDULE_FIELDS = ['name', 'description', 'cron', 'timezone', 'workflow', 'overrides', 'enabled', 'overlapPolicy', 'catchUpPolicy', 'maxConcurrentRuns'];
const CRON_EXAMPLES = [
  ['0 3 * * *', 'every night at 03:00'],
  ['0 * * * *', 'every hour'],
  ['*/15 * * * *', 'every 15 minutes'],
  ['0 6 * * 1', 'Mondays at 06:00'],
];

/** Creates a schedule, or with `initial` replaces that schedule's definition (PUT). */
function ScheduleForm({ initial, onSaved }: { initial?: Schedule; onSaved: (s: Schedule) => void }) {
  const schema = useScheduleSchema();
  const workflows = useLoad(() => get<Page<Workflow>>('/workflows?limit=500'), []);
  const names = latestByName(workflows.data?.items ?? []).map((w) => w.latest.name);
  const props = schema.data ?? {};
  const form = useForm(
    () => ({
      name: initial?.name ?? '',
      cron: initial?.cron ?? '0 3 * * *',
      timezone: initial?.timezone ?? (Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'),
      workflow: initial?.workflow ?? '',
      overrides: JSON.stringify(initial?.overrides ?? {}, null, initial && Object.keys(initial.overrides ?? {}).length ? 2 : undefined),
      enabled: initial?.enabled ?? true,
      overlapPolicy: initial?.overlapPolicy ?? '',
      catchUpPolicy: initial?.catchUpPolicy ?? '',
      maxConcurrentRuns: initial?.maxConcurrentRuns ? String(initial.maxConcurrentRuns) : '',
      description: initial?.description ?? '',
    }),
    SCHEDULE_FIELDS,
  );
  const { values: f, set, errors, general, busy } = form;

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void form.run(async () => {
      const overrides = parseJsonObject(f.overrides, 'overrides');
      if (overrides.error) return form.setErrors(overrides.error);
      const body = compact({ ...f, overrides: overrides.value, overlapPolicy: f.overlapPolicy || undefined, catchUpPolicy: f.catchUpPolicy || undefined, maxConcurrentRuns: numberOrUndefined(f.maxConcurrentRuns) });
      // A replaced definition says every field: an emptied limit is "no limit", not "keep the old one".
      if (initial) onSaved(await put<Schedule>(`/schedules/${enc(idOf(initial))}`, { ...body, maxConcurrentRuns: body.maxConcurrentRuns ?? null }));
      else onSaved(await post<Schedule>('/schedules', body));
    });
  };

  const policy = (key: 'overlapPolicy' | 'catchUpPolicy', label: string) => (
    <Field label={label} name={key} error={errors[key]} hint={props[key]?.description ?? (props[key]?.default !== undefined ? `default: ${plain(props[key]?.default)}` : undefined)}>
      {props[key]?.enum ? (
        <select name={key} value={f[key]} onChange={set(key)}>
          <option value="">default{props[key]?.default !== undefined ? ` (${plain(props[key]?.default)})` : ''}</option>
          {props[key]!.enum!.map((v) => (
            <option key={v}>{v}</option>
          ))}
        </select>
      ) : (
        <input name={key} value={f[key]} onChange={set(key)} placeholder="default" />
      )}
    </Field>
  );

  return (
    <form className="form" onSubmit={submit} noValidate>
      <div className="form-grid">
        <Field label="Name" name="name" error={errors.name}>
          <input name="name" value={f.name} onChange={set('name')} placeholder="nightly-retrain" />
        </Field>
        <Field label="Workflow" name="workflow" error={errors.workflow} hint="name, or name@version to pin one">
          <input name="workflow" list="schedule-workflows" value={f.workflow} onChange={set('workflow')} />
        </Field>
        <Field label="Cron expression" name="cron" error={errors.cron} hint={CRON_EXAMPLES.find(([c]) => c === f.cron.trim())?.[1] ?? 'minute hour day-of-month month day-of-week'}>
          <input name="cron" className="mono" list="cron-examples" value={f.cron} onChange={set('cron')} />
        </Field>
        <Field label="Time zone" name="timezone" error={errors.timezone}>
          <input name="timezone" value={f.timezone} onChange={set('timezone')} />
        </Field>
        {policy('overlapPolicy', 'When the previous run is still going')}
        {policy('catchUpPolicy', 'Firings missed while the service was down')}
        <Field label="Max concurrent runs" name="maxConcurrentRuns" error={errors.maxConcurrentRuns}>
          <input name="maxConcurrentRuns" type="number" value={f.maxConcurrentRuns} onChange={set('maxConcurrentRuns')} placeholder="default" />
        </Field>
        <Field label="Enabled" name="enabled" error={errors.enabled}>
          <select name="enabled" value={String(f.enabled)} onChange={(e) => form.setValues((v) => ({ ...v, enabled: e.target.value === 'true' }))}>
            <option value="true">yes, fire on schedule</option>
            <option value="false">no, create it paused</option>
          </select>
        </Field>
        <Field label="Run overrides (JSON)" name="overrides" error={errors.overrides} hint='e.g. {"hyperparameters": {"epochs": 20}}' wide>
          <textarea name="overrides" className="mono" rows={3} value={f.overrides} onChange={set('overrides')} />
        </Field>
        <Field label="Description" name="description" error={errors.description} wide>
          <textarea name="description" rows={2} value={f.description} onChange={set('description')} />
        </Field>
      </div>
      <datalist id="schedule-workflows">
        {names.map((n) => (
          <option key={n} value={n} />
        ))}
      </datalist>
      <datalist id="cron-examples">
        {CRON_EXAMPLES.map(([c, d]) => (
          <option key={c} value={c}>
            {d}
          </option>
        ))}
      </datalist>
      <ErrorBanner error={general} title={initial ? 'The schedule was not changed' : 'The schedule was not created'} />
      <div className="form-actions">
        <button className="btn btn-primary" disabled={busy}>
          {busy ? 'Saving…' : initial ? 'Save changes' : 'Create schedule'}
        </button>
      </div>
    </form>
  );
}
