import { describe, expect, it } from 'vitest';
import { checkDepth, MAX_JSON_DEPTH, nulPath, refuseNul } from '../../server/api/inputChecks.ts';
import { methodsByPath } from '../../server/api/methods.ts';
import { storageFault } from '../../server/db/connect.ts';
import { canonicalJson } from '../../server/ids.ts';
import { decodePageToken, encodePageToken } from '../../server/store/rows.ts';

const deep = (levels: number): unknown => {
  let value: unknown = 1;
  for (let i = 0; i < levels; i += 1) value = i % 2 ? [value] : { a: value };
  return value;
};

describe('body depth', () => {
  it('accepts the limit and refuses one level more, naming the limit', () => {
    expect(() => checkDepth(deep(MAX_JSON_DEPTH))).not.toThrow();
    expect(() => checkDepth(deep(MAX_JSON_DEPTH + 1))).toThrow(expect.objectContaining({ status: 400, field: 'body', message: expect.stringContaining(`${MAX_JSON_DEPTH} levels`) }));
  });

  it('refuses 100,000 levels without overflowing the stack', () => {
    expect(() => checkDepth(deep(100_000))).toThrow(expect.objectContaining({ field: 'body' }));
  });

  it('canonicalJson refuses a value deeper than its bound with a 400, not a RangeError', () => {
    expect(canonicalJson({ b: [1, { d: 2, c: 3 }], a: null })).toBe('{"a":null,"b":[1,{"c":3,"d":2}]}');
    expect(() => canonicalJson(deep(5000))).toThrow(expect.objectContaining({ status: 400, field: 'body' }));
  });
});

describe('NUL', () => {
  it('names the path of the first string or key holding NUL', () => {
    expect(nulPath({ a: 'ok', b: [{ c: 'x' }, { d: 'y\u0000' }] })).toBe('b.1.d');
    expect(nulPath({ h: { 'k\u0000': 1 } })).toBe('h.k\\u0000');
    expect(nulPath({ a: 'fine', n: 1, z: null })).toBeUndefined();
    expect(() => refuseNul({ id: ['dir', 'a\u0000'] }, 'path')).toThrow(expect.objectContaining({ field: 'id' }));
    expect(() => refuseNul('\u0000', 'body')).toThrow(expect.objectContaining({ field: 'body' }));
  });
});

describe('page tokens', () => {
  it('round-trip the keys a list issued, and refuse any other shape', () => {
    expect(decodePageToken(encodePageToken(['2026-01-01T00:00:00.000Z', 'abc']), ['text', 'text'])).toEqual(['2026-01-01T00:00:00.000Z', 'abc']);
    expect(decodePageToken(encodePageToken([7]), ['int'])).toEqual([7]);
    expect(decodePageToken(undefined, ['int'])).toBeUndefined();
    for (const key of [[], ['1'], ['x', 'y'], [1e308], [2 ** 31], [-1], [null]]) {
      expect(() => decodePageToken(encodePageToken(key), ['int']), JSON.stringify(key)).toThrow(expect.objectContaining({ status: 400, field: 'pageToken' }));
    }
    expect(() => decodePageToken('%%%', ['text'])).toThrow(expect.objectContaining({ field: 'pageToken' }));
    expect(() => decodePageToken(encodePageToken(['a'.repeat(256)]), ['text'])).toThrow(expect.objectContaining({ field: 'pageToken' }));
  });
});

describe('methods by path', () => {
  it('lists the methods of every declared path that matches, HEAD with GET', () => {
    const allowed = methodsByPath([
      { method: 'get', path: '/runs/:id/artifacts/*path' },
      { method: 'put', path: '/runs/:id/artifacts/*path' },
      { method: 'post', path: '/runs/:id/cancel' },
    ]);
    expect(allowed('/runs/abc/artifacts/a/b.json')).toEqual(['GET', 'HEAD', 'PUT']);
    expect(allowed('/runs/abc/cancel/')).toEqual(['POST']);
    expect(allowed('/runs/abc')).toBeUndefined();
  });
});

describe('storage faults', () => {
  it('classifies full, read-only and unreachable databases as faults with a hint, and bugs as none', () => {
    for (const code of ['SQLITE_FULL', 'SQLITE_READONLY', 'SQLITE_IOERR', 'SQLITE_CANTOPEN', 'SQLITE_BUSY', '53100', '57P01', '08006', '58030', '25006', 'ECONNREFUSED']) {
      expect(storageFault({ code }), code).toEqual({ code, hint: expect.any(String) });
    }
    expect(storageFault({ code: 'SQLITE_FULL' })?.hint).toMatch(/full/);
    expect(storageFault(new Error('Knex: Timeout acquiring a connection. The pool is probably full.'))?.code).toBe('POOL_TIMEOUT');
    for (const code of ['SQLITE_CONSTRAINT', '23505', '22P02', '42P01', undefined]) expect(storageFault({ code }), String(code)).toBeUndefined();
    expect(storageFault(new TypeError('x is undefined'))).toBeUndefined();
  });
});
