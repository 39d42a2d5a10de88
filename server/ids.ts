import crypto from 'node:crypto';
import { InputError } from './errors.ts';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/**
 * Run ids are 12 lowercase alphanumerics starting with a letter: valid inside Kubernetes object
 * names (`griffin-run-<id>-<attempt>`) and Ray submission ids without escaping.
 */
export function newRunId(): string {
  const bytes = crypto.randomBytes(12);
  let id = ALPHABET[bytes[0] % 26];
  for (let i = 1; i < 12; i += 1) id += ALPHABET[bytes[i] % ALPHABET.length];
  return id;
}

export const newTokenId = (): string => crypto.randomBytes(8).toString('hex');

export const newSecret = (bytes = 32): string => crypto.randomBytes(bytes).toString('base64url');

export const sha256Hex = (data: string | Buffer): string => crypto.createHash('sha256').update(data).digest('hex');

/** Deeper than any body the API accepts (api/inputChecks.ts caps them at 32 levels). */
const CANONICAL_JSON_MAX_DEPTH = 256;

/**
 * Canonical JSON (sorted keys) so that the same body always hashes the same. Bounded in depth so
 * that a value that slipped past the body check is an error, not a stack overflow.
 */
export function canonicalJson(value: unknown, depth = 0): string {
  if (depth > CANONICAL_JSON_MAX_DEPTH) throw new InputError(`the value nests deeper than the limit of ${CANONICAL_JSON_MAX_DEPTH} levels`, 'body');
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item, depth + 1)).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v, depth + 1)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function timingSafeEqualText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && crypto.timingSafeEqual(left, right);
}
