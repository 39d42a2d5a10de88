import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RunStore } from '../../server/store/runStore.ts';
import { QueueStore } from '../../server/store/queueStore.ts';
import { QueueSettings, Transitions, type ResolvedRunSpec } from '../../server/domain/index.ts';
import { newRun, TEST_SPEC } from '../helpers/runs.ts';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';

const lease = () => new Date(Date.now() + 30_000).toISOString();
const withResources = (resources: ResolvedRunSpec['resources']) => ({ ...TEST_SPEC, resources }) as ResolvedRunSpec;

describe.each(supportedDatabases())('claiming within queues on %s', (dbId) => {
  let t: TestDatabase;
  let runs: RunStore;
  let queues: QueueStore;
  beforeEach(async () => {
    t = await createTestDatabase(dbId);
    runs = new RunStore(t.db);
    queues = new QueueStore(t.db);
  });
  afterEach(async () => t.destroy());

  /** Inserts runs one after another, so that their created_at orders them. */
  const insertInOrder = async (...overs: Array<Parameters<typeof newRun>[0]>) => {
    const ids: string[] = [];
    for (const over of overs) {
      ids.push((await runs.insert(newRun(over))).id);
      await new Promise((r) => setTimeout(r, 5));
    }
    return ids;
  };
  const makeQueue = (name: string, settings: Partial<ReturnType<typeof QueueSettings.parse>>) => queues.put(name, QueueSettings.parse(settings), 'admin');

  it('claims the highest priority first, then the oldest', async () => {
    const [oldLow, high, newLow, mid] = await insertInOrder({ priority: -5 }, { priority: 10 }, { priority: -5 }, { priority: 0 });
    const order: string[] = [];
    for (let i = 0; i < 4; i += 1) order.push(...(await runs.claimQueued('me', lease(), 1)).map((r) => r.id));
    expect(order).toEqual([high, mid, oldLow, newLow]);
  });

  it('never has more runs of a queue in flight than maxConcurrentRuns; the waiting ones say which queue holds them', async () => {
    await makeQueue('gpu', { maxConcurrentRuns: 2 });
    const ids = await insertInOrder({ queue: 'gpu' }, { queue: 'gpu' }, { queue: 'gpu' }, { queue: 'gpu' }, {});
    const first = await runs.claimQueued('me', lease(), 10);
    // Two of "gpu" and the run of "default", which the full queue does not hold back.
    expect(first.map((r) => r.id).sort()).toEqual([ids[0], ids[1], ids[4]].sort());
    for (const id of ids.slice(2, 4)) {
      const waiting = (await runs.get(id))!;
      expect(waiting.state).toBe('queued');
      expect(waiting.reason).toBe('waiting for queue gpu: 2 of 2 running');
    }
    expect(await runs.claimQueued('me', lease(), 10)).toEqual([]);
    // One ends: exactly one more launches, the older one, and its reason is cleared.
    await runs.transition(ids[0], Transitions.launchFailed, 'gone');
    const next = await runs.claimQueued('me', lease(), 10);
    expect(next.map((r) => r.id)).toEqual([ids[2]]);
    expect(next[0].reason).toBeNull();
    expect((await runs.get(ids[3]))!.reason).toBe('waiting for queue gpu: 2 of 2 running');
  });

  it('a waiting run\'s reason is written once, not at every pass', async () => {
    await makeQueue('one', { maxConcurrentRuns: 1 });
    const [, waiting] = await insertInOrder({ queue: 'one' }, { queue: 'one' });
    await runs.claimQueued('me', lease(), 5);
    const after = (await runs.get(waiting))!;
    expect(after.reason).toBe('waiting for queue one: 1 of 1 running');
    await new Promise((r) => setTimeout(r, 10));
    await runs.claimQueued('me', lease(), 5);
    await runs.claimQueued('me', lease(), 5);
    expect((await runs.get(waiting))!.updatedAt).toBe(after.updatedAt);
  });

  it('caps the GPUs a queue\'s in-flight runs request, and holds the runs behind one that does not fit', async () => {
    await makeQueue('gpu', { resources: { gpu: 4 } });
    const [a, b, c, d] = await insertInOrder(
      { queue: 'gpu', spec: withResources({ gpu: 2 }) },
      { queue: 'gpu', spec: withResources({ gpu: 1 }) },
      { queue: 'gpu', spec: withResources({ gpu: 2 }) },
      { queue: 'gpu', spec: withResources({ gpu: 1 }) },
    );
    const claimed = await runs.claimQueued('me', lease(), 10);
    // a and b hold 3 of 4; c needs 2; d would fit but waits behind c rather than starve it.
    expect(claimed.map((r) => r.id).sort()).toEqual([a, b].sort());
    expect((await runs.get(c))!.reason).toBe('waiting for queue gpu: 3 of 4 GPUs in use (this run needs 2)');
    expect((await runs.get(d))!.reason).toBe(`waiting for queue gpu: 3 of 4 GPUs in use; run ${c} is first in line and needs 2`);
    await runs.transition(b, Transitions.launchFailed, 'gone');
    expect((await runs.claimQueued('me', lease(), 10)).map((r) => r.id)).toEqual([c]);
    expect((await runs.get(d))!.reason).toBe('waiting for queue gpu: 4 of 4 GPUs in use');
  });

  it('counts CPUs too, and a KubeRay run holds its head and every worker', async () => {
    await makeQueue('ray', { resources: { cpu: 8 } });
    const [big, small] = await insertInOrder(
      { queue: 'ray', backend: 'kuberay', spec: { ...withResources({ cpu: 2, workers: 3 }), backend: 'kuberay' } as ResolvedRunSpec },
      { queue: 'ray', spec: withResources({ cpu: 1 }) },
    );
    expect((await runs.claimQueued('me', lease(), 10)).map((r) => r.id)).toEqual([big]);
    expect((await runs.get(small))!.reason).toBe('waiting for queue ray: 8 of 8 CPUs in use');
  });

  it('a queue held back does not stop a lower-priority run of another queue', async () => {
    await makeQueue('busy', { maxConcurrentRuns: 0 });
    const [held, other] = await insertInOrder({ queue: 'busy', priority: 100 }, { priority: -100 });
    expect((await runs.claimQueued('me', lease(), 1)).map((r) => r.id)).toEqual([other]);
    expect((await runs.get(held))!.reason).toBe('waiting for queue busy: 0 of 0 running');
  });

  it('claimers racing never take a queue over its cap', async () => {
    await makeQueue('two', { maxConcurrentRuns: 2 });
    for (let i = 0; i < 24; i += 1) await runs.insert(newRun({ queue: 'two' }));
    const inFlight = async () => (await t.db('runs').where({ queue: 'two' }).whereIn('state', ['launching', 'running', 'cancelling']).select('id')).map((r) => r.id as string);
    // Rounds of eight claimers at once; between rounds the runs in flight end, making room again.
    for (let round = 0; round < 8; round += 1) {
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => runs.claimQueued(`r${i}`, lease(), 1)));
      const claimed = results.flat();
      expect(claimed.length, `round ${round}`).toBe(2);
      expect(await inFlight()).toHaveLength(2);
      for (const id of await inFlight()) await runs.transition(id, Transitions.launchFailed, 'made room');
    }
  });

  it('a run cannot be stored in a queue that does not exist, and a queue holding runs cannot be deleted', async () => {
    await expect(runs.insert(newRun({ queue: 'nope' }))).rejects.toThrow(/queue "nope" does not exist/);
    await makeQueue('busy', {});
    const id = (await runs.insert(newRun({ queue: 'busy' }))).id;
    expect(await queues.delete('busy')).toEqual({ deleted: false, active: { queued: 1 } });
    await runs.transition(id, Transitions.cancelledQueued, 'x');
    expect((await queues.delete('busy')).deleted).toBe(true);
    expect(await queues.get('busy')).toBeUndefined();
  });
});
