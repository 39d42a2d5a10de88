import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServiceProcess, type ServiceProcess } from '../helpers/process.ts';
import { accepted, startPrivateCluster, submit, type Outcome, type PrivateCluster } from '../helpers/faults.ts';

/**
 * PostgreSQL goes away while submissions are in flight and comes back: the service answers 503
 * with Retry-After meanwhile, recovers without a restart, and every submission it accepted exists.
 */
describe('PostgreSQL restarted under submissions', () => {
  let cluster: PrivateCluster | undefined;
  let svc: ServiceProcess | undefined;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'griffin-pgfault-data-'));
  afterAll(async () => {
    if (process.env.GRIFFIN_FAULT_DEBUG) fs.writeFileSync(process.env.GRIFFIN_FAULT_DEBUG, svc?.output() ?? '');
    await svc?.stop('SIGTERM');
    await cluster?.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers 503 + Retry-After during the outage, recovers by itself, and loses no accepted submission', { timeout: 240_000 }, async () => {
    cluster = await startPrivateCluster();
    // One local run at a time keeps the machine free for the test; the dispatcher still has to recover.
    svc = await startServiceProcess({ GRIFFIN_DATABASE_URL: cluster.url, GRIFFIN_DATA_DIR: dataDir, GRIFFIN_MAX_LOCAL_RUNS: '1' });
    const base = svc.baseUrl;
    const outcomes: Outcome[] = [];
    let n = 0;
    const nextKey = () => `pgfault-${(n += 1)}`;
    for (let i = 0; i < 3; i += 1) outcomes.push(await submit(base, nextKey()));
    expect(outcomes.every(accepted)).toBe(true);

    // Four clients submit continuously across the whole outage.
    let load = true;
    const clients = Array.from({ length: 4 }, async () => {
      while (load) {
        outcomes.push(await submit(base, nextKey()));
        await new Promise((r) => setTimeout(r, 20));
      }
    });
    await new Promise((r) => setTimeout(r, 1000));
    await cluster.stop(); // fast shutdown: open connections are terminated mid-query

    const during = await submit(base, 'pgfault-during-outage');
    expect(during.status).toBe(503);
    expect(during.code).toBe('unavailable');
    expect(Number(during.retryAfter)).toBeGreaterThan(0);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);

    await cluster.start();
    const deadline = Date.now() + 60_000;
    let recovered: Outcome | undefined;
    while (!recovered) {
      const probe = await submit(base, nextKey());
      outcomes.push(probe);
      if (accepted(probe)) recovered = probe;
      else if (Date.now() > deadline) throw new Error(`the service did not recover: last answer ${probe.status}`);
      else await new Promise((r) => setTimeout(r, 250));
    }
    await new Promise((r) => setTimeout(r, 1000));
    load = false;
    await Promise.all(clients);
    expect(svc.child.exitCode).toBeNull(); // recovered without a restart
    expect((await fetch(`${base}/readyz`)).status).toBe(200);

    const failedDuring = outcomes.filter((o) => !accepted(o));
    expect(failedDuring.length).toBeGreaterThan(0);
    // During the outage the service refused cleanly: 503, never another 5xx or a dropped connection.
    expect(failedDuring.filter((o) => o.status !== 503)).toEqual([]);

    // Every accepted submission exists, once, under its key.
    for (const o of outcomes.filter(accepted)) {
      const byKey = await svc.api('GET', `/api/v1/runs?idempotencyKey=${o.key}`);
      expect(byKey.body.items.map((r: { id: string }) => r.id), o.key).toEqual([o.id]);
    }
    // A refused submission retried with its key ends with exactly one run (whether or not the first try was stored).
    for (const o of failedDuring) {
      const again = await submit(base, o.key);
      expect(accepted(again), `${o.key}: ${again.status}`).toBe(true);
      const byKey = await svc.api('GET', `/api/v1/runs?idempotencyKey=${o.key}`);
      expect(byKey.body.items.map((r: { id: string }) => r.id)).toEqual([again.id]);
    }

    // The dispatcher recovered too: a run submitted after the outage is picked up.
    const after = recovered.id!;
    const queued = (await svc.api('GET', '/api/v1/runs?state=queued&limit=500')).body.items as Array<{ id: string }>;
    for (const r of queued.filter((q) => q.id !== after)) await svc.api('POST', `/api/v1/runs/${r.id}/cancel`, { reason: 'fault test cleanup' });
    const picked = Date.now() + 60_000;
    for (;;) {
      const run = (await svc.api('GET', `/api/v1/runs/${after}`)).body;
      if (run.terminal) {
        expect(run.state, run.reason).toBe('succeeded');
        break;
      }
      if (Date.now() > picked) throw new Error(`run ${after} still ${run.state} after the outage`);
      await new Promise((r) => setTimeout(r, 250));
    }
    // Leave nothing running behind.
    const active = (await svc.api('GET', '/api/v1/runs?limit=500')).body.items.filter((r: { terminal: boolean }) => !r.terminal);
    for (const r of active) await svc.api('POST', `/api/v1/runs/${r.id}/cancel`, { reason: 'fault test cleanup' });
  });
});
