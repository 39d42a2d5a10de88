import { describe, expect, it } from 'vitest';
import { supportedDatabases } from '../helpers/databases.ts';
import { startServiceProcess } from '../helpers/process.ts';
import { accepted, burstWithKill, databaseEnv, submit, useProcessSuite, type Outcome } from '../helpers/faults.ts';

const BURST = 80;
const KILL_AFTER_ACCEPTED = 10;

/**
 * The service is SIGKILLed in the middle of a burst of submissions and started again; clients
 * retry what they got no answer for, with the same Idempotency-Key, as the README tells them to.
 * Workers are off: this is about what the API accepted (tests/system/restart.test.ts covers runs
 * in flight across a kill).
 */
describe.each(supportedDatabases())('service killed during a burst of submissions on %s', (dbId) => {
  const { started, database } = useProcessSuite();

  it('loses no accepted run and duplicates none; every key maps to one run', { timeout: 180_000 }, async () => {
    const t = await database(dbId);
    const env = { ...databaseEnv(t), GRIFFIN_WORKERS: 'false' };
    const first = await startServiceProcess(env);
    started.push(first);

    const keys = Array.from({ length: BURST }, (_, i) => `burst-${dbId}-${i}`);
    const { outcomes, killed } = await burstWithKill(first, keys, (key) => submit(first.baseUrl, key), accepted, KILL_AFTER_ACCEPTED);
    expect(killed).toBe(true);
    const firstAccepted = outcomes.filter(accepted);
    const unanswered = outcomes.filter((o) => !accepted(o));
    expect(firstAccepted.length).toBeGreaterThanOrEqual(KILL_AFTER_ACCEPTED);
    expect(unanswered.length).toBeGreaterThan(0); // the kill really cut the burst short
    expect(unanswered.every((o) => o.status === 'lost')).toBe(true);

    const second = await startServiceProcess(env, first.port);
    started.push(second);
    const retried = new Map<string, Outcome>();
    for (const o of unanswered) {
      const again = await submit(second.baseUrl, o.key);
      expect(accepted(again), `${o.key}: ${again.status}`).toBe(true);
      retried.set(o.key, again);
    }

    // The database holds exactly one run per key, and it is the one each client was told about.
    const rows = (await t.db('runs').select('id', 'idempotency_key')) as Array<{ id: string; idempotency_key: string }>;
    expect(rows.length).toBe(BURST);
    const byKey = new Map(rows.map((r) => [r.idempotency_key, r.id]));
    expect(byKey.size).toBe(BURST);
    for (const o of firstAccepted) expect(byKey.get(o.key), o.key).toBe(o.id);
    for (const [key, o] of retried) expect(byKey.get(key), key).toBe(o.id);
    // Retries of submissions stored just before the kill found their run (200) instead of adding one.
    const found = [...retried.values()].filter((o) => o.status === 200).length;
    const added = [...retried.values()].filter((o) => o.status === 201).length;
    expect(found + added).toBe(unanswered.length);
  });
});
