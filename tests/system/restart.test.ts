import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startServiceProcess, type ServiceProcess } from '../helpers/process.ts';

/** The service as a real process: killed hard, started again, nothing left dangling. */
describe('service restart', () => {
  const started: ServiceProcess[] = [];
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'griffin-restart-'));
  afterEach(async () => {
    for (const s of started.splice(0)) await s.stop('SIGKILL');
  });

  const waitFor = async (svc: ServiceProcess, id: string, done: (run: any) => boolean, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { body } = await svc.api('GET', `/api/v1/runs/${id}`);
      if (done(body)) return body;
      if (Date.now() > deadline) throw new Error(`run ${id} stuck in ${body.state}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  it('after SIGKILL of the service, a run whose process lives on is re-attached and finishes; one whose process died is failed with a reason', async () => {
    const first = await startServiceProcess({ GRIFFIN_DATA_DIR: dataDir });
    started.push(first);
    const survivor = (await first.api('POST', '/api/v1/runs', { workflow: 'grocery-reorder', overrides: { hyperparameters: { sleep_per_epoch: 0.4 } } })).body;
    const victim = (await first.api('POST', '/api/v1/runs', { workflow: 'grocery-reorder', overrides: { hyperparameters: { sleep_per_epoch: 5 } } })).body;
    const running = await waitFor(first, victim.id, (r) => r.state === 'running');
    await waitFor(first, survivor.id, (r) => r.state === 'running');

    expect(await first.stop('SIGKILL')).toBeNull();
    // While the service is down, the victim's training process is killed from outside.
    process.kill(-running.backendRef.pid, 'SIGKILL');

    const second = await startServiceProcess({ GRIFFIN_DATA_DIR: dataDir }, first.port);
    started.push(second);
    const finished = await waitFor(second, survivor.id, (r) => r.terminal);
    expect(finished.state).toBe('succeeded');
    expect(finished.modelVersion).not.toBeNull();
    const failed = await waitFor(second, victim.id, (r) => r.terminal);
    expect(failed.state).toBe('failed');
    expect(failed.reason).toMatch(/without recording an exit status|SIGKILL/);

    const active = (await second.api('GET', '/api/v1/runs?limit=500')).body.items.filter((r: any) => !r.terminal);
    expect(active).toEqual([]);
  });

  it('SIGTERM stops the service cleanly and leaves an active run to the next start', async () => {
    const svc = await startServiceProcess({ GRIFFIN_DATA_DIR: dataDir });
    started.push(svc);
    const run = (await svc.api('POST', '/api/v1/runs', { workflow: 'grocery-reorder', overrides: { hyperparameters: { sleep_per_epoch: 0.5 } } })).body;
    await waitFor(svc, run.id, (r) => r.state === 'running');
    expect(await svc.stop('SIGTERM')).toBe(0);
    const next = await startServiceProcess({ GRIFFIN_DATA_DIR: dataDir }, svc.port);
    started.push(next);
    expect((await waitFor(next, run.id, (r) => r.terminal)).state).toBe('succeeded');
  });
});
