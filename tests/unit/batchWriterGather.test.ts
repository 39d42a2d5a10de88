import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Knex } from 'knex';
import { BatchWriter, GATHER_MS } from '../../server/db/groupCommit.ts';

/**
 * When a SQLite batch waits for more writers (BatchWriter.pump). The writer here is an `atomic`
 * one, so BatchWriter hands the database to it untouched: a stand-in that only names its dialect is
 * enough. Each "commit" and each client's round trip is a fake timer, a commit longer than a round
 * trip as in the service, so the order of commits and returns is exact, with no disk in the way.
 * The stores' own batches on real SQLite and PostgreSQL are tested in tests/store/groupCommit.test.ts.
 */
const sqlite = { client: { config: { client: 'sqlite3' } } } as unknown as Knex;
const postgres = { client: { config: { client: 'pg' } } } as unknown as Knex;

function recordingWriter(db: Knex, commitMs: number) {
  const batches: number[][] = [];
  const writer = new BatchWriter<number, number>(db, {
    atomic: async (_db, items) => {
      batches.push(items);
      if (commitMs > 0) await new Promise((resolve) => setTimeout(resolve, commitMs));
      return items.map((item) => item * 10);
    },
  });
  return { writer, batches };
}

describe('BatchWriter gathering on SQLite', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writers in a closed loop end up committed together, not in groups that take turns', async () => {
    vi.useFakeTimers();
    const { writer, batches } = recordingWriter(sqlite, 4);
    const clients = 8;
    const roundsEach = 12;
    const roundTrip = () => new Promise((resolve) => setTimeout(resolve, 1));
    const done = Promise.all(
      Array.from({ length: clients }, async (_, client) => {
        for (let round = 0; round < roundsEach; round++) {
          expect(await writer.write(client)).toBe(client * 10);
          await roundTrip();
        }
      }),
    );
    await vi.runAllTimersAsync();
    await done;
    expect(batches.flat()).toHaveLength(clients * roundsEach);
    // The first write finds an idle writer and goes alone. The seven queued behind it wait for it
    // to come back, and from then on every commit holds all eight, until the first client, a round
    // ahead, is done. Without gathering the batches go 1, 7, 1, 7, ...
    expect(batches.map((b) => b.length)).toEqual([1, ...Array(roundsEach - 1).fill(clients), clients - 1]);
  });

  it('a lone writer is committed at once, without a timer', async () => {
    vi.useFakeTimers();
    const { writer, batches } = recordingWriter(sqlite, 0);
    for (let i = 0; i < 3; i++) expect(await writer.write(i)).toBe(i * 10);
    expect(batches).toEqual([[0], [1], [2]]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('writers queued behind a commit wait for its writer to come back, at most the gathering window', async () => {
    vi.useFakeTimers();
    const { writer, batches } = recordingWriter(sqlite, 0);
    let answered: number[] | undefined;
    void Promise.all([writer.write(1), writer.write(2), writer.write(3)]).then((results) => (answered = results));
    await vi.advanceTimersByTimeAsync(GATHER_MS - 1);
    expect(batches).toEqual([[1]]);
    expect(answered).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(batches).toEqual([[1], [2, 3]]);
    expect(answered).toEqual([10, 20, 30]);
  });

  it('a write arriving after the window goes at once', async () => {
    vi.useFakeTimers();
    const { writer, batches } = recordingWriter(sqlite, 0);
    const first = Promise.all([writer.write(1), writer.write(2)]);
    await vi.advanceTimersByTimeAsync(GATHER_MS);
    await first;
    await vi.advanceTimersByTimeAsync(GATHER_MS);
    expect(await writer.write(3)).toBe(30);
    expect(batches).toEqual([[1], [2], [3]]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a full batch goes at once, without waiting out the window', async () => {
    vi.useFakeTimers();
    const { writer, batches } = recordingWriter(sqlite, 0);
    await Promise.all(Array.from({ length: 33 }, (_, i) => writer.write(i)));
    expect(batches.map((b) => b.length)).toEqual([1, 32]);
    await Promise.all(Array.from({ length: 32 }, (_, i) => writer.write(i)));
    expect(batches.map((b) => b.length)).toEqual([1, 32, 32]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a gathered batch that fails is written again item by item, each writer answered with its own outcome', async () => {
    vi.useFakeTimers();
    const batches: number[][] = [];
    const writer = new BatchWriter<number, number>(sqlite, {
      atomic: async (_db, items) => {
        batches.push(items);
        if (items.includes(13)) throw new Error('13 is refused');
        return items.map((item) => item * 10);
      },
    });
    const outcomes = Promise.allSettled([writer.write(1), writer.write(13), writer.write(3)]);
    await vi.advanceTimersByTimeAsync(GATHER_MS);
    expect((await outcomes).map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message))).toEqual([10, '13 is refused', 30]);
    expect(batches).toEqual([[1], [13, 3], [13], [3]]);
  });

  it('PostgreSQL never waits: it groups concurrent commits itself', async () => {
    vi.useFakeTimers();
    const { writer, batches } = recordingWriter(postgres, 0);
    await Promise.all([writer.write(1), writer.write(2), writer.write(3)]);
    expect(await writer.write(4)).toBe(40);
    expect(vi.getTimerCount()).toBe(0);
    expect(batches.flat()).toEqual([1, 2, 3, 4]);
  });
});
