import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Run } from '../../server/domain/index.ts';
import { Transitions } from '../../server/domain/index.ts';
import { ExecutorRegistry } from '../../server/executors/registry.ts';
import { createLogger } from '../../server/logger.ts';
import type { RegistryService } from '../../server/services/registryService.ts';
import type { RunService } from '../../server/services/runService.ts';
import { RunStore } from '../../server/store/runStore.ts';
import { Launcher } from '../../server/workers/launcher.ts';
import { Reconciler } from '../../server/workers/reconciler.ts';
import { AttemptEnd } from '../../server/workers/attemptEnd.ts';
import { RayApiError } from '../../server/executors/rayClient.ts';
import { StateConflict } from '../../server/errors.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { FakeExecutor } from '../helpers/fakeExecutor.ts';
import { newRun, TEST_SPEC } from '../helpers/runs.ts';

/*
 * The reconciler's decisions, one at a time, against a fake backend (tests/helpers/fakeExecutor.ts)
 * and the real run store on SQLite: what it does with a run past its deadline, a lost process, a
 * cancel the backend has not confirmed yet, and a launch whose owner died. No process is started.
 */

const iso = (offsetMs: number) => new Date(Date.now() + offsetMs).toISOString();
const logger = createLogger('silent');

describe('reconciler decisions', () => {
  let t: TestDatabase;
  let runs: RunStore;
  let backend: FakeExecutor;
  let reconciler: Reconciler;

  beforeAll(async () => {
    t = await createTestDatabase('sqlite');
    runs = new RunStore(t.db);
  });
  afterAll(async () => t.destroy());
  beforeEach(() => {
    backend = new FakeExecutor('local');
    const executors = new ExecutorRegistry();
    executors.register(backend);
    // The launcher needs of RunService only the environment a process would see.
    const runService = { environment: () => ({}), launchEnvironment: async () => ({}) } as unknown as RunService;
    const launcher = new Launcher(runs, runService, executors, { leaseSeconds: 30 }, logger);
    const registry = {} as RegistryService; // no run here registers a model
    reconciler = new Reconciler(runs, executors, registry, launcher, { instanceId: 'this-replica', leaseSeconds: 30, fullSweepMs: 60_000, eventedBackends: ['local'] }, logger);
  });

  const queued = (backendName: Run['backend'] = 'local') =>
    runs.insert(newRun({ spec: { ...TEST_SPEC, backend: backendName }, backend: backendName }));
  const launching = async (leaseExpiresAt: string) => {
    const run = await queued();
    return runs.transition(run.id, Transitions.claimed, 'claimed by a replica that died', { leaseOwner: 'dead-replica', leaseExpiresAt });
  };
  const running = async (deadlineAt = iso(60_000), backendName: Run['backend'] = 'local') => {
    const run = await queued(backendName);
    await runs.transition(run.id, Transitions.claimed, null, { leaseOwner: 'r', leaseExpiresAt: iso(30_000) });
    return runs.transition(run.id, Transitions.started, 'started', { backendRef: { name: `fake-${run.id}-1` }, startedAt: iso(0), deadlineAt });
  };
  const cancelling = async (requestedAt: string) => {
    const run = await running();
    return runs.transition(run.id, Transitions.cancelRequested, 'cancelled by request', { cancelRequestedAt: requestedAt });
  };
  const stateOf = async (id: string) => (await runs.get(id))!;

  it('fails a run still running past its deadline, and stops it with force', async () => {
    const late = await running(iso(-1_000));
    const onTime = await running(iso(60_000));
    await reconciler.sweepAll();
    expect(await stateOf(late.id)).toMatchObject({ state: 'failed', reason: 'timed out: still running after the 60 s timeout' });
    expect(backend.callsOf('cancel', late.id)).toEqual([{ op: 'cancel', runId: late.id, force: true }]);
    expect((await stateOf(onTime.id)).state).toBe('running');
    expect(backend.callsOf('cancel', onTime.id)).toEqual([]);
  });

  it('fails a run whose process the backend has lost, saying so', async () => {
    const run = await running();
    backend.report(run.id, { phase: 'lost', reason: 'its process group is gone and left no exit status' });
    await reconciler.sweepAll();
    expect(await stateOf(run.id)).toMatchObject({ state: 'failed', reason: 'its process group is gone and left no exit status' });
  });

  it('marks a run succeeded when the backend says it finished', async () => {
    const run = await running();
    backend.report(run.id, { phase: 'succeeded' });
    await reconciler.sweepAll();
    expect(await stateOf(run.id)).toMatchObject({ state: 'succeeded', reason: 'the training process finished successfully' });
  });

  it('asks politely during the cancel grace, with force after it, and confirms once nothing runs', async () => {
    const fresh = await cancelling(iso(-1_000));
    const overdue = await cancelling(iso(-31_000));
    await reconciler.sweepAll();
    expect(backend.callsOf('cancel', fresh.id)).toEqual([{ op: 'cancel', runId: fresh.id, force: false }]);
    expect(backend.callsOf('cancel', overdue.id)).toEqual([{ op: 'cancel', runId: overdue.id, force: true }]);
    expect((await stateOf(fresh.id)).state).toBe('cancelling');

    backend.report(fresh.id, { phase: 'failed', reason: 'terminated by signal' });
    await reconciler.sweepAll();
    expect(await stateOf(fresh.id)).toMatchObject({ state: 'cancelled', reason: 'cancelled by request' });
  });

  it('leaves a cancelling run alone while its backend cannot be asked', async () => {
    const run = await cancelling(iso(-60_000));
    backend.report(run.id, { phase: 'unknown', reason: 'the backend is unreachable' });
    await reconciler.sweepAll();
    expect((await stateOf(run.id)).state).toBe('cancelling');
    expect(backend.callsOf('cancel', run.id)).toEqual([]);
  });

  it('adopts a launch whose lease ran out and launches it again; a live lease is left to its owner', async () => {
    const orphan = await launching(iso(-1_000));
    const owned = await launching(iso(30_000));
    await reconciler.sweepAll();
    expect(backend.callsOf('launch', orphan.id)).toHaveLength(1);
    expect(await stateOf(orphan.id)).toMatchObject({ state: 'running', backendRef: { name: `fake-${orphan.id}-1` }, leaseOwner: null });
    expect(backend.callsOf('launch', owned.id)).toEqual([]);
    expect(await stateOf(owned.id)).toMatchObject({ state: 'launching', leaseOwner: 'dead-replica' });
  });

  it('fails the adopted launch when the backend refuses it', async () => {
    const orphan = await launching(iso(-1_000));
    backend.launchError = new Error('image pull refused');
    await reconciler.sweepAll();
    expect(await stateOf(orphan.id)).toMatchObject({ state: 'failed', reason: 'launch failed: image pull refused' });
  });

  it('fails a run whose backend is no longer configured on this server', async () => {
    const run = await running(iso(60_000), 'ray');
    await reconciler.sweepAll();
    expect(await stateOf(run.id)).toMatchObject({ state: 'failed', reason: 'the ray backend is not configured on this server any more' });
  });

  describe('retries', () => {
    const withPolicy = (policy: Record<string, unknown>) => ({ ...TEST_SPEC, ...policy }) as typeof TEST_SPEC;
    const runningWith = async (policy: Record<string, unknown>, deadlineAt = iso(60_000)) => {
      const run = await runs.insert(newRun({ spec: withPolicy(policy) }));
      await runs.transition(run.id, Transitions.claimed, null, { leaseOwner: 'r', leaseExpiresAt: iso(30_000) });
      return runs.transition(run.id, Transitions.started, 'started', { backendRef: { name: `fake-${run.id}-1` }, startedAt: iso(0), deadlineAt });
    };
    const lastEvent = async (id: string) => (await runs.events(id)).at(-1)!;

    it('queues a run the backend lost again for its next attempt, with its backoff on the run and no reference to the old attempt', async () => {
      const run = await runningWith({ maxAttempts: 3, retryBackoffSeconds: 60 });
      backend.report(run.id, { phase: 'lost', reason: 'the node went away' });
      const before = Date.now();
      await reconciler.sweepAll();
      const after = await stateOf(run.id);
      expect(after).toMatchObject({ state: 'queued', attempt: 2, backendRef: null, startedAt: null, deadlineAt: null, leaseOwner: null, finishedAt: null });
      const wait = Date.parse(after.notBefore!) - before;
      expect(wait).toBeGreaterThanOrEqual(30_000 - 50);
      expect(wait).toBeLessThanOrEqual(60_000 + 10_000);
      expect((await lastEvent(run.id)).reason).toMatch(/^attempt 1 ended: the node went away; retrying in \d+ s \(attempt 2 of 3\)$/);
      expect(after.reason).toBe((await lastEvent(run.id)).reason);
      // Not claimed while the backoff lasts.
      expect((await runs.claimQueued('me', iso(30_000), 100)).map((r) => r.id)).not.toContain(run.id);
    });

    it('retries a failure the backend marks as the infrastructure\'s, and not the code\'s own exit', async () => {
      const killed = await runningWith({ maxAttempts: 2, retryBackoffSeconds: 0 });
      const exited = await runningWith({ maxAttempts: 2, retryBackoffSeconds: 0 });
      backend.report(killed.id, { phase: 'failed', reason: 'the training process was killed by signal SIGKILL (exit code 137)', infrastructure: true });
      backend.report(exited.id, { phase: 'failed', reason: 'the training process exited with code 1' });
      await reconciler.sweepAll();
      expect(await stateOf(killed.id)).toMatchObject({ state: 'queued', attempt: 2 });
      expect(await stateOf(exited.id)).toMatchObject({ state: 'failed', attempt: 1 });
      // With no backoff, the next attempt can be claimed at once.
      expect((await runs.claimQueued('me', iso(30_000), 100)).map((r) => r.id)).toContain(killed.id);
    });

    it('fails the last attempt for good, saying it was the last', async () => {
      const run = await runningWith({ maxAttempts: 2, retryBackoffSeconds: 0 });
      backend.report(run.id, { phase: 'lost', reason: 'gone' });
      await reconciler.sweepAll();
      await runs.transition(run.id, Transitions.claimed, null, { leaseOwner: 'r', leaseExpiresAt: iso(30_000) });
      await runs.transition(run.id, Transitions.started, 'started', { backendRef: { name: `fake-${run.id}-2` }, startedAt: iso(0), deadlineAt: iso(60_000) });
      backend.report(run.id, { phase: 'lost', reason: 'gone again' });
      await reconciler.sweepAll();
      expect(await stateOf(run.id)).toMatchObject({ state: 'failed', attempt: 2, reason: 'gone again (attempt 2 of 2; no attempts left)' });
    });

    it('retries a launch the backend refused for its own reasons (Ray: "try again later") under retryOn infrastructure', async () => {
      const run = await runs.insert(newRun({ spec: withPolicy({ maxAttempts: 2, retryBackoffSeconds: 0 }) }));
      await runs.transition(run.id, Transitions.claimed, 'claimed by a replica that died', { leaseOwner: 'dead-replica', leaseExpiresAt: iso(-1_000) });
      backend.launchError = new RayApiError(500, 'the Ray Jobs API refused the job: No available agent to submit job, please try again later');
      await reconciler.sweepAll();
      expect(await stateOf(run.id)).toMatchObject({ state: 'queued', attempt: 2 });
      expect(new RayApiError(500, 'the Ray Jobs API refused the job: runtime_env is invalid').infrastructure).toBe(false);
    });

    it('a stale judgement of an attempt another replica already retried changes nothing, though the run is running again', async () => {
      const stale = await runningWith({ maxAttempts: 3, retryBackoffSeconds: 0 });
      backend.report(stale.id, { phase: 'lost', reason: 'gone' });
      await reconciler.sweepAll();
      await runs.transition(stale.id, Transitions.claimed, null, { leaseOwner: 'r', leaseExpiresAt: iso(30_000) });
      await runs.transition(stale.id, Transitions.started, 'started', { backendRef: { name: `fake-${stale.id}-2` }, startedAt: iso(0), deadlineAt: iso(60_000) });
      // A replica that read the run while attempt 1 was running decides now.
      await expect(new AttemptEnd(runs, {}, logger).failed(stale, Transitions.failed, 'attempt 1 is gone', { infrastructure: true })).rejects.toBeInstanceOf(StateConflict);
      expect(await stateOf(stale.id)).toMatchObject({ state: 'running', attempt: 2, backendRef: { name: `fake-${stale.id}-2` } });
    });

    it('retries a timed-out attempt only when retryOn is any', async () => {
      const any = await runningWith({ maxAttempts: 2, retryOn: 'any', retryBackoffSeconds: 0 }, iso(-1_000));
      const infra = await runningWith({ maxAttempts: 2, retryBackoffSeconds: 0 }, iso(-1_000));
      await reconciler.sweepAll();
      expect(await stateOf(any.id)).toMatchObject({ state: 'queued', attempt: 2 });
      expect(backend.callsOf('cancel', any.id)).toEqual([{ op: 'cancel', runId: any.id, force: true }]);
      expect(await stateOf(infra.id)).toMatchObject({ state: 'failed', attempt: 1 });
    });

    it('retries a refused launch only when retryOn is any', async () => {
      const claimedWith = async (policy: Record<string, unknown>) => {
        const run = await runs.insert(newRun({ spec: withPolicy(policy) }));
        return runs.transition(run.id, Transitions.claimed, 'claimed by a replica that died', { leaseOwner: 'dead-replica', leaseExpiresAt: iso(-1_000) });
      };
      const any = await claimedWith({ maxAttempts: 2, retryOn: 'any', retryBackoffSeconds: 0 });
      const infra = await claimedWith({ maxAttempts: 2, retryBackoffSeconds: 0 });
      backend.launchError = new Error('image pull refused');
      await reconciler.sweepAll();
      expect(await stateOf(any.id)).toMatchObject({ state: 'queued', attempt: 2, leaseOwner: null, leaseExpiresAt: null });
      expect((await lastEvent(any.id)).reason).toMatch(/^attempt 1 ended: launch failed: image pull refused; retrying/);
      expect(await stateOf(infra.id)).toMatchObject({ state: 'failed', attempt: 1 });
    });
  });

  it('between sweeps, asks about runs of a backend that follows its changes only when told, and polls all of them while it does not follow', async () => {
    const kube = new FakeExecutor('kubernetes');
    let following = true;
    Object.assign(kube, { followingChanges: () => following });
    const executors = new ExecutorRegistry();
    executors.register(backend);
    executors.register(kube);
    const launcher = new Launcher(runs, { environment: () => ({}) } as unknown as RunService, executors, { leaseSeconds: 30 }, logger);
    const between = new Reconciler(runs, executors, {} as RegistryService, launcher, { instanceId: 'this-replica', leaseSeconds: 30, fullSweepMs: 3_600_000, eventedBackends: ['local'] }, logger);
    const told = await running(iso(60_000), 'kubernetes');
    const quiet = await running(iso(60_000), 'kubernetes');
    await between.pass(); // the first pass is a full sweep
    kube.calls.length = 0;

    await between.pass();
    expect(kube.callsOf('status')).toEqual([]);

    kube.report(told.id, { phase: 'failed', reason: 'the Kubernetes Job failed (BackoffLimitExceeded)' });
    between.markChanged(told.id);
    await between.pass();
    expect(kube.callsOf('status').map((c) => c.runId)).toEqual([told.id]);
    expect(await stateOf(told.id)).toMatchObject({ state: 'failed', reason: 'the Kubernetes Job failed (BackoffLimitExceeded)' });

    // The watch broke: until it follows again, every pass asks about every run of the backend.
    following = false;
    kube.report(quiet.id, { phase: 'lost', reason: 'the Kubernetes Job does not exist' });
    await between.pass();
    expect(kube.callsOf('status', quiet.id)).toHaveLength(1);
    expect((await stateOf(quiet.id)).state).toBe('failed');
  });
});
