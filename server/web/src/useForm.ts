import { useState } from 'react';
import { placeError, type FieldErrors } from './forms';

export interface Form<V> {
  values: V;
  setValues: (update: (v: V) => V) => void;
  /** An onChange handler that stores the input's text under `key`. */
  set: (key: keyof V) => (e: { target: { value: string } }) => void;
  errors: FieldErrors;
  /** Errors found before anything is sent (a JSON field that does not parse). */
  setErrors: (errors: FieldErrors) => void;
  /** An error no field of the form names: shown in the form's banner. */
  general: unknown;
  busy: boolean;
  /** Clears the last errors and runs `action`; an API error lands next to the field it names, or in the banner. */
  run: (action: () => Promise<void>) => Promise<void>;
  /** Places an error without running anything (a preview that failed, say). */
  fail: (error: unknown) => void;
}

/**
 * The state every form of the UI keeps: its values, the API's verdict per field, a banner for the
 * rest, and whether a request is in flight. `fields` are the API field paths the form shows.
 */
export function useForm<V extends Record<string, unknown>>(initial: V | (() => V), fields: string[]): Form<V> {
  const [values, setValues] = useState<V>(initial);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [general, setGeneral] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const fail = (error: unknown) => {
    const placed = placeError(error, fields);
    setErrors(placed.fieldErrors);
    setGeneral(placed.unplaced);
  };
  return {
    values,
    setValues,
    set: (key) => (e) => setValues((v) => ({ ...v, [key]: e.target.value })),
    errors,
    setErrors,
    general,
    busy,
    fail,
    run: async (action) => {
      setErrors({});
      setGeneral(null);
      setBusy(true);
      try {
        await action();
      } catch (error) {
        fail(error);
      } finally {
        setBusy(false);
      }
    },
  };
}
