import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { defineModel, makeCodeRoot, makeWorkRoot } from '../helpers/localRuns.ts';

/*
 * Retries by the service, with the real local executor: the training process below ends its first
 * attempt the way FIRST_ATTEMPT says (SIGKILL of itself, or exit 1) after saving a checkpoint, and
 * on a later attempt records what it was given to resume from as an artifact.
 */
const TRAIN = `
import json, os, signal, sys
import griffin_run as g

attempt = g.attempt()
resume_from = os.environ.get("GRIFFIN_RESUME_FROM", "")
print("attempt %d resume_from=%r" % (attempt, resume_from), flush=True)
if attempt == 1:
    with open("state.json", "w") as f:
        json.dump({"epoch": 3, "saved_by_attempt": 1}, f)
    g.save_checkpoint("state.json")
    if os.environ["FIRST_ATTEMPT"] == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    sys.exit(1)
resumed = g.resume_path()
state = json.load(open(os.path.join(resumed, "state.json"))) if resumed else None
with open("seen.json", "w") as f:
    json.dump({"attempt": attempt, "resumeFrom": resume_from, "state": state}, f)
g.upload_artifact("seen.json", wait=True)
print("done", flush=True)
`;

type Api = (method: string, route: string, body?: unknown) => Promise<{ status: number; body: any; text: string }>;

