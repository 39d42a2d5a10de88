import { describe, expect, it } from 'vitest';
import { backoffMs, describeFailure, isTransient, withRetry } from '../../server/executors/retry.ts';
import { unreachableStatus } from '../../server/executors/unreachable.ts';

const connectionRefused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8265'), { code: 'ECONNREFUSED' });
const httpStatus = (statusCode: number) => Object.assign(new Error(`Response code ${statusCode}`), { name: 'HTTPError', response: { statusCode } });
// @kubernetes/client-node's ApiException carries the HTTP status as a numeric `code`.
const apiException = (code: number) => Object.assign(new Error(`HTTP-Code: ${code}`), { code, body: '{}', headers: {} });

describe('the retry policy for backend calls', () => {
  it('retries connection failures, timeouts, 429 and 502-504, and nothing that is an answer', () => {
    expect(isTransient(connectionRefused)).toBe(true);
    expect(isTransient(Object.assign(new Error('fetch failed'), { cause: { code: 'ECONNRESET' } }))).toBe(true);
    expect(isTransient(Object.assign(new Error('Timeout awaiting request'), { name: 'TimeoutError', code: 'ETIMEDOUT' }))).toBe(true);
    for (const code of [429, 502, 503, 504]) {
      expect(isTransient(httpStatus(code))).toBe(true);
      expect(isTransient(apiException(code))).toBe(true);
    }
    // Ray's "already exists" is a 500; Kubernetes' AlreadyExists a 409: answers to act on, not to repeat.
    for (const code of [400, 401, 403, 404, 409, 422, 500]) {
      expect(isTransient(httpStatus(code))).toBe(false);
      expect(isTransient(apiException(code))).toBe(false);
    }
    expect(isTransient(new Error('bad manifest'))).toBe(false);
  });

  it('backs off exponentially with jitter, capped at 4 s', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffMs(n, () => 1))).toEqual([250, 500, 1000, 2000, 4000, 4000]);
    expect([1, 2, 3].map((n) => backoffMs(n, () => 0))).toEqual([125, 250, 500]);
  });

  it('withRetry gives up after the budget, and at once on a refusal', async () => {
    let calls = 0;
    const noSleep = async () => {};
    await expect(withRetry(async () => { calls += 1; throw connectionRefused; }, { attempts: 3, timeoutMs: 1 }, noSleep)).rejects.toBe(connectionRefused);
    expect(calls).toBe(3);
    calls = 0;
    await expect(withRetry(async () => { calls += 1; throw apiException(403); }, { attempts: 3, timeoutMs: 1 }, noSleep)).rejects.toMatchObject({ code: 403 });
    expect(calls).toBe(1);
    expect(await withRetry(async () => (calls += 1) > 2 ? 'ok' : Promise.reject(connectionRefused), { attempts: 5, timeoutMs: 1 }, noSleep)).toBe('ok');
  });

  it('an unreachable backend keeps the run for the grace period from the first failure, then fails it naming the backend', () => {
    const now = Date.parse('2026-01-01T00:10:00Z');
    const first = unreachableStatus({ backendRef: { submissionId: 'x' } }, 'the Ray head at http://ray:8265', connectionRefused, 120, now);
    expect(first).toEqual({ phase: 'unknown', reason: 'the Ray head at http://ray:8265 is unreachable (connect ECONNREFUSED 127.0.0.1:8265)', details: { unreachableSince: '2026-01-01T00:10:00.000Z' } });
    const within = unreachableStatus({ backendRef: { unreachableSince: '2026-01-01T00:08:30.000Z' } }, 'the Ray head at http://ray:8265', connectionRefused, 120, now);
    expect(within.phase).toBe('unknown');
    expect(within.details).toEqual({ unreachableSince: '2026-01-01T00:08:30.000Z' });
    const after = unreachableStatus({ backendRef: { unreachableSince: '2026-01-01T00:07:59.000Z' } }, 'the Ray head at http://ray:8265', connectionRefused, 120, now);
    expect(after).toEqual({ phase: 'failed', reason: 'the Ray head at http://ray:8265 has been unreachable for 121 s (last error: connect ECONNREFUSED 127.0.0.1:8265)', infrastructure: true });
    expect(describeFailure(httpStatus(503))).toBe('HTTP 503');
  });
});
