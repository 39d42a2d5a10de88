import { ApiError, fieldMessage } from './api';

export type FieldErrors = Record<string, string>;

/**
 * Places an API error next to the form field it names: the field itself, or the nearest
 * enclosing one ("resources.cpu" inside "resources", "hyperparameters.lr" inside "hyperparameters").
 * Returns the errors by field, and the error itself when no field of this form fits.
 */
export function placeError(error: unknown, fields: string[]): { fieldErrors: FieldErrors; unplaced: unknown } {
  if (!(error instanceof ApiError) || !error.field) return { fieldErrors: {}, unplaced: error };
  const candidates = fields.filter((f) => error.field === f || error.field!.startsWith(`${f}.`)).sort((a, b) => b.length - a.length);
  if (!candidates.length) return { fieldErrors: {}, unplaced: error };
  const f = candidates[0];
  const message = fieldMessage(error);
  // Next to "hyperparameters", an error about "hyperparameters.epochs" says "epochs: ...", once.
  return { fieldErrors: { [f]: f === error.field ? message : `${error.field.slice(f.length + 1)}: ${message}` }, unplaced: null };
}

/** A number input's value: empty is "not given"; anything else is sent as typed so the API judges it. */
export function numberOrUndefined(text: string): number | string | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : t;
}

export function parseJsonObject(text: string, field: string): { value?: Record<string, unknown>; error?: FieldErrors } {
  const t = text.trim();
  if (!t) return { value: {} };
  try {
    const v = JSON.parse(t);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return { error: { [field]: 'must be a JSON object, e.g. {"lr": 0.1}' } };
    return { value: v };
  } catch (e) {
    return { error: { [field]: `is not valid JSON: ${e instanceof Error ? e.message : e}` } };
  }
}

export function compact<T extends Record<string, unknown>>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined && v !== '')) as Partial<T>;
}

export const splitList = (text: string): string[] =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
