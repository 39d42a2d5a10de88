import { describe, expect, it } from 'vitest';
import { createLogger } from '../../server/logger.ts';
import type { RayJobDetails } from '../../server/executors/rayClient.ts';
import { RayChangeFeed } from '../../server/executors/rayChangeFeed.ts';

/*
 * The Ray executor's change feed, on listings given by the test (what GET /api/jobs/ of a head
 * returns): which runs it tells the reconciler about, and when it says it is not following.
 * The feed against a real head is covered by the bench (reconciler pass between sweeps).
 */
const job = (runId: string, status: RayJobDetails['status'], exit: number | null = null): RayJobDetails => ({
  submission_id: `griffin-run-${runId}-1`,
  job_id: `raysubmit_${runId}`,
  status,
  message: null,
  driver_exit_code: exit,
  start_time: 1,
  end_time: null,
  metadata: { griffin_run_id: runId, griffin_attempt: '1' },
});

function feedOf(listings: Array<RayJobDetails[] | Error>) {
  const told: string[][] = [];
  let current: string[] = [];
  const feed = new RayChangeFeed(
    async () => {
      const next = listings.shift();
      if (!next) throw new Error('no more listings');
      if (next instanceof Error) throw next;
      return next;
    },
    (runId) => current.push(runId),
    createLogger('silent'),
    1_000,
    'the Ray head at http://127.0.0.1:9',
  );
  const poll = async () => {
    current = [];
    await feed.poll();
    told.push(current);
    return current;
  };
  return { feed, poll };
}

describe('Ray change feed', () => {
  it('tells about every Griffin job of the first listing, then only those whose status changed, appeared or disappeared', async () => {
    const foreign = { ...job('x', 'RUNNING'), submission_id: 'someone-elses-job', metadata: null };
    const { feed, poll } = feedOf([
      [job('a', 'RUNNING'), job('b', 'PENDING'), foreign],
      [job('a', 'RUNNING'), job('b', 'PENDING'), foreign],
      [job('a', 'FAILED', 3), job('b', 'RUNNING'), job('c', 'PENDING')],
      [job('a', 'FAILED', 3), job('c', 'PENDING')],
    ]);
    expect(feed.following).toBe(false);
    expect((await poll()).sort()).toEqual(['a', 'b']);
    expect(feed.following).toBe(true);
    expect(await poll()).toEqual([]);
    expect((await poll()).sort()).toEqual(['a', 'b', 'c']);
    // b is gone from the head (a restart, or deleted): the reconciler finds it lost.
    expect(await poll()).toEqual(['b']);
  });

  it('after a failed listing it is not following, and the next listing that works tells about every job again', async () => {
    const { feed, poll } = feedOf([[job('a', 'RUNNING'), job('b', 'RUNNING')], new Error('connect ECONNREFUSED 127.0.0.1:8265'), [job('a', 'RUNNING'), job('b', 'SUCCEEDED')]]);
    await poll();
    expect(await poll()).toEqual([]);
    expect(feed.following).toBe(false);
    expect((await poll()).sort()).toEqual(['a', 'b']);
    expect(feed.following).toBe(true);
  });
});
