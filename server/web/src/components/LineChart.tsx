import { useState } from 'react';
import { num } from '../format';

export interface Point {
  step: number;
  value: number;
}

export interface Series {
  /** Stable id (a run id), also the `data-series` of its line. */
  id: string;
  label: string;
  color: string;
  points: Point[];
}

export type Scale = 'linear' | 'log';

/** One colour per series; comparisons use them in order, so a run keeps its colour on every chart. */
export const CHART_COLORS = ['#3b5bdb', '#e8590c', '#2b8a3e', '#ae3ec9', '#0c8599', '#c2255c', '#5c940d', '#1971c2', '#f08c00', '#5f3dc4', '#087f5b', '#862e9c'];

const W = 360;
const H = 170;
const PAD = { left: 46, right: 12, top: 12, bottom: 26 };

function ticks(min: number, max: number, count: number): number[] {
  if (min === max) return [min];
  return Array.from({ length: count }, (_, i) => min + ((max - min) * i) / (count - 1));
}

/**
 * Exponential moving average as TensorBoard and MLflow draw it: weight 0 is the raw line, and the
 * first points are debiased so the smoothed line starts where the data starts, not at 0.
 */
export function smooth(points: Point[], weight: number): Point[] {
  if (weight <= 0) return points;
  let last = 0;
  return points.map((p, i) => {
    last = last * weight + (1 - weight) * p.value;
    return { step: p.step, value: last / (1 - weight ** (i + 1)) };
  });
}

/**
 * The y range of the lines, padded a little and never stretched to 0: two runs at 0.8169 and 0.8181
 * must look different. On a log scale only positive values can be drawn.
 */
function valueRange(values: number[], scale: Scale): [number, number] {
  const shown = scale === 'log' ? values.filter((v) => v > 0).map(Math.log10) : values;
  if (shown.length === 0) return [0, 1];
  let [lo, hi] = [Math.min(...shown), Math.max(...shown)];
  if (lo === hi) {
    const pad = Math.abs(lo) * 0.05 || 1;
    return [lo - pad, hi + pad];
  }
  const pad = (hi - lo) * 0.04;
  return [lo - pad, hi + pad];
}

/**
 * Metric lines over steps as an inline SVG: one series (a run page) or several overlaid (a
 * comparison, with a legend). Hovering shows each series' value at the nearest step.
 */
