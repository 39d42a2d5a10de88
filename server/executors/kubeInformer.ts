import type { Logger } from '../logger.ts';
import { describeFailure } from './retry.ts';

/** The part of a Kubernetes object an informer needs: its name, version and labels. */
export interface KubeObject {
  metadata?: { name?: string; resourceVersion?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

export interface ListPage {
  items: KubeObject[];
  resourceVersion: string;
  continueToken?: string;
}

export interface WatchEvent {
  type: string;
  object: KubeObject & { code?: number };
}

/** An open watch: `done` settles when the stream ends (resolves) or fails (rejects). */
export interface OpenWatch {
  done: Promise<void>;
  abort(): void;
}

/** Where an informer reads one kind from: a paged list and a watch from a resourceVersion. */
export interface InformerSource {
  /** For log lines: "Jobs in namespace griffin". */
  what: string;
  list(continueToken: string | undefined): Promise<ListPage>;
  /** Resolves once the API server has answered the watch request (the stream is open). */
  watch(resourceVersion: string, onEvent: (event: WatchEvent) => void): Promise<OpenWatch>;
}

export interface InformerOptions {
  /** Backoff after a failed list or watch: doubles from `minBackoffMs` up to `maxBackoffMs`. */
  minBackoffMs: number;
  maxBackoffMs: number;
}

export const INFORMER_DEFAULTS: InformerOptions = { minBackoffMs: 500, maxBackoffMs: 30_000 };

/** A watch that ends cleanly this soon after it opened is treated as a failure, so a broken server is not hammered. */
const SHORT_WATCH_MS = 1_000;

const isGone = (error: unknown): boolean => {
  const e = error as { statusCode?: number; code?: number } | undefined;
  return e?.statusCode === 410 || e?.code === 410;
};

class WatchExpired extends Error {
  readonly statusCode = 410;
}

/**
 * An in-memory copy of one kind of object (Griffin's Jobs or RayJobs in one namespace), kept up
 * to date by a list and then a watch from the list's resourceVersion, as client-go's informers do.
 * A watch that ends is reopened from the last resourceVersion seen; one the API server no longer
 * has history for (410 Gone) is replaced by a fresh list, whose differences from the copy are
 * reported as changes. After any other failure the informer is not `synced` (its copy may be
 * stale, so callers ask the API server themselves) and it retries with backoff.
 *
 * `onChange` is called with every object that was added, changed or deleted, and with every object
 * of the first list (what happened before it was not seen).
 */
export class KubeInformer<T> {
  private readonly objects = new Map<string, { version: string | undefined; value: T }>();
  /** Labels by name, so a deletion found by a re-list can still say which run it was. */
  private readonly labelsOf = new Map<string, Record<string, string> | undefined>();
  private resourceVersion = '';
  private isSynced = false;
  private stopped = true;
  private current: OpenWatch | undefined;
  private loop: Promise<void> | undefined;
  private wakeSleep: (() => void) | undefined;
  private failing = false;
  private listedOnce = false;

  constructor(
    private readonly source: InformerSource,
    private readonly summarize: (object: KubeObject) => T,
    private readonly onChange: (object: KubeObject) => void,
    private readonly logger: Logger,
    private readonly options: InformerOptions = INFORMER_DEFAULTS,
  ) {}

  /** True while the copy follows the API server: listed, and the watch is open. */
  get synced(): boolean {
    return this.isSynced;
  }

  get size(): number {
    return this.objects.size;
  }

  /** What the copy holds for the object of that name; undefined when it holds none. */
  get(name: string): T | undefined {
    return this.objects.get(name)?.value;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.isSynced = false;
    this.current?.abort();
    this.wakeSleep?.();
    await this.loop;
    this.loop = undefined;
  }

  private async run(): Promise<void> {
    let backoff = this.options.minBackoffMs;
    while (!this.stopped) {
      try {
        if (!this.resourceVersion) await this.relist();
        if (this.stopped) break;
        const opened = Date.now();
        await this.watchOnce();
        if (this.failing) this.logger.info({ watching: this.source.what }, 'watching Kubernetes objects again');
        this.failing = false;
        if (Date.now() - opened >= SHORT_WATCH_MS) {
          backoff = this.options.minBackoffMs;
          continue;
        }
        // Closed as soon as it opened: something between us and the API server is wrong; poll meanwhile.
        this.isSynced = false;
      } catch (error) {
        if (this.stopped) break;
        if (isGone(error)) {
          // The API server's history no longer reaches our resourceVersion: list again, at once.
          this.resourceVersion = '';
          continue;
        }
        this.isSynced = false;
        if (!this.failing) this.logger.warn({ watching: this.source.what, reason: describeFailure(error) }, 'watching Kubernetes objects failed; runs there are polled until it recovers');
        else this.logger.debug({ watching: this.source.what, reason: describeFailure(error) }, 'watching Kubernetes objects failed again');
        this.failing = true;
      }
      await this.sleep(backoff);
      backoff = Math.min(backoff * 2, this.options.maxBackoffMs);
    }
    this.isSynced = false;
  }

  private async relist(): Promise<void> {
    const fresh = new Map<string, { version: string | undefined; value: T; object: KubeObject }>();
    let continueToken: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.source.list(continueToken);
      for (const object of page.items) {
        const name = object.metadata?.name;
        if (name) fresh.set(name, { version: object.metadata?.resourceVersion, value: this.summarize(object), object });
      }
      continueToken = page.continueToken || undefined;
      resourceVersion = page.resourceVersion;
    } while (continueToken && !this.stopped);
    const changed: KubeObject[] = [];
    for (const [name, entry] of fresh) {
      const before = this.objects.get(name);
      if (!this.listedOnce || !before || before.version !== entry.version) changed.push(entry.object);
    }
    for (const [name] of this.objects) if (!fresh.has(name)) changed.push({ metadata: { name, labels: this.labelsOf.get(name) } });
    this.objects.clear();
    this.labelsOf.clear();
    for (const [name, entry] of fresh) {
      this.objects.set(name, { version: entry.version, value: entry.value });
      this.labelsOf.set(name, entry.object.metadata?.labels);
    }
    this.resourceVersion = resourceVersion;
    this.listedOnce = true;
    for (const object of changed) this.onChange(object);
  }

  /** One watch, from open to end; resolves when the stream ends, rejects when it fails or expires. */
  private async watchOnce(): Promise<void> {
    let expired = false;
    const watch = await this.source.watch(this.resourceVersion, (event) => {
      if (event.type === 'ERROR') {
        if (event.object?.code === 410) expired = true;
        return;
      }
      const object = event.object;
      if (object?.metadata?.resourceVersion) this.resourceVersion = object.metadata.resourceVersion;
      if (event.type === 'BOOKMARK') return;
      const name = object?.metadata?.name;
      if (!name) return;
      if (event.type === 'DELETED') {
        this.objects.delete(name);
        this.labelsOf.delete(name);
      } else {
        this.objects.set(name, { version: object.metadata?.resourceVersion, value: this.summarize(object) });
        this.labelsOf.set(name, object.metadata?.labels);
      }
      this.onChange(object);
    });
    this.current = watch;
    if (this.stopped) watch.abort();
    else this.isSynced = true;
    try {
      await watch.done;
    } finally {
      this.current = undefined;
    }
    if (expired) throw new WatchExpired('the watch expired (410 Gone)');
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeSleep = done;
    });
  }
}
