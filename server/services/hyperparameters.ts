import { InputError, Unprocessable } from '../errors.ts';

interface PropertySchema {
  type?: 'number' | 'integer' | 'string' | 'boolean' | 'array' | 'object';
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  enum?: unknown[];
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

/**
 * Checks hyperparameters against the subset of JSON Schema that model authors use for them
 * (type, bounds, enum, additionalProperties: false). The error names the offending key.
 */
export function checkHyperparameters(values: Record<string, unknown>, schema: Record<string, unknown>, fieldPrefix: string): void {
  const properties = (schema.properties ?? {}) as Record<string, PropertySchema>;
  for (const [key, value] of Object.entries(values)) {
    const field = `${fieldPrefix}.${key}`;
    const rule = properties[key];
    if (!rule) {
      if (schema.additionalProperties === false) throw new InputError(`${field} is not a hyperparameter of this model`, field);
      continue;
    }
    checkValue(value, rule, field);
  }
}

function checkValue(value: unknown, rule: PropertySchema, field: string): void {
  const fail = (what: string) => {
    throw new InputError(`${field} ${what} (got ${JSON.stringify(value)})`, field);
  };
  switch (rule.type) {
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) fail('must be an integer');
      break;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) fail('must be a number');
      break;
    case 'string':
      if (typeof value !== 'string') fail('must be a string');
      break;
    case 'boolean':
      if (typeof value !== 'boolean') fail('must be true or false');
      break;
    case 'array':
      if (!Array.isArray(value)) fail('must be an array');
      break;
    case 'object':
      if (!value || typeof value !== 'object' || Array.isArray(value)) fail('must be an object');
      break;
    default:
      break;
  }
  if (typeof value === 'number') {
    if (rule.minimum !== undefined && value < rule.minimum) fail(`must be >= ${rule.minimum}`);
    if (rule.maximum !== undefined && value > rule.maximum) fail(`must be <= ${rule.maximum}`);
    if (rule.exclusiveMinimum !== undefined && value <= rule.exclusiveMinimum) fail(`must be > ${rule.exclusiveMinimum}`);
    if (rule.exclusiveMaximum !== undefined && value >= rule.exclusiveMaximum) fail(`must be < ${rule.exclusiveMaximum}`);
  }
  if (rule.enum && !rule.enum.some((allowed) => JSON.stringify(allowed) === JSON.stringify(value))) {
    fail(`must be one of ${rule.enum.map((v) => JSON.stringify(v)).join(', ')}`);
  }
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
