import { useEffect, useState, type ReactNode } from 'react';
import { ApiError, enc, errorText, get } from '../api';
import { useLoad } from '../hooks';
import { num, plain } from '../format';
import { Link, setSearch, useLocation } from '../router';
import { Card, Empty, ErrorBanner, Loading, Notice, PageHeader, StateBadge } from '../components/ui';
import { isTerminal, type RunState } from '../../../domain/lifecycle.ts';
import { CHART_COLORS, LineChart, type Point, type Scale } from '../components/LineChart';
import { bestValue, formatDirections, joinList, metricDirection, paramRows, parseDirections, splitList, worstValue, type Direction } from '../comparison';
import type { Metric, ModelVersion, Run } from '../types';
import './compare.css';

/** One colour per subject: more would repeat colours and make the charts ambiguous. */
const MAX_SUBJECTS = CHART_COLORS.length;
const LIVE_MS = 3000;

/** A run, or a model version resolved to its run where it has one, as the comparison shows it. */
interface Subject {
  /** The URL item: a run id, or "name@version". */
  ref: string;
  label: string;
  detail: string;
  href: string;
  color: string;
  state: RunState | null;
  params: Record<string, unknown>;
  /** What the run was made of (workflow, model, dataset, backend): compared like parameters. */
  context: Record<string, unknown>;
  finals: Record<string, number>;
  history: Record<string, Point[]>;
  /** Why part of it could not be read (e.g. a version whose run is gone). */
  note: string | null;
}

function historyOf(points: Metric[]): Record<string, Point[]> {
  const out: Record<string, Point[]> = {};
  for (const m of points) (out[m.key] ??= []).push({ step: m.step, value: m.value });
  return out;
}

const contextOf = (run: Run): Record<string, unknown> => ({
  workflow: run.workflow ? `${run.workflow.name}@${run.workflow.version}` : 'inline spec',
  model: `${run.spec.model.name}@${run.spec.model.version}`,
  dataset: `${run.spec.dataset.name}@${run.spec.dataset.version}`,
  runtime: run.spec.runtime.name,
  backend: run.backend,
});

const finalsOf = (run: Run): Record<string, number> => Object.fromEntries(Object.entries(run.latestMetrics ?? {}).map(([k, m]) => [k, m.value]));

async function loadRun(id: string): Promise<{ run: Run; history: Record<string, Point[]> }> {
  const [run, metrics] = await Promise.all([get<Run>(`/runs/${enc(id)}`), get<{ items: Metric[] }>(`/runs/${enc(id)}/metrics`)]);
  return { run, history: historyOf(metrics.items) };
}

async function runSubject(id: string, color: string): Promise<Subject> {
  const { run, history } = await loadRun(id);
  return {
    ref: id,
    label: id,
    detail: run.workflow ? `${run.workflow.name}@${run.workflow.version}` : 'inline spec',
    href: `/runs/${id}`,
    color,
    state: run.state,
    params: run.spec.hyperparameters,
    context: contextOf(run),
    finals: finalsOf(run),
    history,
    note: null,
  };
}

/** "name@3": the version's metric snapshot wins over its run's last values, since that is what was registered. */
async function versionSubject(ref: string, color: string): Promise<Subject> {
  const at = ref.lastIndexOf('@');
  const name = at > 0 ? ref.slice(0, at) : '';
  const version = Number(ref.slice(at + 1));
  if (!name || !Number.isInteger(version) || version < 1) throw new Error(`"${ref}" is not a model version; write it as name@version, e.g. grocery-reorder@2`);
  const mv = await get<ModelVersion>(`/registry/models/${enc(name)}/versions/${version}`);
  const base: Subject = {
    ref,
    label: `${name} v${version}`,
    detail: mv.aliases.length ? mv.aliases.join(', ') : mv.runId ? `run ${mv.runId}` : 'registered without a run',
    href: `/registry/${enc(name)}/versions/${version}`,
    color,
    state: null,
    params: {},
    // griffin.* tags repeat the run's own facts, shown from the run below.
    context: Object.fromEntries(Object.entries(mv.tags).filter(([k]) => !(mv.runId && k.startsWith('griffin.'))).map(([k, v]) => [`tag ${k}`, v])),
    finals: mv.metrics,
    history: {},
    note: mv.runId ? null : 'registered without a run: its metric snapshot only, no curves or parameters',
  };
  if (!mv.runId) return base;
  try {
    const { run, history } = await loadRun(mv.runId);
    return { ...base, state: run.state, params: run.spec.hyperparameters, context: { run: run.id, ...contextOf(run), ...base.context }, finals: { ...finalsOf(run), ...mv.metrics }, history };
  } catch (error) {
    return { ...base, note: `its run ${mv.runId} could not be read (${errorText(error)}): metric snapshot only` };
  }
}

