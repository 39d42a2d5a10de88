import type { Knex } from 'knex';
import { dialectOf } from './connect.ts';

type Body<T> = (trx: Knex.Transaction) => Promise<T>;

interface Pending {
  body: Body<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** Bodies committed together at most; bounds how long one commit holds the connection. */
const MAX_BATCH = 32;

/** How long after a SQLite commit the next one may wait for its writers to come back; see BatchWriter.pump. */
export const GATHER_MS = 6;

/**
 * Group commit for SQLite. Every SQLite commit is an fsync (several milliseconds, tens on a busy
 * disk) on the one connection the service has, so writers queue behind each other's fsyncs.
 * Transaction bodies that arrive while a commit is in flight are run one after another inside
 * one transaction, each in its own savepoint, and committed with a single fsync.
 *
 * Each caller keeps its own outcome: a body that throws rolls back to its savepoint (its writes
 * are gone, the others' stay) and its caller gets its error; a body that succeeds is answered only
 * once the shared COMMIT has returned, and gets the commit's error if that fails. A body must use
 * only the transaction it is given (as with any transaction on a single-connection pool).
 *
 * PostgreSQL has a pool of connections and groups concurrent commits itself, and a savepoint there
 * is one more round trip per body: each body runs in its own transaction.
 */
export class GroupCommit {
  private readonly queue: Pending[] = [];
  private flushing = false;
  private readonly grouped: boolean;

  constructor(
    private readonly db: Knex,
    private readonly maxBatch = MAX_BATCH,
  ) {
    this.grouped = dialectOf(db) === 'sqlite';
  }

  /** Runs `body` in a transaction (shared with concurrent callers on SQLite); resolves after the commit. */
  run<T>(body: Body<T>): Promise<T> {
    if (!this.grouped) return this.db.transaction(body);
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ body, resolve: resolve as (value: unknown) => void, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) await this.commit(this.queue.splice(0, this.maxBatch));
    } finally {
      this.flushing = false;
    }
  }

  private async commit(batch: Pending[]): Promise<void> {
    if (batch.length === 1) {
      const [only] = batch;
      await this.db.transaction(only.body).then(only.resolve, only.reject);
      return;
    }
    const succeeded: Array<{ pending: Pending; value: unknown }> = [];
    const failed = new Set<Pending>();
    try {
      await this.db.transaction(async (trx) => {
        for (const pending of batch) {
          try {
            succeeded.push({ pending, value: await trx.transaction((savepoint) => pending.body(savepoint)) });
          } catch (error) {
            failed.add(pending);
            pending.reject(error);
          }
        }
      });
    } catch (error) {
      // BEGIN or COMMIT failed: nothing of this batch is stored.
      for (const pending of batch) if (!failed.has(pending)) pending.reject(error);
      return;
    }
    for (const { pending, value } of succeeded) pending.resolve(value);
  }
}

const shared = new WeakMap<Knex, GroupCommit>();

/** The group commit of a Knex instance: every store writing through one connection shares it. */
export function groupCommitOf(db: Knex): GroupCommit {
  let group = shared.get(db);
  if (!group) shared.set(db, (group = new GroupCommit(db)));
  return group;
}

/**
 * How a batch writer stores a batch, all of it or, on error, none:
 * - `inTransaction`: with any statements, in the transaction it is given;
 * - `atomic`: by itself, given the database: in one statement (atomic on its own; on SQLite that
 *   saves BEGIN and COMMIT, two round trips on the one connection) or a transaction it opens.
 * Either returns one result per item, in order.
 */
export type BatchWrite<I, R> = { inTransaction: (trx: Knex.Transaction, items: I[]) => Promise<R[] | void> } | { atomic: (db: Knex, items: I[]) => Promise<R[] | void> };

