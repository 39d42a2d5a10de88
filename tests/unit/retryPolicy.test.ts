import { describe, expect, it } from 'vitest';
import { finalReason, MAX_RETRY_DELAY_SECONDS, retryDelaySeconds, retryPolicyOf, retryReason, shouldRetry } from '../../server/domain/index.ts';
import { describeExitStatus, isRayInfrastructureMessage, signalOfExit } from '../../server/executors/exitStatus.ts';

const policy = (fields: Parameters<typeof retryPolicyOf>[0] = {}) => retryPolicyOf(fields);

describe('the retry backoff', () => {
  it('doubles from retryBackoffSeconds with each attempt', () => {
    const p = policy({ maxAttempts: 10, retryBackoffSeconds: 3 });
    const ceilings = [1, 2, 3, 4].map((ended) => retryDelaySeconds(p, ended, () => 1));
    expect(ceilings).toEqual([3, 6, 12, 24]);
  });

  it('keeps its jitter between half the ceiling and the ceiling, whatever the random source says', () => {
    const p = policy({ maxAttempts: 10, retryBackoffSeconds: 8 });
    expect(retryDelaySeconds(p, 2, () => 0)).toBe(8);
    expect(retryDelaySeconds(p, 2, () => 0.5)).toBe(12);
    expect(retryDelaySeconds(p, 2, () => 0.999999)).toBeCloseTo(16, 2);
    for (let i = 0; i < 200; i += 1) {
      const delay = retryDelaySeconds(p, 2);
      expect(delay).toBeGreaterThanOrEqual(8);
      expect(delay).toBeLessThanOrEqual(16);
    }
    // A random source out of [0, 1) cannot push the delay out of the bounds.
    expect(retryDelaySeconds(p, 2, () => 7)).toBe(16);
    expect(retryDelaySeconds(p, 2, () => -3)).toBe(8);
  });

  it('is capped however many attempts came before', () => {
    const p = policy({ maxAttempts: 10, retryBackoffSeconds: 3600 });
    expect(retryDelaySeconds(p, 9, () => 1)).toBe(MAX_RETRY_DELAY_SECONDS);
    expect(retryDelaySeconds(policy({ maxAttempts: 10, retryBackoffSeconds: 100 }), 9, () => 1)).toBe(MAX_RETRY_DELAY_SECONDS);
  });

  it('is zero when retryBackoffSeconds is zero', () => {
    expect(retryDelaySeconds(policy({ maxAttempts: 3, retryBackoffSeconds: 0 }), 2, () => 0.7)).toBe(0);
  });
});

describe('the retry decision', () => {
  it('defaults to one attempt, retrying infrastructure failures after 10 s', () => {
    expect(policy()).toEqual({ maxAttempts: 1, retryOn: 'infrastructure', retryBackoffSeconds: 10 });
    expect(shouldRetry(policy(), 1, { infrastructure: true })).toBe(false);
  });

  it('retries infrastructure failures only, unless retryOn is any, and never past maxAttempts', () => {
    const infra = policy({ maxAttempts: 3 });
    expect(shouldRetry(infra, 1, { infrastructure: true })).toBe(true);
    expect(shouldRetry(infra, 1, { infrastructure: false })).toBe(false);
    expect(shouldRetry(infra, 3, { infrastructure: true })).toBe(false);
    const any = policy({ maxAttempts: 3, retryOn: 'any' });
    expect(shouldRetry(any, 2, { infrastructure: false })).toBe(true);
    expect(shouldRetry(any, 3, { infrastructure: false })).toBe(false);
  });

  it('words the event of a retry and the reason of a final failure', () => {
    expect(retryReason(1, 'killed by signal SIGKILL', 3, 2)).toBe('attempt 1 ended: killed by signal SIGKILL; retrying in 3 s (attempt 2 of 2)');
    expect(retryReason(2, 'x', 12.4, 5)).toBe('attempt 2 ended: x; retrying in 12 s (attempt 3 of 5)');
    expect(finalReason(policy(), 1, 'exited with code 1', { infrastructure: false })).toBe('exited with code 1');
    expect(finalReason(policy({ maxAttempts: 2 }), 2, 'killed', { infrastructure: true })).toBe('killed (attempt 2 of 2; no attempts left)');
    expect(finalReason(policy({ maxAttempts: 2 }), 1, 'exited with code 1', { infrastructure: false })).toMatch(/not retried: retryOn is infrastructure/);
  });
});

describe('exit statuses', () => {
  it('tells a signal (the infrastructure) from the code\'s own exit', () => {
    expect(signalOfExit(137)).toBe('SIGKILL');
    expect(signalOfExit(143)).toBe('SIGTERM');
    expect(signalOfExit(1)).toBeUndefined();
    expect(signalOfExit(128)).toBeUndefined();
    expect(describeExitStatus(137)).toEqual({ reason: 'the training process was killed by signal SIGKILL (exit code 137)', infrastructure: true });
    expect(describeExitStatus(2, '(Ray job r1)')).toEqual({ reason: 'the training process exited with code 2 (Ray job r1)', infrastructure: false });
  });

  it('reads lost nodes, dead workers and OOM in Ray\'s failure messages', () => {
    expect(isRayInfrastructureMessage('Job failed due to an application error: ValueError: bad label')).toBe(false);
    expect(isRayInfrastructureMessage('The node with node id abc has been marked dead because the detector has missed too many heartbeats')).toBe(true);
    expect(isRayInfrastructureMessage('ray.exceptions.OutOfMemoryError: Task was killed due to the node running low on memory')).toBe(true);
    expect(isRayInfrastructureMessage('ray.exceptions.WorkerCrashedError: The worker died unexpectedly')).toBe(true);
  });
});
