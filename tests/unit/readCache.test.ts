import { describe, expect, it } from 'vitest';
import { prepareBody, ReadCache, weighJson } from '../../server/services/readCache.ts';

/** The read cache's bounds: what it keeps when full, and what one write drops. */
describe('read cache bounds', () => {
  const body = (size: number) => prepareBody({ pad: 'x'.repeat(size) });

  it('a byte bound evicts the oldest entries first, and a body larger than the bound is never kept', () => {
    const one = body(100).json.length;
    const cache = new ReadCache(60_000, 1_000, { maxWeight: one * 3, weigh: weighJson });
    for (const key of ['a', 'b', 'c']) cache.set('g', key, body(100), 0);
    expect(cache.size).toBe(3);
    expect(cache.totalWeight).toBe(one * 3);
    cache.set('g', 'd', body(100), 0);
    expect(['a', 'b', 'c', 'd'].map((k) => cache.get(k) !== undefined)).toEqual([false, true, true, true]);
    expect(cache.totalWeight).toBe(one * 3);
    // Replacing an entry counts its new size only.
    cache.set('g', 'd', body(100), 0);
    expect(cache.totalWeight).toBe(one * 3);
    cache.set('g', 'huge', body(one * 4), 0);
    expect(cache.get('huge')).toBeUndefined();
    expect(cache.size).toBe(3);
  });

  it("dropping a group gives back its entries' weight", () => {
    const cache = new ReadCache(60_000, 1_000, { maxWeight: 10_000, weigh: weighJson });
    cache.set('m1', 'x', body(100), 0);
    cache.set('m2', 'y', body(200), 0);
    const kept = body(200).json.length;
    cache.deleteGroup('m1');
    expect(cache.get('x')).toBeUndefined();
    expect(cache.totalWeight).toBe(kept);
    // A read that began before the drop is not kept (its invalidation count is stale).
    cache.set('m1', 'x', body(100), 0);
    expect(cache.get('x')).toBeUndefined();
    cache.set('m1', 'x', body(100), 1);
    expect(cache.get('x')).toBeDefined();
  });
});
