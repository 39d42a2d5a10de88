import fs from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { startServiceProcess, type ServiceProcess } from '../helpers/process.ts';
import { defineModel, makeCodeRoot, makeWorkRoot } from '../helpers/localRuns.ts';

/**
 * A large code directory and a one-second lease: the launch must keep its lease while it copies,
 * must not stall the event loop doing so, and a takeover of its lease must never produce a run on
 * incomplete code. The training code checks that it sees every file and fails otherwise.
 */
const FILES = 30_000;
const CHECK = `
import os, sys
seen = sum(len(files) for root, dirs, files in os.walk(".") if not root.startswith("./.griffin"))
print(f"files seen: {seen}", flush=True)
sys.exit(0 if seen == ${FILES + 2} else 3)
`;

describe('launch lease during a long copy', () => {
  let t: TestDatabase;
  let a: TestService;
  let b: TestService;
  const code = makeCodeRoot({ 'big/check.py': CHECK, 'big/data.csv': 'x\n1\n' });
  const work = makeWorkRoot();
  let spec: Record<string, unknown>;

  beforeAll(async () => {
    for (let d = 0; d < 100; d += 1) {
      const dir = path.join(code.root, 'big', `pkg${d}`);
      fs.mkdirSync(dir, { recursive: true });
      for (let f = 0; f < FILES / 100; f += 1) fs.writeFileSync(path.join(dir, `m${f}.py`), `X = ${f}\n`);
    }
    t = await createTestDatabase('sqlite');
    const env = { GRIFFIN_CODE_ROOT: code.root, GRIFFIN_LOCAL_WORK_DIR: work.dir, GRIFFIN_LEASE_SECONDS: '1' };
    a = await startTestService(t.db, { dataDir: t.dataDir, loadExamples: false, env });
    b = await startTestService(t.db, { dataDir: t.dataDir, loadExamples: false, env });
    spec = await defineModel(async (method, route, body) => {
      const res = await a.admin((a.request as any)[method.toLowerCase()](route)).send(body as object);
      return { status: res.status, body: res.body };
    }, 'big', 'python check.py');
  }, 120_000);
  // Removing the code and the runs' copies of it (well over 100,000 files) took more than the
  // default 60 s hook time on a machine busy with the other test files; it is not what is tested.
  afterAll(async () => {
    const started = Date.now();
    const took: string[] = [];
    const step = async (name: string, work: () => unknown) => {
      const t0 = Date.now();
      await work();
      took.push(`${name} ${Date.now() - t0} ms`);
    };
    await step('close a', () => a?.close());
    await step('close b', () => b?.close());
    await step('drop the database', () => t?.destroy());
    await step('remove the code', () => code.destroy());
    await step('remove the copies', () => work.destroy());
    if (Date.now() - started > 20_000) console.log(`launch lease clean-up: ${took.join(', ')}`);
  }, 240_000);

  const submit = async () => (await a.admin(a.request.post('/api/v1/runs')).send({ spec })).body.id as string;
  const startLines = async (id: string) => ((await a.admin(a.request.get(`/api/v1/runs/${id}/logs`))).body.text as string).split('\n').filter((l) => l.includes('starting python check.py'));
  const partials = (id: string) => {
    const dir = path.join(work.dir, id);
    return fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.endsWith('.partial')) : [];
  };

  it('the owner heartbeats its lease through a copy longer than the lease: no takeover, one start, complete code', { timeout: 180_000 }, async () => {
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    a.wired.startWorkers();
    b.wired.startWorkers();
    try {
      const id = await submit();
      // The lease expiries written while the run was launching: more than one means it was renewed.
      const expiries = new Set<string>();
      let watching = true;
      const watch = (async () => {
        while (watching) {
          const row = await t.db('runs').where({ id }).first('state', 'lease_expires_at');
          if (row.state === 'launching' && row.lease_expires_at) expiries.add(row.lease_expires_at);
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      const run = await a.waitForRun(id, 150_000);
      watching = false;
      await watch;
      delay.disable();
      expect(run.state, run.reason).toBe('succeeded');
      const claims = run.events.filter((e: { to: string }) => e.to === 'launching');
      expect(claims.length).toBe(1);
      expect(await startLines(id)).toHaveLength(1);
      const started = Date.parse(run.startedAt) - Date.parse(claims[0].at);
      // The figure for the record (not asserted): the longest event-loop stall while launching.
      console.log(`launch of ${FILES} files took ${started} ms with a 1 s lease; longest event-loop delay ${(delay.max / 1e6).toFixed(1)} ms (p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms)`);
      expect(expiries.size).toBeGreaterThan(1); // the copy outlasted the lease, which was renewed
    } finally {
      await a.wired.stopWorkers();
      await b.wired.stopWorkers();
    }
  });

  it('a takeover while the owner is still copying: the owner starts nothing, and the run trains on complete code', { timeout: 180_000 }, async () => {
    const id = await submit();
    // Only `a` dispatches; its launch is copying when the lease is forced to look expired.
    const pass = a.wired.dispatcher.pass();
    while (partials(id).length === 0) await new Promise((r) => setTimeout(r, 20));
    const [ownerPartial] = partials(id);
    await t.db('runs').where({ id }).update({ lease_expires_at: '2000-01-01T00:00:00.000Z' });
    await b.wired.reconciler.sweepAll(); // b takes the lease over and launches (it copies too)
    await pass;
    const run = await b.waitForRun(id, 150_000);
    expect(run.state, run.reason).toBe('succeeded');
    expect(await startLines(id)).toHaveLength(1);
    expect(ownerPartial).not.toContain(run.backendRef.launchId);
    // The owner left nothing behind, and removed nothing of the launch that took over.
    expect(fs.readdirSync(path.join(work.dir, id))).toEqual([path.basename(run.backendRef.workDir)]);
    expect(fs.existsSync(path.join(run.backendRef.workDir, 'check.py'))).toBe(true);
  });

  it('the owner killed mid-copy: after its lease really expired, another service launches on a complete copy and removes the partial one', { timeout: 180_000 }, async () => {
    const env = { GRIFFIN_DATA_DIR: t.dataDir, GRIFFIN_CODE_ROOT: code.root, GRIFFIN_LOCAL_WORK_DIR: work.dir, GRIFFIN_LOAD_EXAMPLES: 'false', GRIFFIN_LEASE_SECONDS: '2' };
    const processes: ServiceProcess[] = [];
    try {
      const owner = await startServiceProcess(env);
      processes.push(owner);
      const id = (await owner.api('POST', '/api/v1/runs', { spec })).body.id as string;
      while (partials(id).length === 0) await new Promise((r) => setTimeout(r, 20));
      const [abandoned] = partials(id);
      await owner.stop('SIGKILL');
      const next = await startServiceProcess(env);
      processes.push(next);
      let run;
      for (;;) {
        run = (await next.api('GET', `/api/v1/runs/${id}`)).body;
        if (run.terminal) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(run.state, run.reason).toBe('succeeded');
      expect(await startLines(id)).toHaveLength(1);
      expect(abandoned).not.toContain(run.backendRef.launchId);
      expect(fs.readdirSync(path.join(work.dir, id))).toEqual([path.basename(run.backendRef.workDir)]);
    } finally {
      for (const p of processes) await p.stop('SIGKILL');
    }
  });
});
