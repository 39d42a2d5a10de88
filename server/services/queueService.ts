import { Conflict, NotFound, Unprocessable } from '../errors.ts';
import type { QueueStore } from '../store/queueStore.ts';
import { DEFAULT_QUEUE, EMPTY_QUEUE_LOAD, heldResources, neverFits, type BackendName, type Queue, type QueueSettingsInput, type QueueView } from '../domain/index.ts';
import { closestName } from './hyperparameters.ts';
import { ReadCache } from './readCache.ts';

/** Every cached queue is in one group: a change to any queue drops them all. */
const QUEUES = 'queues';

/** What a run is submitted with, as far as its queue is concerned. */
export interface QueueRequest {
  queue: string | undefined;
  priority: number | undefined;
  backend: BackendName;
  resources: { gpu?: number; cpu?: number; workers?: number };
  /** Where the request named the queue, its priority and its resources, for error fields. */
  fields: { queue: string; resources: string };
}

/** Queues (admins change them, everyone reads them) and the queue and priority of a submission. */
export class QueueService {
  /**
   * Queues as a submission last read them. Every submission names one, and they change rarely:
   * a cached queue is served for at most `cacheMs` (a change made through another replica shows
   * after that), and this replica's own changes drop the cache at once. Only queues found are
   * kept, so one created elsewhere is usable at once. The claim re-reads the caps it enforces,
   * and the insert takes a share lock on the queue row, so a queue deleted meanwhile still fails.
   */
  private readonly cached: ReadCache<Queue | undefined>;

  constructor(
    private readonly store: QueueStore,
    cacheMs = 0,
  ) {
    this.cached = new ReadCache<Queue | undefined>(cacheMs, 1_000);
  }

  async list(): Promise<QueueView[]> {
    const [queues, loads] = await Promise.all([this.store.list(), this.store.loads()]);
    return queues.map((q) => ({ ...q, load: loads.get(q.name) ?? EMPTY_QUEUE_LOAD }));
  }

  async get(name: string): Promise<QueueView> {
    const queue = await this.require(name, 'name', NotFound);
    const loads = await this.store.loads([name]);
    return { ...queue, load: loads.get(name) ?? EMPTY_QUEUE_LOAD };
  }

  async create(name: string, settings: QueueSettingsInput, by: string | null): Promise<QueueView> {
    const created = await this.store.create(name, settings, by);
    this.forget();
    if (!created) throw new Conflict(`queue "${name}" already exists; change it with PUT /api/v1/queues/${name}`, 'name');
    return this.get(name);
  }

  async put(name: string, settings: QueueSettingsInput, by: string | null): Promise<{ queue: QueueView; created: boolean }> {
    const { created } = await this.store.put(name, settings, by);
    this.forget();
    return { queue: await this.get(name), created };
  }

  async delete(name: string): Promise<void> {
    if (name === DEFAULT_QUEUE) throw new Conflict(`the "${DEFAULT_QUEUE}" queue always exists: runs that name no queue wait in it; change its caps with PUT instead`, 'name');
    const { deleted, active } = await this.store.delete(name);
    this.forget();
    if (deleted) return;
    const counts = Object.entries(active);
    if (!counts.length) throw await this.missing(name, 'name', NotFound);
    const held = counts.map(([state, n]) => `${n} ${state}`).join(', ');
    throw new Conflict(`queue "${name}" still holds runs (${held}); cancel them or wait until they end, then delete the queue`, 'name');
  }

  /** Refuses a queue that does not exist, naming the field and the nearest existing queue. */
  async checkExists(name: string | undefined, field: string): Promise<void> {
    if (name !== undefined) await this.require(name, field, Unprocessable);
  }

  /**
   * The queue and priority a run is stored with: the queue named (or "default"), which must exist,
   * and the priority given or the queue's default. A run that requests more GPUs or CPUs than its
   * queue ever allows in flight is refused rather than left waiting for ever.
   */
  async resolve(request: QueueRequest): Promise<{ queue: string; priority: number }> {
    const queue = await this.requireCached(request.queue ?? DEFAULT_QUEUE, request.fields.queue);
    const tooLarge = neverFits(queue, heldResources(request.backend, request.resources));
    if (tooLarge) throw new Unprocessable(`the run ${tooLarge}; request less, or ask an admin to raise the queue's caps`, request.fields.resources);
    return { queue: queue.name, priority: request.priority ?? queue.defaultPriority };
  }

  private async requireCached(name: string, field: string): Promise<Queue> {
    const queue = await this.cached.through(QUEUES, name, async () => {
      const found = await this.store.get(name);
      return { body: found, keep: found !== undefined };
    });
    if (!queue) throw await this.missing(name, field, Unprocessable);
    return queue;
  }

  private forget(): void {
    this.cached.deleteGroup(QUEUES);
  }

  private async require(name: string, field: string, Err: typeof NotFound | typeof Unprocessable): Promise<Queue> {
    const queue = await this.store.get(name);
    if (!queue) throw await this.missing(name, field, Err);
    return queue;
  }

  private async missing(name: string, field: string, Err: typeof NotFound | typeof Unprocessable): Promise<Error> {
    const names = await this.store.names();
    const closest = closestName(name, names);
    const hint = closest ? `; did you mean "${closest}"?` : '';
    return new Err(`queue "${name}" does not exist${hint} (queues: ${names.join(', ')}; an admin creates one with POST /api/v1/queues)`, field);
  }
}
