import { describe, expect, it } from 'vitest';
import { AuthService } from '../../server/services/authService.ts';
import type { Principal } from '../../server/domain/index.ts';

/*
 * A scoring run's token may read the artifacts of the run that produced its input model version,
 * and nothing else: not another run's artifacts, not that run's writes. authorize() is pure, so it
 * is called on its own here; tests/executors/trainScore.test.ts has the token doing it for real.
 */
const authorize = (principal: Principal, opts: Parameters<AuthService['authorize']>[2]) => AuthService.prototype.authorize.call({}, principal, 'viewer', opts);
const scoring: Principal = { kind: 'run', runId: 'scorer', inputModelRunId: 'trainer' };

describe('run tokens and input models', () => {
  it('reads the artifacts of the run that made its input model', () => {
    expect(() => authorize(scoring, { runId: 'trainer', allowInputModelToken: true })).not.toThrow();
  });

  it('reads no other run, and writes nothing into the input model\'s run', () => {
    expect(() => authorize(scoring, { runId: 'someone-else', allowInputModelToken: true })).toThrow(/run-scoped token may only/);
    expect(() => authorize(scoring, { runId: 'trainer', allowRunToken: true })).toThrow(/run-scoped token may only/);
    expect(() => authorize({ kind: 'run', runId: 'plain' }, { runId: 'trainer', allowInputModelToken: true })).toThrow(/run-scoped token may only/);
  });
});