describe.each(supportedDatabases())('service-side retries on %s', (dbId) => {
  let t: TestDatabase;
  let svc: TestService;
  let spec: Record<string, unknown>;
  const code = makeCodeRoot({ 'retry-model/train.py': TRAIN, 'retry-model/data.csv': 'x\n1\n' });
  const work = makeWorkRoot();
  const env = { GRIFFIN_CODE_ROOT: code.root, GRIFFIN_LOCAL_WORK_DIR: work.dir };

  const apiOf =
    (service: () => TestService): Api =>
    async (method, route, body) => {
      const res = await service().admin((service().request as any)[method.toLowerCase()](route)).send(body as object | undefined);
      return { status: res.status as number, body: res.body, text: res.text as string };
    };
  const api = apiOf(() => svc);

  beforeAll(async () => {
    t = await createTestDatabase(dbId);
    svc = await startTestService(t.db, { dataDir: t.dataDir, loadExamples: false, env });
    spec = await defineModel(api, 'retry-model', 'python train.py');
  });
  afterAll(async () => {
    await svc?.close();
    await t?.destroy();
    code.destroy();
    work.destroy();
  });

  const submit = async (fields: Record<string, unknown>, firstAttempt: 'sigkill' | 'exit1') => {
    const res = await api('POST', '/api/v1/runs', { spec: { ...spec, env: { FIRST_ATTEMPT: firstAttempt }, ...fields } });
    expect(res.status, res.text).toBe(201);
    return res.body.id as string;
  };
  const seenBy = async (id: string) => {
    const res = await api('GET', `/api/v1/runs/${id}/artifacts/seen.json`);
    expect(res.status, res.text).toBe(200);
    return JSON.parse(res.text);
  };
  /** Dispatcher and reconciler passes until the run is queued again for its next attempt. */
  const untilRetried = async (id: string) => {
    for (let i = 0; i < 600; i += 1) {
      await svc.wired.dispatcher.pass();
      await svc.wired.reconciler.pass();
      const run = (await api('GET', `/api/v1/runs/${id}`)).body;
      if (run.attempt === 2 && run.state === 'queued') return run;
      if (run.terminal) throw new Error(`run ${id} ended (${run.state}: ${run.reason}) instead of being retried`);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`run ${id} was never queued for a retry`);
  };

  it('a first attempt that SIGKILLs itself is retried: attempt 2 gets GRIFFIN_RESUME_FROM, reads the checkpoint attempt 1 saved, and succeeds as the same run', async () => {
    const id = await submit({ maxAttempts: 2, retryBackoffSeconds: 0.2 }, 'sigkill');
    const run = await svc.waitForRun(id);
    expect(run.state, run.reason).toBe('succeeded');
    expect(run).toMatchObject({ id, attempt: 2, maxAttempts: 2 });
    expect(run.spec).toMatchObject({ maxAttempts: 2, retryOn: 'infrastructure', retryBackoffSeconds: 0.2 });

    expect(run.events.map((e: { to: string }) => e.to)).toEqual(['queued', 'launching', 'running', 'queued', 'launching', 'running', 'succeeded']);
    const retried = run.events[3];
    // The process was killed from outside: its last log line is not offered as the cause.
    expect(retried.reason).toMatch(/^attempt 1 ended: the training process was killed by signal SIGKILL \(exit code 137\); retrying in [\d.]+ s \(attempt 2 of 2\)$/);

    const seen = await seenBy(id);
    expect(seen.attempt).toBe(2);
    expect(seen.resumeFrom).toBe(`${run.artifactUri}checkpoints/`);
    expect(seen.state).toEqual({ epoch: 3, saved_by_attempt: 1 });

    // One run's log holds both attempts.
    const logs = (await api('GET', `/api/v1/runs/${id}/logs`)).body.text;
    expect(logs).toMatch(/attempt 1 resume_from=''/);
    expect(logs).toMatch(/attempt 2 resume_from='http/);

    // Each attempt's usage is recorded, not only the last one's.
    const usage = (await api('GET', `/api/v1/runs/${id}/usage`)).body;
    expect(usage.attempts.map((a: { attempt: number }) => a.attempt)).toEqual([1, 2]);
    expect(usage.attempts[0].endedAt <= usage.attempts[1].startedAt).toBe(true);
    expect(usage.attempts[1]).toMatchObject({ startedAt: run.startedAt, endedAt: run.finishedAt });
  });

  it('with maxAttempts 1 the SIGKILLed run fails with a reason that names the signal, and makes no second attempt', async () => {
    const id = await submit({}, 'sigkill');
    const run = await svc.waitForRun(id);
    expect(run.state).toBe('failed');
    expect(run.reason).toBe('the training process was killed by signal SIGKILL (exit code 137)');
    expect(run).toMatchObject({ attempt: 1, maxAttempts: 1 });
    expect(run.spec).toMatchObject({ maxAttempts: 1, retryOn: 'infrastructure', retryBackoffSeconds: 10 });
    expect(run.events.map((e: { to: string }) => e.to)).toEqual(['queued', 'launching', 'running', 'failed']);
  });

  it('retryOn infrastructure does not retry the training code\'s own exit 1, and says why', async () => {
    const id = await submit({ maxAttempts: 3, retryBackoffSeconds: 0 }, 'exit1');
    const run = await svc.waitForRun(id);
    expect(run.state).toBe('failed');
    expect(run.attempt).toBe(1);
    expect(run.reason).toMatch(/exited with code 1\b.*\(attempt 1 of 3; not retried: retryOn is infrastructure and this was a failure of the training code itself/);
    expect(run.events.filter((e: { to: string }) => e.to === 'launching')).toHaveLength(1);
  });

  it('retryOn any retries exit 1 too; a run\'s overrides take precedence over its workflow\'s policy', async () => {
    const id = await submit({ maxAttempts: 2, retryOn: 'any', retryBackoffSeconds: 0 }, 'exit1');
    const run = await svc.waitForRun(id);
    expect(run.state, run.reason).toBe('succeeded');
    expect(run.attempt).toBe(2);
    expect(run.events[3].reason).toMatch(/^attempt 1 ended: the training process exited with code 1.*\(attempt 2 of 2\)$/);
    expect((await seenBy(id)).state).toEqual({ epoch: 3, saved_by_attempt: 1 });

    // The workflow's policy, tightened by the run's overrides: one attempt, so exit 1 fails it.
    const wf = await api('POST', '/api/v1/workflows', { name: `retry-wf-${dbId}`, ...spec, env: { FIRST_ATTEMPT: 'exit1' }, maxAttempts: 3, retryOn: 'any', retryBackoffSeconds: 0 });
    expect(wf.status, wf.text).toBe(201);
    expect(wf.body).toMatchObject({ maxAttempts: 3, retryOn: 'any', retryBackoffSeconds: 0 });
    const overridden = await api('POST', '/api/v1/runs', { workflow: `retry-wf-${dbId}`, overrides: { maxAttempts: 1 } });
    expect(overridden.body.spec).toMatchObject({ maxAttempts: 1, retryOn: 'any', retryBackoffSeconds: 0 });
    const failed = await svc.waitForRun(overridden.body.id);
    expect(failed.state).toBe('failed');
    expect(failed.reason).toMatch(/exited with code 1/);
    expect(failed.attempt).toBe(1);
  });

  it('the next attempt is not claimed before its backoff is over', async () => {
    const id = await submit({ maxAttempts: 2, retryBackoffSeconds: 2 }, 'sigkill');
    const queued = await untilRetried(id);
    const retriedAt = Date.parse(queued.events.at(-1).at);
    const notBefore = Date.parse(queued.notBefore);
    // Exponential from 2 s with jitter in [1/2, 1]: attempt 2 waits between 1 and 2 s.
    // (The event is written a moment after the end the backoff counts from.)
    expect(notBefore - retriedAt).toBeGreaterThanOrEqual(1000 - 250);
    expect(notBefore - retriedAt).toBeLessThanOrEqual(2000);
    await svc.wired.dispatcher.pass();
    const early = (await api('GET', `/api/v1/runs/${id}`)).body;
    if (Date.now() < notBefore) expect(early.state).toBe('queued');

    const run = await svc.waitForRun(id);
    expect(run.state, run.reason).toBe('succeeded');
    const claims = run.events.filter((e: { to: string }) => e.to === 'launching');
    expect(claims).toHaveLength(2);
    expect(Date.parse(claims[1].at)).toBeGreaterThanOrEqual(notBefore);
  });

  it('a run cancelled while it waits for its next attempt is cancelled, and no further attempt starts', async () => {
    const id = await submit({ maxAttempts: 3, retryBackoffSeconds: 3600 }, 'sigkill');
    const queued = await untilRetried(id);
    expect(queued.reason).toMatch(/retrying in \d+ s \(attempt 2 of 3\)/);
    const cancelled = await api('POST', `/api/v1/runs/${id}/cancel`, { reason: 'not worth waiting' });
    expect(cancelled.status).toBe(202);
    expect(cancelled.body.state).toBe('cancelled');
    for (let i = 0; i < 5; i += 1) {
      await svc.wired.dispatcher.pass();
      await svc.wired.reconciler.sweepAll();
    }
    const run = (await api('GET', `/api/v1/runs/${id}`)).body;
    expect(run.state).toBe('cancelled');
    expect(run.events.map((e: { to: string }) => e.to)).toEqual(['queued', 'launching', 'running', 'queued', 'cancelled']);
    expect((await api('GET', `/api/v1/runs/${id}/logs`)).body.text).not.toMatch(/attempt 2/);
  });

  it('a restart of the service during the backoff loses nothing: the retry still happens', async () => {
    const id = await submit({ maxAttempts: 2, retryBackoffSeconds: 1 }, 'sigkill');
    await untilRetried(id);
    await svc.close();
    svc = await startTestService(t.db, { dataDir: t.dataDir, loadExamples: false, env });
    const run = await svc.waitForRun(id);
    expect(run.state, run.reason).toBe('succeeded');
    expect(run.attempt).toBe(2);
    expect((await seenBy(id)).state).toEqual({ epoch: 3, saved_by_attempt: 1 });
  });

  it('refuses retry settings out of range, naming the field', async () => {
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ spec: { ...spec, maxAttempts: 0 } }, 'spec.maxAttempts', /at least 1/],
      [{ spec: { ...spec, maxAttempts: 11 } }, 'spec.maxAttempts', /at most 10/],
      [{ spec: { ...spec, maxAttempts: 1.5 } }, 'spec.maxAttempts', /whole number/],
      [{ spec: { ...spec, retryOn: 'sometimes' } }, 'spec.retryOn', /"infrastructure", "any"/],
      [{ spec: { ...spec, retryBackoffSeconds: -1 } }, 'spec.retryBackoffSeconds', /0 or more/],
      [{ spec: { ...spec, retryBackoffSeconds: 100_000 } }, 'spec.retryBackoffSeconds', /at most 3600/],
      [{ workflow: `retry-wf-${dbId}`, overrides: { maxAttempts: 11 } }, 'overrides.maxAttempts', /at most 10/],
      [{ workflow: `retry-wf-${dbId}`, overrides: { retryOn: 'sometimes' } }, 'overrides.retryOn', /must be one of/],
    ];
    for (const [body, field, message] of cases) {
      const res = await api('POST', '/api/v1/runs', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.field).toBe(field);
      expect(res.body.error.message).toMatch(message);
      expect(res.body.error.message.startsWith(`${field}: `)).toBe(true);
    }
    const workflow = await api('POST', '/api/v1/workflows', { name: `retry-bad-${dbId}`, ...spec, maxAttempts: 0 });
    expect(workflow.status).toBe(400);
    expect(workflow.body.error.field).toBe('maxAttempts');
  });
});