interface Queued<I, R> {
  item: I;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit of rows of one kind (run submissions, metric batches), on either database: items
 * written while a commit is in flight are written by the next one together, with one multi-row
 * statement per table and one COMMIT (one fsync on SQLite and PostgreSQL alike, a handful of round
 * trips on PostgreSQL instead of a handful per item).
 *
 * Each caller keeps its own outcome: its promise resolves, with its own item's result, only once a
 * COMMIT holding its rows has returned. When a shared write fails (one item's unique violation,
 * say), every item of that batch is written again in a transaction of its own, so each caller gets
 * its own success or its own error, never another's.
 */
export class BatchWriter<I, R = void> {
  private readonly queue: Array<Queued<I, R>> = [];
  private inFlight = 0;
  /**
   * Commits under way at once. SQLite has one connection: one. PostgreSQL flushes the WAL of
   * concurrent commits together, so a few batches in flight (of the pool's ten connections) fill
   * the wait of one commit's flush with the next batch's inserts.
   */
  private readonly maxInFlight: number;
  /**
   * How long after a SQLite commit ends the next one may wait for more writers (0: never waits;
   * PostgreSQL groups concurrent commits itself). See `pump`.
   */
  private readonly gatherMs: number;
  /** Writers expected in the next batch: those of the last commit, back for more, and those queued behind it. */
  private gatherTarget = 0;
  private lastCommitEnd = 0;
  private gatherTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Knex,
    private readonly writer: BatchWrite<I, R>,
    private readonly maxBatch = MAX_BATCH,
  ) {
    const sqlite = dialectOf(db) === 'sqlite';
    this.maxInFlight = sqlite ? 1 : 4;
    this.gatherMs = sqlite ? GATHER_MS : 0;
  }

  /** Writes the items all or none; one result per item, in order. */
  private writeAll(items: I[]): Promise<R[] | void> {
    const writer = this.writer;
    return 'inTransaction' in writer ? this.db.transaction((trx) => writer.inTransaction(trx, items)) : writer.atomic(this.db, items);
  }

  /** Resolves with the item's result once it is committed; rejects with the error of writing this item. */
  write(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.pump();
    });
  }

  /**
   * Starts commits while there is room. On SQLite, a commit waits, until at most `gatherMs` after
   * the previous one ended, for as many writers as that one had plus those queued behind it: the
   * commit_delay of PostgreSQL, for a database with one connection. With clients writing in a loop,
   * the writers just answered are about to come back; committing only those already queued splits
   * the clients into groups that take turns, each paying a whole commit's fsyncs for a few rows.
   * Measured with 8 clients registering versions: 4.0 rows per commit without the wait, 7.9 with it;
   * 469 -> 636-663 req/s where fsync is slow (each delayed 0.7 ms, as on a busy disk), 934-942 ->
   * 1,006-1,053 where it is fast. A lone writer never waits (after a batch of one with nothing
   * queued, one write is the whole batch), nor does a write that comes after the window.
   */
  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const wait = this.gatherWait();
      if (wait > 0) {
        this.gatherTimer ??= setTimeout(() => {
          this.gatherTimer = undefined;
          this.pump();
        }, wait);
        return;
      }
      clearTimeout(this.gatherTimer);
      this.gatherTimer = undefined;
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight += 1;
      void this.commit(batch).finally(() => {
        this.inFlight -= 1;
        this.pump();
      });
    }
  }

  /** Milliseconds the next commit should still wait for writers; 0 or less: go now. */
  private gatherWait(): number {
    if (this.queue.length >= Math.min(this.gatherTarget, this.maxBatch)) return 0;
    return this.lastCommitEnd + this.gatherMs - performance.now();
  }

  private async commit(batch: Array<Queued<I, R>>): Promise<void> {
    let results: R[] | void;
    try {
      results = await this.writeAll(batch.map((q) => q.item));
    } catch (error) {
      this.committed(batch.length);
      if (batch.length === 1) return batch[0].reject(error);
      // One item's fault must stay its own: each is written alone, and answered with its outcome.
      await Promise.all(batch.map((q) => this.writeAll([q.item]).then((alone) => q.resolve(alone?.[0] as R), q.reject)));
      return;
    }
    this.committed(batch.length);
    batch.forEach((q, i) => q.resolve(results?.[i] as R));
  }

  /** Notes a commit's end for gathering; called before its writers are answered, so none is counted twice. */
  private committed(batchSize: number): void {
    if (this.gatherMs === 0) return;
    this.gatherTarget = batchSize + this.queue.length;
    this.lastCommitEnd = performance.now();
  }
}
