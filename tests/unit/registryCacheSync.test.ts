import { describe, expect, it } from 'vitest';
import type { RegistryChange } from '../../server/domain/index.ts';
import { RegistryCacheSync, type ChangesFeed } from '../../server/services/registryCacheSync.ts';

/**
 * The sync's own rules, against an in-memory feed with RegistryStore's paging contract (changes
 * after a cursor, oldest first, at most `limit`, `hasMore`). The HTTP tier
 * (tests/http/registryCacheSync.test.ts) checks the same against both databases.
 */
class MemoryFeed implements ChangesFeed {
  changes: RegistryChange[] = [];
  down = false;
  reads = 0;
  add(model: string): void {
    const id = this.changes.length + 1;
    this.changes.push({ id, model, kind: 'version_registered', alias: null, fromVersion: null, toVersion: id, actor: 'test', reason: '', at: new Date().toISOString() });
  }
  async changesAfter(filter: { after: number; limit: number }) {
    this.reads += 1;
    if (this.down) throw new Error('connection refused');
    const after = this.changes.filter((c) => c.id > filter.after);
    return { items: after.slice(0, filter.limit), hasMore: after.length > filter.limit };
  }
  async headCursor() {
    if (this.down) throw new Error('connection refused');
    return this.changes.length;
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('registry cache sync', () => {
  it('starts at the head, dropping everything once; then names each changed model, catching up page by page', async () => {
    const feed = new MemoryFeed();
    feed.add('before-start');
    const seen: Array<string | undefined> = [];
    const sync = new RegistryCacheSync(feed, 100, (model) => seen.push(model));
    expect(sync.current()).toBe(false);
    expect(await sync.settled()).toBe(true);
    expect(seen).toEqual([undefined]);

    for (let i = 0; i < 1_200; i += 1) feed.add(`m${i % 3}`);
    await pause(260);
    expect(await sync.settled()).toBe(true);
    expect(seen.length).toBe(1 + 1_200);
    expect(seen.slice(1, 4)).toEqual(['m0', 'm1', 'm2']);
    expect(feed.reads).toBe(3); // 500 + 500 + 200
  });

  it('is current only within its bound; a read past a quarter of it starts one poll that the others share', async () => {
    const feed = new MemoryFeed();
    const sync = new RegistryCacheSync(feed, 1_000, () => {});
    await sync.settled();
    const reads = feed.reads;
    expect(sync.current()).toBe(true);
    expect(feed.reads).toBe(reads); // too soon for another poll
    await pause(300);
    expect([sync.current(), sync.current(), sync.current()]).toEqual([true, true, true]);
    expect(feed.reads).toBe(reads + 1);
  });

  it('when the feed cannot be read it is not current, warns once, retries at most every quarter bound, and catches up from its cursor', async () => {
    const feed = new MemoryFeed();
    const seen: Array<string | undefined> = [];
    const warnings: string[] = [];
    const logger = { warn: (m: string) => warnings.push(m), info: () => {} } as never;
    const sync = new RegistryCacheSync(feed, 1_000, (model) => seen.push(model), logger);
    await sync.settled();
    feed.add('while-up');
    feed.down = true;
    await pause(1_050);
    expect(await sync.settled()).toBe(false);
    const attempts = feed.reads;
    // Within a quarter bound of the failed attempt: told no at once, without another query.
    expect([await sync.settled(), sync.current()]).toEqual([false, false]);
    expect(feed.reads).toBe(attempts);
    await pause(260);
    expect(await sync.settled()).toBe(false);
    expect(feed.reads).toBe(attempts + 1);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('connection refused');

    feed.add('while-down');
    feed.down = false;
    await pause(260);
    expect(await sync.settled()).toBe(true);
    expect(seen).toEqual([undefined, 'while-up', 'while-down']);
  });

});