export function LineChart({
  name,
  points,
  color = 'var(--accent)',
  series: many,
  scale = 'linear',
  smoothing = 0,
}: {
  name: string;
  points?: Point[];
  color?: string;
  series?: Series[];
  scale?: Scale;
  /** EMA weight in [0, 1): 0 draws the raw values. */
  smoothing?: number;
}) {
  const [hoverStep, setHoverStep] = useState<number | null>(null);
  const single = !many;
  const all: Series[] = (many ?? [{ id: name, label: name, color, points: points ?? [] }])
    .map((s) => ({ ...s, points: [...s.points].sort((a, b) => a.step - b.step) }))
    .filter((s) => s.points.length > 0);
  const drawn = all.map((s) => ({ ...s, smoothed: smooth(s.points, smoothing) }));
  const steps = [...new Set(all.flatMap((s) => s.points.map((p) => p.step)))].sort((a, b) => a - b);
  if (steps.length === 0) return null;
  const [x0, x1] = [steps[0], steps[steps.length - 1]];
  // The range covers raw and smoothed values: both lines are drawn.
  const [y0, y1] = valueRange(
    drawn.flatMap((s) => [...s.points, ...s.smoothed].map((p) => p.value)),
    scale,
  );
  const toY = (v: number) => (scale === 'log' ? Math.log10(v) : v);
  const sx = (s: number) => PAD.left + (x1 === x0 ? (W - PAD.left - PAD.right) / 2 : ((s - x0) / (x1 - x0)) * (W - PAD.left - PAD.right));
  const sy = (v: number) => PAD.top + (1 - (toY(v) - y0) / (y1 - y0)) * (H - PAD.top - PAD.bottom);
  const drawable = (p: Point) => scale !== 'log' || p.value > 0;
  const pathOf = (pts: Point[]) =>
    pts
      .filter(drawable)
      .map((p, i) => `${i ? 'L' : 'M'}${sx(p.step).toFixed(1)},${sy(p.value).toFixed(1)}`)
      .join(' ');
  const hidden = scale === 'log' ? all.reduce((n, s) => n + s.points.filter((p) => p.value <= 0).length, 0) : 0;
  const yTicks = ticks(y0, y1, 4).map((t) => (scale === 'log' ? 10 ** t : t));

  const shownStep = hoverStep ?? x1;
  /** A series' value at the step shown, or its last one before it (a shorter run ended earlier). */
  const valueAt = (s: (typeof drawn)[number]) => {
    let i = -1;
    s.points.forEach((p, j) => {
      if (p.step <= shownStep) i = j;
    });
    return i < 0 ? undefined : { step: s.points[i].step, raw: s.points[i].value, smoothed: s.smoothed[i].value };
  };

  const onMove = (e: React.MouseEvent<SVGSVGElement>) => {
    const rect = e.currentTarget.getBoundingClientRect();
    const x = ((e.clientX - rect.left) / rect.width) * W;
    let best = steps[0];
    for (const s of steps) if (Math.abs(sx(s) - x) < Math.abs(sx(best) - x)) best = s;
    setHoverStep(best);
  };

  const first = drawn[0];
  const firstValue = first && valueAt(first);
  return (
    <figure className="chart" data-metric={name} data-scale={scale}>
      <figcaption>
        <span className="chart-name">{name}</span>
        {single && firstValue && (
          <span className="chart-value">
            {num(firstValue.raw)} <span className="muted">@ step {shownStep}</span>
          </span>
        )}
        {!single && <span className="chart-value muted">step {shownStep}</span>}
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${name} over ${steps.length} steps, ${drawn.length} series, ${scale} scale`} onMouseMove={onMove} onMouseLeave={() => setHoverStep(null)}>
        {yTicks.map((t) => (
          <g key={t}>
            <line x1={PAD.left} x2={W - PAD.right} y1={sy(t)} y2={sy(t)} className="grid" />
            <text x={PAD.left - 6} y={sy(t) + 3.5} textAnchor="end" className="tick">
              {num(t, 3)}
            </text>
          </g>
        ))}
        {ticks(x0, x1, Math.min(5, steps.length)).map((t) => (
          <text key={t} x={sx(t)} y={H - 8} textAnchor="middle" className="tick">
            {Math.round(t)}
          </text>
        ))}
        {single && scale === 'linear' && smoothing <= 0 && first && (
          <path d={`${pathOf(first.points)} L${sx(x1).toFixed(1)},${H - PAD.bottom} L${sx(x0).toFixed(1)},${H - PAD.bottom} Z`} fill={first.color} opacity={0.08} />
        )}
        {drawn.map((s) => (
          <g key={s.id}>
            {/* With smoothing the raw values stay visible, faint, under the smoothed line. */}
            {smoothing > 0 && <path d={pathOf(s.points)} fill="none" stroke={s.color} strokeWidth={1} opacity={0.25} className="raw" />}
            <path d={pathOf(s.smoothed)} fill="none" stroke={s.color} strokeWidth={2} strokeLinejoin="round" strokeLinecap="round" className="series" data-series={s.id} />
            {s.points.length <= 60 &&
              smoothing <= 0 &&
              s.points.filter(drawable).map((p) => <circle key={p.step} cx={sx(p.step)} cy={sy(p.value)} r={p.step === hoverStep ? 4.5 : drawn.length > 1 ? 2 : 2.5} fill={s.color} />)}
          </g>
        ))}
        {hoverStep !== null && <line x1={sx(hoverStep)} x2={sx(hoverStep)} y1={PAD.top} y2={H - PAD.bottom} className="cursor" />}
      </svg>
      {hidden > 0 && <div className="muted small">{hidden} value{hidden === 1 ? '' : 's'} ≤ 0 not drawn on the log scale</div>}
      {!single && (
        <ul className="chart-legend">
          {drawn.map((s) => {
            const v = valueAt(s);
            return (
              <li key={s.id} data-legend={s.id}>
                <span className="swatch" style={{ background: s.color }} aria-hidden />
                <span className="legend-label">{s.label}</span>
                <span className="legend-value mono" title={v ? `step ${v.step}` : undefined}>
                  {v ? num(smoothing > 0 ? v.smoothed : v.raw) : '—'}
                  {v && v.step !== shownStep && <span className="muted"> @ {v.step}</span>}
                </span>
              </li>
            );
          })}
        </ul>
      )}
    </figure>
  );
}
