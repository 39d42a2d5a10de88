import { performance } from 'node:perf_hooks';
import type { RegistryChange } from '../domain/index.ts';
import type { Logger } from '../logger.ts';

/** What the sync reads: the registry's changes feed (RegistryStore). */
export interface ChangesFeed {
  changesAfter(filter: { after: number; limit: number }): Promise<{ items: RegistryChange[]; hasMore: boolean }>;
  headCursor(): Promise<number>;
}

/** Changes read per query while catching up. */
const CATCH_UP_PAGE = 500;

/**
 * Keeps one replica's registry read cache in step with changes made on other replicas, by
 * following the registry's changes feed (`registry_changes`, ids in commit order).
 *
 * Every registry write records a change in the transaction that makes it: a version registered or
 * edited, an alias moved or removed (models are never renamed or deleted). A poll reads the changes
 * after its cursor and drops the cached entries of every model they name. So when a poll that
 * started at time T has finished, nothing committed before T is served stale, and a cached entry
 * may be served only while the last finished poll started at most `boundMs` ago: that, not the
 * age of the entry, is the staleness bound across replicas. Reads start the next poll once the
 * last is `boundMs / 4` old, so under traffic a change on another replica shows in about a
 * quarter of the bound; after a quiet spell the first read waits for one poll (one index range
 * read that finds nothing). If the feed cannot be read, nothing is served from the cache until
 * it can, and the changes missed meanwhile are caught up from the cursor.
 */
export class RegistryCacheSync {
  private cursor: number | undefined;
  /** When the last poll that finished began (performance.now()); -Infinity before the first. */
  private syncedAt = -Infinity;
  /** When the last poll began, finished or not: polls start at most every quarter of the bound. */
  private attemptedAt = -Infinity;
  private polling: Promise<void> | undefined;
  private failing = false;

  constructor(
    private readonly feed: ChangesFeed,
    /** The staleness bound (GRIFFIN_READ_CACHE_MS). */
    private readonly boundMs: number,
    /** A model changed elsewhere (its name), or everything may have (undefined: the first poll). */
    private readonly onChanged: (model: string | undefined) => void,
    private readonly logger?: Logger,
  ) {}

  /** Whether cached entries may be served now; starts a poll when one is due, without waiting for it. */
  current(): boolean {
    const now = performance.now();
    if (now - this.attemptedAt >= this.boundMs / 4) this.poll();
    return now - this.syncedAt <= this.boundMs;
  }

  /**
   * Like current(), but when the cache is past its bound, waits for the poll that brings it back.
   * While the feed cannot be read, a read between two attempts does not wait: it is told no.
   */
  async settled(): Promise<boolean> {
    if (this.current()) return true;
    if (this.polling) await this.polling;
    return performance.now() - this.syncedAt <= this.boundMs;
  }

  /** One poll at a time; callers that come meanwhile share it. Never rejects. */
  private poll(): void {
    if (this.polling) return;
    this.attemptedAt = performance.now();
    this.polling = this.pollOnce().finally(() => {
      this.polling = undefined;
    });
  }

  private async pollOnce(): Promise<void> {
    const started = this.attemptedAt;
    try {
      if (this.cursor === undefined) {
        // Where to follow from. Entries cached before this point were read without a cursor to
        // check them against: all are dropped.
        this.cursor = await this.feed.headCursor();
        this.onChanged(undefined);
      } else {
        for (;;) {
          const page = await this.feed.changesAfter({ after: this.cursor, limit: CATCH_UP_PAGE });
          for (const change of page.items) this.onChanged(change.model);
          if (page.items.length) this.cursor = page.items[page.items.length - 1].id;
          if (!page.hasMore) break;
        }
      }
      this.syncedAt = started;
      if (this.failing) this.logger?.info('registry read cache: following the changes feed again');
      this.failing = false;
    } catch (error) {
      // Logged once per outage: reads go to the database meanwhile, and fail there if it is down.
      if (!this.failing) this.logger?.warn(`registry read cache: cannot read the changes feed, so reads skip the cache until it can: ${(error as Error).message}`);
      this.failing = true;
    }
  }
}
