import crypto from 'node:crypto';

/**
 * A response body prepared once: its JSON text and a strong ETag over it. Hot reads (a finished
 * run, the version an alias points at) answer from it without a query, a JSON.stringify or a
 * hash, and If-None-Match on it is a 304.
 */
export interface PreparedBody {
  json: string;
  etag: string;
}

/** `etag`: the entity tag when it names something other than the bytes (an alias's version). */
export function prepareBody(value: unknown, etag?: string): PreparedBody {
  const json = JSON.stringify(value);
  return { json, etag: etag ?? `"${crypto.createHash('sha1').update(json).digest('base64url')}"` };
}

/** A prepared body's weight for a byte-bounded cache: its JSON's length (UTF-16 units, about its bytes). */
export const weighJson = (body: PreparedBody): number => body.json.length;

/**
 * A bounded in-process cache (of prepared bodies, by default) with a time bound on every entry.
 *
 * Correct across replicas by construction: the instance that changes a cached thing drops it at
 * once (`deleteGroup`), and a change made by another replica, which this one cannot
 * hear of, is served stale for at most `ttlMs` (the registry's caches hear of them through its
 * changes feed instead: RegistryCacheSync). Entries are grouped (a run id, a model name) so
 * that one write drops everything derived from the same record. When full (in entries, or in
 * weight when a weight limit is given), the oldest entries go first (Map order is insertion order).
 */
export class ReadCache<T = PreparedBody> {
  private readonly entries = new Map<string, { body: T; until: number; group: string; weight: number }>();
  private readonly groups = new Map<string, Set<string>>();
  private invalidations = 0;
  private readonly reloading = new Map<string, { since: number; body: Promise<T> }>();
  private weight = 0;

  constructor(
    /** Longest time an entry is served; 0 turns the cache off. */
    readonly ttlMs: number,
    private readonly maxEntries = 10_000,
    /** Bounds the sum of the entries' weights too (bytes of prepared JSON, with `weighJson`). */
    private readonly limit: { maxWeight: number; weigh: (body: T) => number } = { maxWeight: Infinity, weigh: () => 0 },
  ) {}

  /**
   * The body while its entry is within its time, without a load. An expired entry is left in
   * place: `through` finds it there and has the requests behind it share one reload.
   */
  get(key: string): T | undefined {
    const entry = this.entries.get(key);
    return entry && entry.until > Date.now() ? entry.body : undefined;
  }

  /** `since`: the invalidation count when the read of `body` began; a body read across a change is not kept. */
  set(group: string, key: string, body: T, since: number): void {
    if (this.ttlMs <= 0 || since !== this.invalidations) return;
    const weight = this.limit.weigh(body);
    if (weight > this.limit.maxWeight) return;
    this.drop(key);
    while (this.entries.size >= this.maxEntries || this.weight + weight > this.limit.maxWeight) this.drop(this.entries.keys().next().value!);
    this.entries.set(key, { body, until: Date.now() + this.ttlMs, group, weight });
    this.weight += weight;
    let keys = this.groups.get(group);
    if (!keys) this.groups.set(group, (keys = new Set()));
    keys.add(key);
  }

  /** Drops every entry derived from `group` (this instance changed it). */
  deleteGroup(group: string): void {
    this.invalidations += 1;
    for (const key of this.groups.get(group) ?? []) {
      this.weight -= this.entries.get(key)?.weight ?? 0;
      this.entries.delete(key);
    }
    this.groups.delete(group);
  }

  /**
   * The cached body of `key`, or `load()`'s; `keep` says whether a loaded body may be cached (a
   * run still in flight may not). When a cached entry expires under load, the requests that find
   * it expired share one reload instead of one read each. Only then: a first read may be of
   * something that changes without telling the cache (a run in flight), and a reload started
   * before this instance changed something is not shared with requests that came after.
   */
  async through(group: string, key: string, load: () => Promise<{ body: T; keep: boolean }>): Promise<T> {
    const entry = this.entries.get(key);
    if (entry && entry.until > Date.now()) return entry.body;
    const pending = this.reloading.get(key);
    if (pending && pending.since === this.invalidations) return pending.body;
    const since = this.invalidations;
    const loaded = load().then(({ body, keep }) => {
      if (keep) this.set(group, key, body, since);
      return body;
    });
    if (!entry) return loaded;
    const mine = { since, body: loaded };
    this.reloading.set(key, mine);
    try {
      return await loaded;
    } finally {
      if (this.reloading.get(key) === mine) this.reloading.delete(key);
    }
  }

  /** Drops every entry (all of them may be stale). */
  deleteAll(): void {
    this.invalidations += 1;
    this.entries.clear();
    this.groups.clear();
    this.weight = 0;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The sum of the entries' weights (0 without a weight limit). */
  get totalWeight(): number {
    return this.weight;
  }

  private drop(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.weight -= entry.weight;
    const keys = this.groups.get(entry.group);
    keys?.delete(key);
    if (keys && keys.size === 0) this.groups.delete(entry.group);
  }
}
