import { InputError } from '../errors.ts';

/*
 * Checks every request goes through before its schema, for what no zod schema of a single field
 * expresses: how deep a JSON body nests, and NUL characters anywhere in it. Both walk the value
 * with an explicit stack, so a hostile input cannot overflow the call stack on its way in.
 */

/** Nesting levels of arrays and objects a JSON body may have; hyperparameters need a handful. */
export const MAX_JSON_DEPTH = 32;

/** Refuses a parsed JSON body that nests arrays and objects more than `limit` levels deep. */
export function checkDepth(value: unknown, limit = MAX_JSON_DEPTH): void {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length) {
    const [current, depth] = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth + 1 > limit) {
      throw new InputError(`the request body nests arrays and objects deeper than the limit of ${limit} levels`, 'body');
    }
    for (const child of Object.values(current as Record<string, unknown>)) stack.push([child, depth + 1]);
  }
}

const printable = (key: string): string => key.replace(/\0/g, '\\u0000');

/**
 * The dotted path (e.g. "overrides.hyperparameters.lr") of the first string or object key that
 * holds a NUL character; undefined when there is none. "" is the value itself.
 */
export function nulPath(value: unknown): string | undefined {
  const stack: Array<[unknown, string[]]> = [[value, []]];
  while (stack.length) {
    const [current, at] = stack.pop()!;
    if (typeof current === 'string') {
      if (current.includes('\0')) return at.join('.');
      continue;
    }
    if (current === null || typeof current !== 'object') continue;
    for (const [key, child] of Object.entries(current as Record<string, unknown>)) {
      if (key.includes('\0')) return [...at, printable(key)].join('.');
      stack.push([child, [...at, key]]);
    }
  }
  return undefined;
}

/**
 * Refuses NUL in any text a request carries: PostgreSQL cannot store it in a text column, file
 * systems cannot take it in a path, and no name, filter or hyperparameter needs it.
 */
export function refuseNul(value: unknown, where: 'body' | 'query' | 'path'): void {
  const at = nulPath(value);
  if (at === undefined) return;
  // A wildcard path parameter arrives as its segments; name the parameter, not a segment.
  const field = (where === 'path' ? at.split('.')[0] : at) || where;
  throw new InputError(`${field}: may not contain the NUL character (\\u0000)`, field);
}
