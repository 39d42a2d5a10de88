import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { InputError, Unprocessable } from '../errors.ts';

/** The part of a property's schema that templated-string coercion reads. */
interface PropertySchema {
  type?: string;
}
/**
 * A key the model's schema does not declare is almost always a typo (`epoch` for `epochs`) that
 * would otherwise train silently with the default. A schema that declares properties therefore
 * refuses other keys, unless it says `additionalProperties: true` (or gives a schema for them); a
 * model without declared properties accepts anything. `fieldOf` says where each key came from.
 */
export function checkDeclaredKeys(values: Record<string, unknown>, schema: Record<string, unknown>, fieldOf: (key: string) => string, model: string): void {
  const declared = Object.keys((schema.properties ?? {}) as Record<string, unknown>);
  const open = schema.additionalProperties === true || (typeof schema.additionalProperties === 'object' && schema.additionalProperties !== null);
  if (declared.length === 0 || open) return;
  for (const key of Object.keys(values)) {
    if (declared.includes(key)) continue;
    const closest = closestName(key, declared);
    const hint = closest ? `; did you mean "${closest}"?` : '';
    throw new Unprocessable(`"${key}" is not a hyperparameter of model ${model}${hint} (it declares: ${declared.join(', ')})`, fieldOf(key));
  }
}

/** The declared name nearest to `name` by edit distance, if it is near enough to be a likely typo. */
export function closestName(name: string, candidates: string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (!best || distance < best.distance) best = { name: candidate, distance };
  }
  if (!best) return undefined;
  return best.distance <= Math.max(2, Math.floor(Math.max(name.length, best.name.length) / 3)) ? best.name : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

const ajv = new Ajv({ strict: false, allErrors: false, validateFormats: false });
const compiled = new Map<string, ValidateFunction | null>();

/** The schema compiled once per distinct text; null when it is not a JSON Schema ajv can compile. */
function validatorFor(schema: Record<string, unknown>): ValidateFunction | null {
  const key = JSON.stringify(schema);
  if (!compiled.has(key)) {
    let validate: ValidateFunction | null;
    try {
      validate = ajv.compile(schema);
    } catch {
      validate = null;
    }
    if (compiled.size > 1000) compiled.clear();
    compiled.set(key, validate);
  }
  return compiled.get(key)!;
}

/** Why a model's hyperparameter schema is not one (JSON Schema, draft-07), for a 400 at definition time. */
export function hyperparameterSchemaProblem(schema: Record<string, unknown>): string | undefined {
  try {
    ajv.compile(schema);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

const TYPE_WORDS: Record<string, string> = {
  integer: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  array: 'an array',
  object: 'an object',
  null: 'null',
};

/** ajv's first complaint in the words Griffin uses, naming the key it is about. */
function describe(error: ErrorObject, values: Record<string, unknown>, fieldPrefix: string): InputError {
  const path = error.instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'additionalProperties' && path.length === 0) {
    const field = `${fieldPrefix}.${String(params.additionalProperty)}`;
    return new InputError(`${field} is not a hyperparameter of this model`, field);
  }
  if (error.keyword === 'required' && path.length === 0) {
    const field = `${fieldPrefix}.${String(params.missingProperty)}`;
    return new InputError(`${field} is required by this model and has no default`, field);
  }
  const field = [fieldPrefix, ...path].join('.');
  const value = path.reduce<unknown>((at, key) => (at as Record<string, unknown> | undefined)?.[key], values);
  let what = error.message ?? 'is not valid';
  if (error.keyword === 'type') {
    const types = ([] as string[]).concat(params.type as string | string[]);
    what = `must be ${types.map((t) => TYPE_WORDS[t] ?? t).join(' or ')}`;
  } else if (error.keyword === 'enum') {
    what = `must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
  }
  return new InputError(`${field} ${what} (got ${JSON.stringify(value)})`, field);
}

/**
 * Checks hyperparameters against the model's JSON Schema (with ajv: types, bounds, enums, items,
 * required, additionalProperties: false, ...). The error names the offending key. A schema that
 * does not compile (stored before schemas were checked when a model is defined) constrains nothing.
 */
export function checkHyperparameters(values: Record<string, unknown>, schema: Record<string, unknown>, fieldPrefix: string): void {
  const validate = validatorFor(schema);
  if (!validate || validate(values)) return;
  throw describe(validate.errors![0], values, fieldPrefix);
}

const NUMBER_LITERAL = /^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;

/**
 * Templated values arrive as strings (an Airflow DAG renders "{{ params.lr }}" to "0.1"): where the
 * model declares a number, integer or boolean, such a string is read as that type. Anything else
 * is left alone for checkHyperparameters to judge.
 */
export function coerceHyperparameters(values: Record<string, unknown>, schema: Record<string, unknown>): Record<string, unknown> {
  const properties = (schema.properties ?? {}) as Record<string, PropertySchema>;
  const out: Record<string, unknown> = { ...values };
  for (const [key, value] of Object.entries(values)) {
    const type = properties[key]?.type;
    if (typeof value !== 'string') continue;
    if ((type === 'number' || type === 'integer') && NUMBER_LITERAL.test(value)) out[key] = Number(value);
    else if (type === 'boolean' && /^(true|false)$/i.test(value.trim())) out[key] = value.trim().toLowerCase() === 'true';
  }
  return out;
}
