import crypto from 'node:crypto';

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

/** Canonical JSON (sorted keys) so that the same body always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function timingSafeEqualText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && crypto.timingSafeEqual(left, right);
}
