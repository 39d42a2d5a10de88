import { InputError } from '../errors.ts';

/** Row helpers shared by the stores: JSON text columns, numbers from bigint columns, page tokens. */

export const toJson = (value: unknown): string => JSON.stringify(value ?? null);

export function fromJson<T>(text: unknown, fallback: T): T {
  if (text === null || text === undefined || text === '') return fallback;
  if (typeof text !== 'string') return text as T;
  return JSON.parse(text) as T;
}

/** pg returns bigint columns as strings; SQLite returns numbers. */
export const toNumber = (value: unknown): number => (typeof value === 'number' ? value : Number(value));

export const nowIso = (): string => new Date().toISOString();

export function encodePageToken(key: unknown[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodePageToken(token: string | undefined): unknown[] | undefined {
  if (!token) return undefined;
  try {
    const key = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (Array.isArray(key)) return key;
  } catch {
    // fall through to the error below
  }
  throw new InputError('pageToken is not a token returned by this list', 'pageToken');
}