interface Loaded {
  subjects: Subject[];
  failures: { ref: string; message: string }[];
}

/** Each subject loads on its own: one missing run is reported beside the others, not instead of them. */
async function loadSubjects(refs: { kind: 'run' | 'version'; ref: string }[]): Promise<Loaded> {
  const settled = await Promise.allSettled(refs.map((r, i) => (r.kind === 'run' ? runSubject(r.ref, CHART_COLORS[i]) : versionSubject(r.ref, CHART_COLORS[i]))));
  const out: Loaded = { subjects: [], failures: [] };
  settled.forEach((s, i) => {
    if (s.status === 'fulfilled') out.subjects.push(s.value);
    else out.failures.push({ ref: refs[i].ref, message: s.reason instanceof ApiError && s.reason.status === 404 ? `not found (${s.reason.message})` : errorText(s.reason) });
  });
  return out;
}

export function ComparePage() {
  const { search } = useLocation();
  const runRefs = splitList(search.get('runs'));
  const versionRefs = splitList(search.get('versions'));
  const requested = [...runRefs.map((ref) => ({ kind: 'run' as const, ref })), ...versionRefs.map((ref) => ({ kind: 'version' as const, ref }))];
  const refs = requested.slice(0, MAX_SUBJECTS);
  const key = refs.map((r) => `${r.kind}:${r.ref}`).join('|');
  // Runs still training are re-read, so their curves grow as on the run page.
  const [live, setLive] = useState(false);
  const loaded = useLoad(() => loadSubjects(refs), [key], live ? LIVE_MS : null);
  useEffect(() => setLive(Boolean(loaded.data?.subjects.some((s) => s.state && !isTerminal(s.state)))), [loaded.data]);

  const scale: Scale = search.get('scale') === 'log' ? 'log' : 'linear';
  const smoothing = Math.min(Math.max(Number(search.get('smooth')) || 0, 0), 0.95);
  const onlyDiff = search.get('diff') === 'only';
  const chosen = parseDirections(search.get('dir'));

  const byVersions = runRefs.length === 0 && versionRefs.length > 0;
  const models = [...new Set(versionRefs.map((r) => r.slice(0, r.lastIndexOf('@'))).filter(Boolean))];
  const crumbs = byVersions && models.length === 1 ? <><Link to="/registry">Registry</Link> / <Link to={`/registry/${models[0]}`}>{models[0]}</Link></> : <Link to="/runs">Runs</Link>;
  const title = `Compare ${refs.length} ${byVersions ? 'model versions' : 'runs'}`;

  if (requested.length === 0)
    return (
      <div className="page">
        <PageHeader crumbs={<Link to="/runs">Runs</Link>} title="Compare runs" />
        <Empty>
          Nothing to compare yet. Tick two or more runs on the <Link to="/runs">Runs</Link> page, or versions on a registered model's page, and press Compare.
        </Empty>
      </div>
    );

  const remove = (ref: string) => setSearch({ runs: joinList(runRefs.filter((r) => r !== ref)), versions: joinList(versionRefs.filter((r) => r !== ref)) });
  const data = loaded.data;
  return (
    <div className="page compare-page">
      <PageHeader crumbs={crumbs} title={title} subtitle="Parameters side by side, metric curves overlaid, and final values with the best marked. The view is in the URL: share it as it is." />
      {requested.length > MAX_SUBJECTS && (
        <Notice kind="warn">
          Showing the first {MAX_SUBJECTS} of {requested.length}: more lines than colours would make the charts ambiguous.
        </Notice>
      )}
      <ErrorBanner error={loaded.error} title="Could not load the comparison" />
      {data?.failures.map((f) => (
        <div key={f.ref} className="banner banner-error" role="alert" data-failed={f.ref}>
          <strong>{f.ref} is left out</strong>
          <span>{f.message}</span>
        </div>
      ))}
      {!data ? (
        loaded.loading && <Loading what="Loading the runs to compare" />
      ) : data.subjects.length === 0 ? (
        <Empty>None of these could be loaded.</Empty>
      ) : (
        <>
          {data.subjects.length === 1 && <Notice>Only one left to show: add another to compare.</Notice>}
          <SubjectLegend subjects={data.subjects} onRemove={remove} />
          <FinalValues subjects={data.subjects} chosen={chosen} />
          <Curves subjects={data.subjects} scale={scale} smoothing={smoothing} />
          <Parameters subjects={data.subjects} onlyDiff={onlyDiff} />
        </>
      )}
    </div>
  );
}

