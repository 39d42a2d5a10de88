/*
 * What comparing runs decides, without React: which way a metric is better, which value is best,
 * which parameters differ, how a column sorts. Import-free, so tests/unit can test it as it is.
 */

export type Direction = 'min' | 'max';

/** Metric names whose smaller values are better: losses, errors, distances, perplexity. */
const LOWER_SUBSTRINGS = /loss|error|rmse|mse|mae|mape|perplexity|divergence/i;
/** Whole name parts (split at "_", "-", "." or "/") that mean lower is better. */
const LOWER_TOKENS = new Set(['err', 'nll', 'ppl', 'wer', 'cer', 'latency', 'duration', 'time', 'seconds', 'regret']);

/**
 * Which way a metric is better. Griffin's models and workflows declare no metric direction, so it
 * comes from the name (the convention MLflow and TensorBoard users follow), unless the user chose
 * one for this key (`chosen`).
 */
export function metricDirection(key: string, chosen: Record<string, Direction> = {}): Direction {
  if (chosen[key]) return chosen[key];
  if (LOWER_SUBSTRINGS.test(key)) return 'min';
  return key
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .some((part) => LOWER_TOKENS.has(part))
    ? 'min'
    : 'max';
}

/** The best of the numbers in `values` (others ignored), or undefined when fewer than two can be compared. */
export function bestValue(values: unknown[], direction: Direction): number | undefined {
  const nums = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (nums.length < 2) return undefined;
  return direction === 'min' ? Math.min(...nums) : Math.max(...nums);
}

/** The worst, on the same terms as bestValue; undefined when every value is the same. */
export function worstValue(values: unknown[], direction: Direction): number | undefined {
  const best = bestValue(values, direction);
  if (best === undefined) return undefined;
  const worst = bestValue(values, direction === 'min' ? 'max' : 'min');
  return worst === best ? undefined : worst;
}

/** A value as text with object keys in one order, so {a, b} and {b, a} compare equal; missing is its own value. */
function canonical(value: unknown): string {
  if (value === undefined) return '\u0000missing';
  const keys = new Set<string>();
  const walk = (v: unknown) => {
    if (!v || typeof v !== 'object') return;
    for (const [k, inner] of Object.entries(v)) {
      keys.add(k);
      walk(inner);
    }
  };
  walk(value);
  return JSON.stringify(value, [...keys].sort());
}

export interface ParamRow {
  key: string;
  values: unknown[];
  differs: boolean;
}

/** One row per parameter key of any subject, sorted by key; a row differs when any two values do. */
export function paramRows(params: Array<Record<string, unknown>>): ParamRow[] {
  const keys = [...new Set(params.flatMap((p) => Object.keys(p)))].sort((a, b) => a.localeCompare(b));
  return keys.map((key) => {
    const values = params.map((p) => (Object.prototype.hasOwnProperty.call(p, key) ? p[key] : undefined));
    return { key, values, differs: new Set(values.map(canonical)).size > 1 };
  });
}

/**
 * Order of two cell values for a sortable column: numbers by value, then other values as text
 * (numerically aware, so "run10" follows "run9"). Missing values go last in either direction.
 */
export function compareCells(a: unknown, b: unknown, order: 'asc' | 'desc'): number {
  const missingA = a === undefined || a === null;
  const missingB = b === undefined || b === null;
  if (missingA || missingB) return missingA === missingB ? 0 : missingA ? 1 : -1;
  const sign = order === 'asc' ? 1 : -1;
  const numA = typeof a === 'number' ? a : Number.NaN;
  const numB = typeof b === 'number' ? b : Number.NaN;
  if (!Number.isNaN(numA) && !Number.isNaN(numB)) return sign * (numA - numB);
  // A number sorts before text whatever the direction, as a missing value sorts after both.
  if (!Number.isNaN(numA)) return -1;
  if (!Number.isNaN(numB)) return 1;
  return sign * String(typeof a === 'object' ? JSON.stringify(a) : a).localeCompare(String(typeof b === 'object' ? JSON.stringify(b) : b), undefined, { numeric: true });
}

/** A comma-separated URL value as a list (empty items dropped); the inverse of joinList. */
export const splitList = (value: string | null | undefined): string[] => (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
export const joinList = (items: string[]): string => items.join(',');

/** "val_loss:min,auc:max" (URL) as directions chosen by the user; anything else is ignored. */
export function parseDirections(value: string | null | undefined): Record<string, Direction> {
  const out: Record<string, Direction> = {};
  for (const item of splitList(value)) {
    const at = item.lastIndexOf(':');
    const dir = item.slice(at + 1);
    if (at > 0 && (dir === 'min' || dir === 'max')) out[item.slice(0, at)] = dir;
  }
  return out;
}

export const formatDirections = (chosen: Record<string, Direction>): string =>
  Object.entries(chosen)
    .map(([k, d]) => `${k}:${d}`)
    .join(',');
