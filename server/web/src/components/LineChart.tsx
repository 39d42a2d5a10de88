import { useState } from 'react';
import { num } from '../format';

export interface Point {
  step: number;
  value: number;
}

const W = 360;
const H = 170;
const PAD = { left: 46, right: 12, top: 12, bottom: 26 };

function ticks(min: number, max: number, count: number): number[] {
  if (min === max) return [min];
  return Array.from({ length: count }, (_, i) => min + ((max - min) * i) / (count - 1));
}

/** One metric over steps as an inline SVG line; hovering shows the nearest point. */
export function LineChart({ name, points, color = 'var(--accent)' }: { name: string; points: Point[]; color?: string }) {
  const [hover, setHover] = useState<number | null>(null);
  const sorted = [...points].sort((a, b) => a.step - b.step);
  const steps = sorted.map((p) => p.step);
  const values = sorted.map((p) => p.value);
  const [x0, x1] = [Math.min(...steps), Math.max(...steps)];
  let [y0, y1] = [Math.min(...values), Math.max(...values)];
  if (y0 === y1) {
    y0 -= Math.abs(y0) * 0.05 || 1;
    y1 += Math.abs(y1) * 0.05 || 1;
  }
  const sx = (s: number) => PAD.left + (x1 === x0 ? (W - PAD.left - PAD.right) / 2 : ((s - x0) / (x1 - x0)) * (W - PAD.left - PAD.right));
  const sy = (v: number) => PAD.top + (1 - (v - y0) / (y1 - y0)) * (H - PAD.top - PAD.bottom);
  const path = sorted.map((p, i) => `${i ? 'L' : 'M'}${sx(p.step).toFixed(1)},${sy(p.value).toFixed(1)}`).join(' ');
  const area = `${path} L${sx(x1).toFixed(1)},${H - PAD.bottom} L${sx(x0).toFixed(1)},${H - PAD.bottom} Z`;
  const last = sorted[sorted.length - 1];
  const shown = hover !== null ? sorted[hover] : last;

  const onMove = (e: React.MouseEvent<SVGSVGElement>) => {
    const rect = e.currentTarget.getBoundingClientRect();
    const x = ((e.clientX - rect.left) / rect.width) * W;
    let best = 0;
    sorted.forEach((p, i) => {
      if (Math.abs(sx(p.step) - x) < Math.abs(sx(sorted[best].step) - x)) best = i;
    });
    setHover(best);
  };

  return (
    <figure className="chart" data-metric={name}>
      <figcaption>
        <span className="chart-name">{name}</span>
        <span className="chart-value">
          {num(shown.value)} <span className="muted">@ step {shown.step}</span>
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${name} over ${sorted.length} steps`} onMouseMove={onMove} onMouseLeave={() => setHover(null)}>
        {ticks(y0, y1, 4).map((t) => (
          <g key={t}>
            <line x1={PAD.left} x2={W - PAD.right} y1={sy(t)} y2={sy(t)} className="grid" />
            <text x={PAD.left - 6} y={sy(t) + 3.5} textAnchor="end" className="tick">
              {num(t, 3)}
            </text>
          </g>
        ))}
        {ticks(x0, x1, Math.min(5, new Set(steps).size)).map((t) => (
          <text key={t} x={sx(t)} y={H - 8} textAnchor="middle" className="tick">
            {Math.round(t)}
          </text>
        ))}
        <path d={area} fill={color} opacity={0.08} />
        <path d={path} fill="none" stroke={color} strokeWidth={2} strokeLinejoin="round" strokeLinecap="round" />
        {sorted.length <= 60 && sorted.map((p, i) => <circle key={i} cx={sx(p.step)} cy={sy(p.value)} r={i === hover ? 4.5 : 2.5} fill={color} />)}
        {hover !== null && <line x1={sx(sorted[hover].step)} x2={sx(sorted[hover].step)} y1={PAD.top} y2={H - PAD.bottom} className="cursor" />}
      </svg>
    </figure>
  );
}

/** Bars of one metric across model versions (registry comparison). */
export function Bars({ items, best }: { items: { label: string; value: number | undefined }[]; best?: 'max' | 'min' }) {
  const values = items.map((i) => i.value).filter((v): v is number => typeof v === 'number');
  const max = Math.max(...values.map(Math.abs), 1e-12);
  const bestValue = best === 'min' ? Math.min(...values) : Math.max(...values);
  return (
    <div className="bars">
      {items.map((i) => (
        <div key={i.label} className="bar-row">
          <span className="bar-label">{i.label}</span>
          <span className="bar-track">
            {typeof i.value === 'number' && <span className={`bar-fill${i.value === bestValue && values.length > 1 ? ' best' : ''}`} style={{ width: `${(Math.abs(i.value) / max) * 100}%` }} />}
          </span>
          <span className="bar-value">{num(i.value)}</span>
        </div>
      ))}
    </div>
  );
}
