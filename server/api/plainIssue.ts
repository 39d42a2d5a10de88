import type { z } from 'zod';

/*
 * zod's own messages ("Too small: expected string to have >=1 characters") are written for
 * developers. A request's author gets a sentence about the field instead. Messages a schema sets
 * itself (regex(..., 'must be "name" or "name@version"')) are already sentences and are kept.
 */

type Issue = z.core.$ZodIssue;

const NOUN: Record<string, string> = { string: 'text', number: 'a number', int: 'a whole number', boolean: 'true or false', array: 'a list', object: 'an object', date: 'a date', bigint: 'a whole number', record: 'an object' };

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return 'text';
  if (typeof value === 'number') return Number.isInteger(value) ? 'a whole number' : 'a number';
  if (typeof value === 'object') return 'an object';
  return typeof value;
}

function valueAt(root: unknown, path: PropertyKey[]): unknown {
  let here = root;
  for (const key of path) {
    if (here === null || typeof here !== 'object') return undefined;
    here = (here as Record<PropertyKey, unknown>)[key];
  }
  return here;
}

function bound(issue: { origin: string; inclusive?: boolean }, limit: number | bigint, side: 'min' | 'max'): string {
  const n = Number(limit);
  switch (issue.origin) {
    case 'string':
      if (side === 'min') return n <= 1 ? 'must not be empty' : `must be at least ${n} characters long`;
      return `must be at most ${n} characters long`;
    case 'array':
    case 'set':
      if (side === 'min') return n <= 1 ? 'must not be empty' : `must have at least ${n} items`;
      return `must have at most ${n} items`;
    default:
      if (side === 'min') return issue.inclusive === false ? `must be greater than ${n}` : `must be at least ${n}`;
      return issue.inclusive === false ? `must be less than ${n}` : `must be at most ${n}`;
  }
}

/** zod writes its default messages capitalised; a schema's own messages start in lower case. */
const isZodDefault = (message: string) => /^[A-Z]/.test(message);

/** One issue as the rest of a sentence that starts with the field's name ("timeoutSeconds must be greater than 0"). */
export function plainIssue(issue: Issue, input: unknown): string {
  if (!isZodDefault(issue.message)) return issue.message;
  switch (issue.code) {
    case 'invalid_type': {
      const value = valueAt(input, issue.path);
      if (value === undefined) return 'is required';
      if (issue.expected === 'int' && typeof value === 'number') return 'must be a whole number';
      return `must be ${NOUN[issue.expected] ?? issue.expected}, not ${describeValue(value)}`;
    }
    case 'too_small':
      return bound(issue, issue.minimum, 'min');
    case 'too_big':
      return bound(issue, issue.maximum, 'max');
    case 'invalid_value':
      return issue.values.length === 1 ? `must be ${JSON.stringify(issue.values[0])}` : `must be one of: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_format':
      if (issue.format === 'regex') return 'is not in the expected format';
      if (issue.format === 'starts_with' || issue.format === 'ends_with' || issue.format === 'includes') return issue.message.replace(/^Invalid string: /, '');
      return `must be a valid ${issue.format}`;
    case 'not_multiple_of':
      return `must be a multiple of ${issue.divisor}`;
    case 'unrecognized_keys':
      return 'is not a field of this request (check its spelling)';
    case 'invalid_union':
      return 'does not have any of the accepted shapes';
    case 'invalid_key':
      return 'has a key that is not allowed';
    case 'invalid_element':
      return 'has an entry that is not allowed';
    default:
      return 'is not valid';
  }
}
