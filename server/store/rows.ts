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

/** What each position of a list's keyset cursor holds: a text column, or an integer column. */
export type PageKeyPart = 'text' | 'int';
type PageKey<S extends readonly PageKeyPart[]> = { [I in keyof S]: S[I] extends 'int' ? number : string };

// PostgreSQL `integer`, the type of the id and version columns that page keys hold.
const INT_COLUMN_MAX = 2_147_483_647;
const TEXT_KEY_MAX = 255;

function fitsPart(value: unknown, part: PageKeyPart): boolean {
  if (part === 'int') return Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= INT_COLUMN_MAX;
  return typeof value === 'string' && value.length <= TEXT_KEY_MAX && !value.includes('\0');
}

/**
 * The keyset position a page token carries, checked against the shape of the list that issued
 * it: a token from another list, or a hand-made one, is a 400 rather than a broken query.
 */
export function decodePageToken<const S extends readonly PageKeyPart[]>(token: string | undefined, shape: S): PageKey<S> | undefined {
  if (!token) return undefined;
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  if (Array.isArray(key) && key.length === shape.length && shape.every((part, i) => fitsPart(key[i], part))) return key as PageKey<S>;
  throw new InputError('pageToken is not a token returned by this list; start again without it', 'pageToken');
}
