import crypto from 'node:crypto';
import got from 'got';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run } from '../../server/domain/index.ts';
import { RayExecutor } from '../../server/executors/ray.ts';
import { rayTestAddress, stopRayJob } from '../helpers/ray.ts';

const address = rayTestAddress();

/** A run record as the reconciler hands it to status(): only its backend reference matters here. */
const runOf = (submissionId: string): Run => ({ id: submissionId.slice(-12), attempt: 1, backend: 'ray', backendRef: { submissionId } }) as unknown as Run;

/**
 * The real Ray head of the test setup: the executor answers the status checks of a pass from one
 * listing of the head's jobs instead of one request per run, and still asks about a job the
 * listing does not have (so a job submitted after the listing never looks lost). The calls are
 * counted by wrapping the executor's own client methods, which still go to the head.
 */
describe.skipIf(!address)('Ray status checks from one listing per head', () => {
  const ids = [1, 2, 3].map((i) => `griffin-listing-${crypto.randomBytes(4).toString('hex')}-${i}`);
  beforeAll(async () => {
    for (const id of ids) await got.post(`${address}/api/jobs/`, { json: { entrypoint: 'echo griffin listing test', submission_id: id }, retry: { limit: 0 } });
  });
  afterAll(async () => {
    for (const id of ids) await stopRayJob(address!, id);
  });

  it('three runs cost one listing; a job missing from the listing is asked about by itself', async () => {
    const executor = new RayExecutor({ address: address!, unreachableGraceSeconds: 60, codeRoot: process.cwd() });
    const calls = { list: 0, get: 0 };
    const list = executor.client.list.bind(executor.client);
    const get = executor.client.get.bind(executor.client);
    executor.client.list = (...args) => ((calls.list += 1), list(...args));
    executor.client.get = (...args) => ((calls.get += 1), get(...args));

    const statuses = await Promise.all(ids.map((id) => executor.status(runOf(id))));
    expect(calls).toEqual({ list: 1, get: 0 });
    for (const status of statuses) expect(['pending', 'running', 'succeeded']).toContain(status.phase);
    // Each status is what the head says about that job.
    const direct = await Promise.all(ids.map((id) => get(id)));
    expect(direct.every((job) => job?.submission_id && ids.includes(job.submission_id))).toBe(true);

    const missing = await executor.status(runOf(`griffin-listing-missing-${crypto.randomBytes(4).toString('hex')}`));
    expect(missing.phase).toBe('lost');
    expect(calls.get).toBe(1);
  });
});
