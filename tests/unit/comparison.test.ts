import { describe, expect, it } from 'vitest';
import { bestValue, compareCells, formatDirections, metricDirection, paramRows, parseDirections, splitList, worstValue } from '../../server/web/src/comparison.ts';

describe('run comparison rules (web UI)', () => {
  it('losses, errors and times are better lower; scores higher; a chosen direction wins', () => {
    for (const key of ['loss', 'val_loss', 'train/logloss', 'rmse', 'test_mae', 'error_rate', 'perplexity', 'val_err', 'latency_ms', 'fit_time']) expect(metricDirection(key), key).toBe('min');
    for (const key of ['auc', 'val_auc', 'accuracy', 'f1', 'precision', 'power', 'lower_bound', 'trials']) expect(metricDirection(key), key).toBe('max');
    expect(metricDirection('auc', { auc: 'min' })).toBe('min');
  });

  it('marks the best and worst only where values can be compared', () => {
    expect(bestValue([0.8169, 0.8181, undefined], 'max')).toBe(0.8181);
    expect(bestValue([0.31, 0.29, 0.4], 'min')).toBe(0.29);
    expect(bestValue([0.5], 'max')).toBeUndefined();
    expect(bestValue([0.5, Number.NaN, 'x'], 'max')).toBeUndefined();
    expect(worstValue([0.31, 0.29, 0.4], 'min')).toBe(0.4);
    expect(worstValue([0.3, 0.3], 'min')).toBeUndefined();
  });

  it('a parameter row differs when any value differs, a missing one included; key order inside objects does not count', () => {
    const rows = paramRows([
      { lr: 0.1, epochs: 3, opt: { name: 'sgd', momentum: 0.9 } },
      { lr: 0.1, epochs: 5, opt: { momentum: 0.9, name: 'sgd' } },
      { lr: 0.1, epochs: 3, opt: { name: 'sgd', momentum: 0.9 }, seed: 1 },
    ]);
    expect(rows.map((r) => [r.key, r.differs])).toEqual([
      ['epochs', true],
      ['lr', false],
      ['opt', false],
      ['seed', true],
    ]);
    expect(rows[3].values).toEqual([undefined, undefined, 1]);
  });

  it('sorts numbers by value, text numerically aware, and missing values last both ways', () => {
    // Rows are sorted, not bare values: Array.prototype.sort would move bare undefineds itself.
    const rows = [10, undefined, 2, 'b', 33, null, 'a10', 'a9'].map((v) => ({ v }));
    const sorted = (order: 'asc' | 'desc') => [...rows].sort((a, b) => compareCells(a.v, b.v, order)).map((r) => r.v);
    expect(sorted('asc')).toEqual([2, 10, 33, 'a9', 'a10', 'b', undefined, null]);
    expect(sorted('desc')).toEqual([33, 10, 2, 'b', 'a10', 'a9', undefined, null]);
  });

  it('lists and chosen directions round-trip through the URL form', () => {
    expect(splitList(' a, ,b ,')).toEqual(['a', 'b']);
    expect(splitList(null)).toEqual([]);
    const chosen = parseDirections('val_loss:max,auc:min,junk,x:up,ns:a:min');
    expect(chosen).toEqual({ val_loss: 'max', auc: 'min', 'ns:a': 'min' });
    expect(parseDirections(formatDirections(chosen))).toEqual(chosen);
  });
});
