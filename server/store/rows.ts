import type { Knex } from 'knex';
import type { Page } from '../domain/index.ts';
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

/** One column of a list's order: its name in the query, its direction, and what it holds. */
export interface KeysetColumn {
  column: string;
  order: 'asc' | 'desc';
  kind: PageKeyPart;
}

export const BY_NAME: readonly KeysetColumn[] = [{ column: 'name', order: 'asc', kind: 'text' }];
export const BY_ID: readonly KeysetColumn[] = [{ column: 'id', order: 'asc', kind: 'int' }];

/**
 * One page of a list ordered by `columns` (the last one unique), from where `pageToken` left off:
 * orders and limits the query, adds the keyset condition (a row after the token's position in
 * that order), and issues the next token from the last row when more rows follow. `cursor` reads
 * the last row's position, in the columns' order.
 */
export async function keysetPage<Row, T>(
  query: Knex.QueryBuilder,
  columns: readonly KeysetColumn[],
  page: { limit: number; pageToken?: string },
  map: (rows: Row[]) => T[] | Promise<T[]>,
  cursor: (row: Row, item: T) => unknown[],
): Promise<Page<T>> {
  const after = decodePageToken(page.pageToken, columns.map((c) => c.kind)) as unknown[] | undefined;
  query.orderBy(columns.map(({ column, order }) => ({ column, order }))).limit(page.limit + 1);
  if (after) query.where((q) => afterPosition(q, columns, after));
  const rows = (await query) as Row[];
  const kept = rows.slice(0, page.limit);
  const items = await map(kept);
  const more = rows.length > page.limit;
  return { items, nextPageToken: more ? encodePageToken(cursor(kept[kept.length - 1], items[items.length - 1])) : null };
}

/** (c1, c2, ...) after (v1, v2, ...) in the columns' order: c1 past v1, or c1 = v1 and the rest after. */
function afterPosition(q: Knex.QueryBuilder, columns: readonly KeysetColumn[], values: unknown[]): void {
  const [first, ...rest] = columns;
  const past = first.order === 'asc' ? '>' : '<';
  q.where(first.column, past, values[0] as Knex.Value);
  if (rest.length) q.orWhere((q2) => q2.where(first.column, '=', values[0] as Knex.Value).andWhere((q3) => afterPosition(q3, rest, values.slice(1))));
}

/**
 * Orders keys by UTF-16 code unit, the same order in every process: writes that lock rows in key
 * order (metric latest values, tags) then take their locks in one order and never deadlock.
 */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