function SubjectLegend({ subjects, onRemove }: { subjects: Subject[]; onRemove: (ref: string) => void }) {
  return (
    <ul className="compare-subjects" aria-label="compared">
      {subjects.map((s) => (
        <li key={s.ref} data-subject={s.ref}>
          <span className="swatch" style={{ background: s.color }} aria-hidden />
          <Link to={s.href} className="mono strong">
            {s.label}
          </Link>
          <span className="muted small">{s.detail}</span>
          {s.state && <StateBadge state={s.state} />}
          {s.note && <span className="warn small">{s.note}</span>}
          {subjects.length > 1 && (
            <button type="button" className="btn btn-ghost btn-small" onClick={() => onRemove(s.ref)} aria-label={`remove ${s.label}`} title="leave out of the comparison">
              ×
            </button>
          )}
        </li>
      ))}
    </ul>
  );
}

/** A header cell per subject, in its colour. */
function SubjectHeads({ subjects }: { subjects: Subject[] }) {
  return (
    <>
      {subjects.map((s) => (
        <th key={s.ref} className="num subject-head">
          <span className="swatch" style={{ background: s.color }} aria-hidden />
          {s.label}
        </th>
      ))}
    </>
  );
}

function FinalValues({ subjects, chosen }: { subjects: Subject[]; chosen: Record<string, Direction> }) {
  const keys = [...new Set(subjects.flatMap((s) => Object.keys(s.finals)))].sort((a, b) => a.localeCompare(b));
  const flip = (k: string, now: Direction) => setSearch({ dir: formatDirections({ ...chosen, [k]: now === 'min' ? 'max' : 'min' }) });
  return (
    <Card title="Final values" actions={<span className="muted small">best in green, worst in red; click ↑/↓ to say which way is better</span>}>
      {keys.length === 0 ? (
        <Empty>No metrics were reported.</Empty>
      ) : (
        <div className="table-wrap flush">
          <table className="table compare-finals">
            <thead>
              <tr>
                <th>Metric</th>
                <th>Better</th>
                <SubjectHeads subjects={subjects} />
                <th className="range-head">Spread (axis from the smallest to the largest value)</th>
              </tr>
            </thead>
            <tbody>
              {keys.map((k) => {
                const dir = metricDirection(k, chosen);
                const values = subjects.map((s) => s.finals[k]);
                const best = bestValue(values, dir);
                // With two values the other one is simply not the best; "worst" says something from three on.
                const worst = values.filter((v) => typeof v === 'number').length > 2 ? worstValue(values, dir) : undefined;
                return (
                  <tr key={k} data-final={k} data-direction={dir}>
                    <th className="mono">{k}</th>
                    <td>
                      <button type="button" className="btn btn-ghost btn-small direction" onClick={() => flip(k, dir)} title={dir === 'min' ? 'lower is better; click for higher' : 'higher is better; click for lower'}>
                        {dir === 'min' ? '↓ lower' : '↑ higher'}
                      </button>
                    </td>
                    {subjects.map((s, i) => {
                      const v = values[i];
                      const mark = typeof v !== 'number' ? '' : v === best ? 'best' : v === worst ? 'worst' : '';
                      return (
                        <td key={s.ref} className={`num ${mark}`} data-subject={s.ref} data-mark={mark || undefined} title={mark ? `${mark} of ${values.filter((x) => typeof x === 'number').length}` : undefined}>
                          {num(v)}
                          {mark === 'best' && <span className="best-tag"> best</span>}
                          {typeof v === 'number' && best !== undefined && v !== best && <div className="delta">{deltaText(v - best)}</div>}
                        </td>
                      );
                    })}
                    <td className="range-cell">
                      <Spread subjects={subjects} values={values} best={best} />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

/** Three significant digits in plain decimals: a gap of 0.00023 reads as such, not as 2.3e-4. */
const deltaText = (d: number): string => `${d > 0 ? '+' : '−'}${Number(Math.abs(d).toPrecision(3))} vs best`;

/**
 * The values of one metric as dots on an axis that spans only their range, so a difference in the
 * fourth decimal is as visible as one in the first (a bar from 0 would hide it).
 */
function Spread({ subjects, values, best }: { subjects: Subject[]; values: (number | undefined)[]; best: number | undefined }) {
  const nums = values.filter((v): v is number => typeof v === 'number');
  if (nums.length < 2) return <span className="muted small">—</span>;
  const [lo, hi] = [Math.min(...nums), Math.max(...nums)];
  const W = 220;
  const x = (v: number) => (hi === lo ? W / 2 : 10 + ((v - lo) / (hi - lo)) * (W - 20));
  return (
    <svg viewBox={`0 0 ${W} 34`} className="spread" role="img" aria-label={`from ${num(lo)} to ${num(hi)}`}>
      <line x1={10} x2={W - 10} y1={12} y2={12} className="spread-axis" />
      {values.map((v, i) =>
        typeof v === 'number' ? (
          <circle key={subjects[i].ref} cx={x(v)} cy={12} r={v === best ? 6 : 4.5} fill={subjects[i].color} stroke={v === best ? 'var(--ok)' : '#fff'} strokeWidth={v === best ? 2.5 : 1.5}>
            <title>{`${subjects[i].label}: ${num(v)}`}</title>
          </circle>
        ) : null,
      )}
      <text x={10} y={31} className="tick" textAnchor="start">
        {num(lo)}
      </text>
      <text x={W - 10} y={31} className="tick" textAnchor="end">
        {num(hi)}
      </text>
    </svg>
  );
}

function Curves({ subjects, scale, smoothing }: { subjects: Subject[]; scale: Scale; smoothing: number }) {
  // The slider moves freely; the URL follows when it rests (each URL change is a history write).
  const [draft, setDraft] = useState(smoothing);
  useEffect(() => setDraft(smoothing), [smoothing]);
  useEffect(() => {
    if (draft === smoothing) return;
    const t = setTimeout(() => setSearch({ smooth: draft > 0 ? String(draft) : '' }), 250);
    return () => clearTimeout(t);
  }, [draft, smoothing]);

  const keys = [...new Set(subjects.flatMap((s) => Object.keys(s.history)))]
    // A metric reported once (a final score) has no curve; the table shows it.
    .filter((k) => subjects.some((s) => new Set((s.history[k] ?? []).map((p) => p.step)).size > 1))
    .sort((a, b) => a.localeCompare(b));
  const controls: ReactNode = (
    <>
      <span className="segmented" role="group" aria-label="y scale">
        {(['linear', 'log'] as const).map((s) => (
          <button key={s} type="button" className={`btn btn-small${scale === s ? ' active' : ''}`} aria-pressed={scale === s} data-scale={s} onClick={() => setSearch({ scale: s === 'log' ? 'log' : '' })}>
            {s === 'linear' ? 'Linear' : 'Log'}
          </button>
        ))}
      </span>
      <label className="smoothing">
        Smoothing
        <input type="range" name="smoothing" min={0} max={0.95} step={0.05} value={draft} onChange={(e) => setDraft(Number(e.target.value))} />
        <span className="mono">{draft.toFixed(2)}</span>
      </label>
    </>
  );
  return (
    <Card title="Metric curves" actions={controls}>
      {keys.length === 0 ? (
        <Empty>No metric was reported over more than one step, so there are no curves to overlay.</Empty>
      ) : (
        <div className="charts compare-charts">
          {keys.map((k) => (
            <LineChart
              key={k}
              name={k}
              scale={scale}
              smoothing={draft}
              series={subjects.filter((s) => s.history[k]?.length).map((s) => ({ id: s.ref, label: s.label, color: s.color, points: s.history[k] }))}
            />
          ))}
        </div>
      )}
    </Card>
  );
}

function Parameters({ subjects, onlyDiff }: { subjects: Subject[]; onlyDiff: boolean }) {
  const sections = [
    { title: 'Hyperparameters', rows: paramRows(subjects.map((s) => s.params)) },
    { title: 'Made of', rows: paramRows(subjects.map((s) => s.context)) },
  ];
  const differing = sections.reduce((n, s) => n + s.rows.filter((r) => r.differs).length, 0);
  return (
    <Card
      title="Parameters"
      actions={
        <label className="only-diff">
          <input type="checkbox" name="onlyDiff" checked={onlyDiff} onChange={(e) => setSearch({ diff: e.target.checked ? 'only' : '' })} />
          Only differences ({differing})
        </label>
      }
    >
      <div className="table-wrap flush">
        <table className="table compare-params">
          <thead>
            <tr>
              <th>Parameter</th>
              <SubjectHeads subjects={subjects} />
            </tr>
          </thead>
          {sections.map((section) => {
            const rows = onlyDiff ? section.rows.filter((r) => r.differs) : section.rows;
            return (
              <tbody key={section.title}>
                <tr className="section-row">
                  <th colSpan={subjects.length + 1}>{section.title}</th>
                </tr>
                {rows.length === 0 && (
                  <tr>
                    <td colSpan={subjects.length + 1} className="muted">
                      {section.rows.length === 0 ? 'none' : 'all the same'}
                    </td>
                  </tr>
                )}
                {rows.map((r) => (
                  <tr key={r.key} data-param={r.key} data-differs={r.differs} className={r.differs ? 'differs' : undefined}>
                    <th className="mono">
                      {r.differs && <span className="diff-mark" title="the values differ" aria-label="differs">≠ </span>}
                      {r.key}
                    </th>
                    {r.values.map((v, i) => (
                      <td key={subjects[i].ref} className={`mono num${v === undefined ? ' muted' : ''}`}>
                        {v === undefined ? 'not set' : plain(v)}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            );
          })}
        </table>
      </div>
    </Card>
  );
}
