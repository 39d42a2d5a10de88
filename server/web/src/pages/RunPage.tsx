import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { ApiError, enc, get, post } from '../api';
import { ArtifactList } from '../components/ArtifactList';
import { useAuth } from '../auth';
import { useLoad, useNow } from '../hooks';
import { dateTime, duration, num, plain, relativeTime, runDuration } from '../format';
import { Link } from '../router';
import { Card, Empty, ErrorBanner, KeyValues, Loading, PageHeader, ParamsTable, StateBadge } from '../components/ui';
import { CHART_COLORS, LineChart } from '../components/LineChart';
import { TimeContextLine } from '../components/TimeContext';
import { LineageChain } from '../components/Lineage';
import { BackendRef } from '../components/BackendRef';
import { RunUsage } from '../components/RunUsage';
import type { Artifact, Metric, Run } from '../types';

const RUN_POLL_MS = 1500;
const LOG_POLL_MS = 1000;
const LOG_KEEP_CHARS = 2_000_000;

export function RunPage({ id }: { id: string }) {
  const run = useLoad(() => get<Run>(`/runs/${enc(id)}`), [id]);
  const active = run.data ? !run.data.terminal : true;
  useLoadInterval(run.reload, run.data && !run.data.terminal ? RUN_POLL_MS : null);
  const metrics = useLoad(() => get<{ items: Metric[] }>(`/runs/${enc(id)}/metrics`), [id], active ? 2000 : null);
  const artifacts = useLoad(() => get<{ items: Artifact[] }>(`/runs/${enc(id)}/artifacts`), [id], active ? 3000 : null);
  const now = useNow();

  // When the run ends, read its final metrics and artifacts once more.
  const terminal = run.data?.terminal;
  useEffect(() => {
    if (terminal) {
      void metrics.reload();
      void artifacts.reload();
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [terminal]);

  if (run.error && !run.data) {
    const notFound = run.error instanceof ApiError && run.error.status === 404;
    return (
      <div className="page">
        <PageHeader title={`Run ${id}`} crumbs={<Link to="/runs">Runs</Link>} />
        <ErrorBanner error={run.error} title={notFound ? 'No such run' : 'Could not load the run'} />
      </div>
    );
  }
  if (!run.data) return <Loading what="Loading the run" />;
  const r = run.data;

  return (
    <div className="page run-page" data-run={r.id}>
      <PageHeader
        crumbs={<Link to="/runs">Runs</Link>}
        title={
          <>
            Run <span className="mono">{r.id}</span> <StateBadge state={r.state} />
          </>
        }
        subtitle={
          <>
            {r.workflow ? <Link to={`/workflows/${r.workflow.name}`}>{`${r.workflow.name}@${r.workflow.version}`}</Link> : 'inline spec'} · started by <strong>{r.trigger}</strong> · on <strong>{r.backend}</strong> · created <time title={dateTime(r.createdAt)}>{relativeTime(r.createdAt, now)}</time>
          </>
        }
        actions={<RunActions run={r} onChanged={run.reload} />}
      />
      <ErrorBanner error={run.error} title="Lost contact while refreshing (showing the last known state)" />
      {r.reason && r.state !== 'succeeded' && (
        <div className={`banner ${r.state === 'failed' ? 'banner-error' : 'banner-warn'}`} role="status" data-testid="run-reason">
          <strong>{r.state === 'failed' ? 'Why it failed' : r.state === 'cancelled' ? 'Cancelled' : r.state === 'queued' ? 'Waiting' : 'Note'}</strong>
          <span>{r.state === 'cancelled' ? r.reason.replace(/^cancelled:\s*/i, '') : r.reason}</span>
        </div>
      )}
      <div className="stats">
        <Stat label="State" value={<StateBadge state={r.state} />} />
        <Stat label="Duration" value={runDuration(r, now)} hint={r.startedAt ? `started ${dateTime(r.startedAt)}` : 'not started'} />
        <Stat
          label="Attempt"
          value={<span data-testid="run-attempt">{r.maxAttempts > 1 ? `${r.attempt} of ${r.maxAttempts}` : r.attempt}</span>}
          hint={r.state === 'queued' && r.notBefore && r.attempt > 1 ? `retrying, not before ${dateTime(r.notBefore)}` : r.deadlineAt ? `deadline ${dateTime(r.deadlineAt)}` : undefined}
        />
        <Stat label="Queue" value={<span data-testid="run-queue">{r.queue}</span>} hint={`priority ${r.priority}`} />
        <Stat
          label="Model version"
          value={r.modelVersion ? <Link to={`/registry/${r.modelVersion.name}/versions/${r.modelVersion.version}`} data-testid="model-version-link">{`${r.modelVersion.name} v${r.modelVersion.version}`}</Link> : <span className="muted">—</span>}
          hint={r.modelVersion ? 'registered from this run' : r.spec.register ? (r.terminal ? 'none registered' : `registers ${r.spec.register.modelName} on success`) : 'this workflow registers nothing'}
        />
      </div>
      <div className="run-grid">
        <div className="run-main">
          <MetricsCard run={r} metrics={metrics.data?.items} error={metrics.error} />
          <LogsCard runId={r.id} runTerminal={r.terminal} />
          <Card title="Artifacts">
            <ArtifactList runId={r.id} items={artifacts.data?.items} error={artifacts.error} empty={r.terminal ? 'This run uploaded no artifacts.' : 'None yet.'} />
          </Card>
        </div>
        <div className="run-side">
          <Card title="Timeline">
            <Timeline run={r} now={now} />
          </Card>
          <Card title="Parameters">
            <Parameters run={r} />
          </Card>
          <Card title="Lineage">
            <LineageChain
              nodes={[
                ...(inputModelOf(r)
                  ? [{ kind: 'Input model', label: `${inputModelOf(r)!.name} v${inputModelOf(r)!.version}`, to: `/registry/${inputModelOf(r)!.name}/versions/${inputModelOf(r)!.version}`, detail: inputModelOf(r)!.alias ? `alias ${inputModelOf(r)!.alias} at submission` : 'asked for by version' }]
                  : []),
                { kind: 'Dataset', label: `${r.spec.dataset.name}@${r.spec.dataset.version}`, to: `/catalog/datasets/${r.spec.dataset.name}`, detail: `${r.spec.dataset.features.length} features` },
                { kind: 'Model', label: `${r.spec.model.name}@${r.spec.model.version}`, to: `/catalog/models/${r.spec.model.name}`, detail: r.spec.model.framework },
                r.workflow ? { kind: 'Workflow', label: `${r.workflow.name}@${r.workflow.version}`, to: `/workflows/${r.workflow.name}` } : { kind: 'Workflow', label: 'inline spec' },
                { kind: 'Run', label: r.id, detail: r.state },
                r.modelVersion
                  ? { kind: 'Model version', label: `${r.modelVersion.name} v${r.modelVersion.version}`, to: `/registry/${r.modelVersion.name}/versions/${r.modelVersion.version}` }
                  : { kind: 'Model version', label: <span className="muted">{!r.spec.register ? 'none' : r.terminal ? 'none (the run did not succeed)' : `${r.spec.register.modelName} (after success)`}</span> },
              ]}
            />
          </Card>
          {workersOf(r) && (
            <Card title="Workers">
              <Workers workers={workersOf(r)!} terminal={r.terminal} />
            </Card>
          )}
          <Card title="Usage">
            <RunUsage runId={r.id} active={!r.terminal} />
          </Card>
          <Card title={`Backend: ${r.backend}`}>
            <BackendRef backend={r.backend} refValue={r.backendRef} />
          </Card>
          {(r.airflow || r.schedule || r.timeContext) && (
            <Card title="Started by">
              {(r.airflow || r.schedule) && <Origin run={r} />}
              {r.timeContext && <TimeContextLine context={r.timeContext} />}
            </Card>
          )}
        </div>
      </div>
    </div>
  );
}

/** The workers of a distributed run, as the server records them in backendRef.workers (Ray's state API, or KubeRay's replicas). */
interface RunWorkers {
  source: 'ray-state-api' | 'kuberay';
  count: number;
  desired?: number;
  states: Record<string, number>;
  items?: Array<{ id: string; state: string; pid?: number }>;
}

const workersOf = (r: Run): RunWorkers | undefined => {
  const w = r.backendRef?.workers as RunWorkers | undefined;
  return w && typeof w.count === 'number' ? w : undefined;
};

const inputModelOf = (r: Run) => (r as Run & { inputModel?: { name: string; version: number; alias: string | null } | null }).inputModel ?? undefined;

function Workers({ workers, terminal }: { workers: RunWorkers; terminal: boolean }) {
  const states = Object.entries(workers.states);
  return (
    <div data-testid="run-workers">
      <p>
        <strong data-testid="run-workers-count">{workers.count}</strong> {workers.source === 'kuberay' ? 'worker pods' : 'Ray Train workers'}
        {states.length > 0 && <> — {states.map(([state, n]) => `${n} ${state.toLowerCase()}`).join(', ')}</>}
        {terminal && <span className="muted"> (as last seen)</span>}
      </p>
      {workers.items && workers.items.length > 0 && (
        <table className="table compact">
          <thead>
            <tr>
              <th>Actor</th>
              <th>State</th>
              <th>PID</th>
            </tr>
          </thead>
          <tbody>
            {workers.items.map((w) => (
              <tr key={w.id} data-testid="run-worker">
                <td><code>{w.id.slice(0, 12)}</code></td>
                <td>{w.state}</td>
                <td>{w.pid ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function useLoadInterval(fn: () => Promise<void>, ms: number | null) {
  useEffect(() => {
    if (ms === null) return;
    const t = setInterval(() => {
      if (document.visibilityState === 'visible') void fn();
    }, ms);
    return () => clearInterval(t);
  }, [fn, ms]);
}

function Stat({ label, value, hint }: { label: string; value: React.ReactNode; hint?: string }) {
  return (
    <div className="stat">
      <div className="stat-label">{label}</div>
      <div className="stat-value">{value}</div>
      {hint && <div className="stat-hint">{hint}</div>}
    </div>
  );
}

function RunActions({ run, onChanged }: { run: Run; onChanged: () => Promise<void> }) {
  const { can, me } = useAuth();
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const cancel = async () => {
    setBusy(true);
    setError(null);
    try {
      await post(`/runs/${enc(run.id)}/cancel`, { reason: `from the web UI by ${me.name}` });
      await onChanged();
      setConfirming(false);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      {run.workflow && can('editor') && (
        <Link className="btn" to={`/workflows/${run.workflow.name}?tab=run&version=${run.workflow.version}&from=${run.id}`} data-testid="run-again">
          Run again
        </Link>
      )}
      {!run.terminal && run.state !== 'cancelling' && can('editor') && (
        confirming ? (
          <span className="confirm">
            <span>Cancel this run?</span>
            <button className="btn btn-danger" onClick={cancel} disabled={busy}>
              {busy ? 'Cancelling…' : 'Yes, cancel it'}
            </button>
            <button className="btn btn-ghost" onClick={() => setConfirming(false)} disabled={busy}>
              Keep running
            </button>
          </span>
        ) : (
          <button className="btn btn-danger-outline" onClick={() => setConfirming(true)}>
            Cancel run
          </button>
        )
      )}
      {error ? <ErrorBanner error={error} title="Cancel failed" /> : null}
    </>
  );
}

function Timeline({ run, now }: { run: Run; now: number }) {
  const events = run.events ?? [];
  return (
    <ol className="timeline">
      {events.map((e, i) => {
        const next = events[i + 1];
        const spent = (next ? Date.parse(next.at) : run.terminal ? NaN : now) - Date.parse(e.at);
        return (
          <li key={i} className={`tl-item state-${e.to}`}>
            <span className="tl-dot" aria-hidden />
            <div className="tl-body">
              <div className="tl-head">
                <StateBadge state={e.to} />
                <time title={e.at}>{dateTime(e.at)}</time>
              </div>
              {e.reason && <div className="tl-reason">{e.reason}</div>}
              {Number.isFinite(spent) && <div className="tl-spent">{next ? `${duration(spent)} in ${e.to}` : `${duration(spent)} so far`}</div>}
            </div>
          </li>
        );
      })}
    </ol>
  );
}

/** The run's retry policy in words: "none", or "up to 3 attempts, on infrastructure failures, 10 s backoff". */
function retries(run: Run): string {
  const { maxAttempts = 1, retryOn = 'infrastructure', retryBackoffSeconds = 10 } = run.spec;
  if (maxAttempts <= 1) return 'none (1 attempt)';
  return `up to ${maxAttempts} attempts, on ${retryOn === 'any' ? 'any failure' : 'infrastructure failures'}, ${retryBackoffSeconds} s backoff (doubling)`;
}

function Parameters({ run }: { run: Run }) {
  const hp = Object.entries(run.spec.hyperparameters);
  const res = run.spec.resources;
  return (
    <>
      <ParamsTable entries={hp} />
      <KeyValues
        items={[
          ['Entrypoint', <span className="mono">{run.spec.entrypoint}</span>],
          ['Runtime', `${run.spec.runtime.name}${run.spec.runtime.image ? ` (${run.spec.runtime.image})` : ''}`],
          ['Resources', Object.keys(res).length ? Object.entries(res).map(([k, v]) => `${k} ${plain(v)}`).join(', ') : 'defaults'],
          ['Timeout', duration(run.spec.timeoutSeconds * 1000)],
          ['Retries', retries(run)],
          ['Idempotency key', run.idempotencyKey ? <span className="mono break">{run.idempotencyKey}</span> : '—'],
        ]}
      />
    </>
  );
}

function Origin({ run }: { run: Run }) {
  if (run.airflow) {
    const a = run.airflow;
    return (
      <>
        <KeyValues
          items={[
            ['DAG', <span className="mono">{plain(a.dagId)}</span>],
            ['DAG run', <span className="mono break">{plain(a.dagRunId)}</span>],
            ['Task', <span className="mono">{plain(a.taskId)}</span>],
            ['Try', plain(a.tryNumber)],
            ...(Number(a.mapIndex ?? -1) >= 0 ? [['Map index', plain(a.mapIndex)] as [string, string]] : []),
          ]}
        />
        {run.airflowUrl ? (
          <a className="btn btn-small" href={run.airflowUrl} target="_blank" rel="noreferrer" data-testid="airflow-link">
            Open the Airflow task ↗
          </a>
        ) : (
          <p className="muted small">Set GRIFFIN_AIRFLOW_BASE_URL on the service to link to the Airflow task.</p>
        )}
      </>
    );
  }
  const s = run.schedule ?? {};
  const sid = s.id ?? s.scheduleId;
  return (
    <KeyValues
      items={[
        ['Schedule', sid ? <Link to={`/schedules/${enc(String(sid))}`}>{plain(s.name ?? sid)}</Link> : plain(s.name)],
        ...Object.entries(s)
          .filter(([k]) => !['id', 'scheduleId', 'name'].includes(k))
          .map(([k, v]) => [k, plain(v)] as [string, string]),
      ]}
    />
  );
}

function MetricsCard({ run, metrics, error }: { run: Run; metrics?: Metric[]; error: unknown }) {
  const series = new Map<string, { step: number; value: number }[]>();
  for (const m of metrics ?? []) {
    if (!series.has(m.key)) series.set(m.key, []);
    series.get(m.key)!.push({ step: m.step, value: m.value });
  }
  const charted = [...series.entries()].filter(([, pts]) => new Set(pts.map((p) => p.step)).size > 1).sort(([a], [b]) => a.localeCompare(b));
  const latest = Object.entries(run.latestMetrics ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return (
    <Card title="Metrics" actions={!run.terminal ? <span className="live"><span className="live-dot" /> live</span> : undefined}>
      {error && !metrics ? <ErrorBanner error={error} title="Could not load metrics" /> : null}
      {latest.length > 0 && (
        <div className="metric-tiles">
          {latest.map(([k, m]) => (
            <div key={k} className="metric-tile" data-metric-tile={k}>
              <span className="metric-key">{k}</span>
              <span className="metric-value">{num(m.value)}</span>
              <span className="muted small">step {m.step}</span>
            </div>
          ))}
        </div>
      )}
      {charted.length > 0 ? (
        <div className="charts">
          {charted.map(([k, pts], i) => (
            <LineChart key={k} name={k} points={pts} color={CHART_COLORS[i % CHART_COLORS.length]} />
          ))}
        </div>
      ) : (
        latest.length === 0 && <Empty>{run.terminal ? 'This run reported no metrics.' : 'Metrics appear here as the training process reports them.'}</Empty>
      )}
    </Card>
  );
}

function LogsCard({ runId, runTerminal }: { runId: string; runTerminal: boolean }) {
  const [text, setText] = useState('');
  const [complete, setComplete] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [follow, setFollow] = useState(true);
  const pre = useRef<HTMLPreElement>(null);
  const terminalRef = useRef(runTerminal);
  terminalRef.current = runTerminal;

  // Incremental reads from a byte cursor: drain what is there, then poll while the run is active.
  useEffect(() => {
    let stopped = false;
    let cursor = 0;
    setText('');
    setComplete(false);
    const loop = async () => {
      while (!stopped) {
        try {
          const chunk = await get<{ text: string; nextCursor: number; complete: boolean }>(`/runs/${enc(runId)}/logs?cursor=${cursor}`);
          if (stopped) return;
          setError(null);
          cursor = chunk.nextCursor;
          if (chunk.text) setText((t) => (t + chunk.text).slice(-LOG_KEEP_CHARS));
          if (chunk.complete) {
            setComplete(true);
            return;
          }
          if (chunk.text) continue;
        } catch (e) {
          if (stopped) return;
          setError(e);
        }
        await new Promise((r) => setTimeout(r, LOG_POLL_MS));
      }
    };
    void loop();
    return () => {
      stopped = true;
    };
  }, [runId]);

  useLayoutEffect(() => {
    if (follow && pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [text, follow]);

  const onScroll = () => {
    const el = pre.current;
    if (el) setFollow(el.scrollHeight - el.scrollTop - el.clientHeight < 24);
  };

  return (
    <Card
      title="Logs"
      actions={
        <>
          {complete ? <span className="muted small">complete</span> : <span className="live"><span className="live-dot" /> streaming</span>}
          {!follow && (
            <button className="btn btn-small btn-ghost" onClick={() => setFollow(true)}>
              Follow
            </button>
          )}
        </>
      }
    >
      {error ? <ErrorBanner error={error} title="Could not read the log (retrying)" /> : null}
      <pre className="logs" ref={pre} onScroll={onScroll} data-testid="run-logs">
        {text || (complete ? 'The run wrote no output.' : 'Waiting for output…')}
      </pre>
    </Card>
  );
}
