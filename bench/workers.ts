import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import { loadConfig, PROJECT_ROOT } from '../server/config.ts';
import { createLogger } from '../server/logger.ts';
import { connect } from '../server/db/connect.ts';
import { migrateLatest } from '../server/db/migrate.ts';
import { wire, type Wired } from '../server/wire.ts';
import { seedCatalog } from '../server/services/seed.ts';
import { newRunId } from '../server/ids.ts';
import { ModelCreate, RunCreate, WorkflowCreate } from '../server/domain/index.ts';
import { freshSchema, log, tempDir, type Row } from './lib.ts';
import { passMeter, passRow, type PassCost } from './passCost.ts';

const SIZES = [1_000, 10_000];
const CHANGED = 10;
const NAMES_PER_SLEEPER = 100;
const PASSES = 3;

/**
 * The dispatcher's and reconciler's cost per pass with 1,000 and 10,000 active runs, in process
 * against the real stores and the real local executor. Active runs are backed by live processes
 * (a few sleepers whose command lines carry many run names), so the executor's status check
 * answers "running" exactly as it does in production. "Changed" runs are real: CHANGED queued
 * runs of a no-op workflow that the dispatcher claims and starts, and that the next reconciler
 * pass finds finished.
 */
export async function benchWorkers(pgUrl: string | undefined, pgReason: string | undefined): Promise<Row[]> {
  const rows: Row[] = [];
  rows.push(...(await onDatabase('sqlite', undefined)));
  if (pgUrl) rows.push(...(await onDatabase('postgres', pgUrl)));
  else rows.push({ section: 'workers', figure: 'dispatcher and reconciler on PostgreSQL', griffin: { value: null, unit: 'ms CPU' }, baseline: { what: 'listInFlight', value: null, unit: 'ms CPU' }, ratio: null, note: `skipped: ${pgReason}` });
  return rows;
}

async function onDatabase(dbId: 'sqlite' | 'postgres', pgUrl: string | undefined): Promise<Row[]> {
  const rows: Row[] = [];
  for (const size of SIZES) {
    const dataDir = tempDir(`workers-${dbId}`);
    const schema = pgUrl ? await freshSchema(pgUrl, 'workers') : undefined;
    const db = connect({ databaseUrl: schema?.url, dataDir });
    const sleepers: ChildProcess[] = [];
    try {
      await migrateLatest(db);
      const { measure, repeat } = passMeter(db, PASSES);
      const logger = createLogger('silent');
      const config = loadConfig({ GRIFFIN_DATA_DIR: dataDir, GRIFFIN_LOG_LEVEL: 'silent', GRIFFIN_MAX_LOCAL_RUNS: String(size + 1000), GRIFFIN_PUBLIC_URL: 'http://127.0.0.1:9' });
      const wired = wire(config, db, logger);
      await seedCatalog(wired.catalog, wired.stores.catalog, { examplesDir: path.join(PROJECT_ROOT, 'examples'), loadExamples: true }, logger);
      await wired.catalog.createModel(ModelCreate.parse({ name: 'bench-noop', framework: 'python-stdlib', codeUri: 'bench/noop', entrypoint: 'sh start.sh' }));
      await wired.catalog.createWorkflow(WorkflowCreate.parse({ name: 'bench-noop', model: 'bench-noop', dataset: 'grocery-reorder', runtime: 'python3' }));

      // CHANGED of the active runs are the no-op runs started below, so `size` runs are in flight at the busiest pass.
      log(`workers on ${dbId}: seeding ${size - CHANGED} running runs`);
      await seedRunning(wired, db, size - CHANGED, dataDir, sleepers);

      const floor = await repeat(() => wired.stores.runs.listInFlight());
      const sweepIdle = await repeat(() => wired.reconciler.sweepAll());
      const reconcileIdle = await repeat(() => wired.reconciler.pass());
      const dispatchIdle = await repeat(() => wired.dispatcher.pass());
      if ((await wired.stores.runs.listInFlight()).length !== size - CHANGED) throw new Error('an idle pass changed a run: the seeded runs are not recognised as running');

      for (let i = 0; i < CHANGED; i += 1) await wired.runs.submit(RunCreate.parse({ workflow: 'bench-noop' }), undefined);
      const dispatchBusy = await measure(() => wired.dispatcher.pass());
      await waitForExits(wired, size, CHANGED);
      const reconcileBusy = await measure(() => wired.reconciler.pass());
      const done = (await wired.stores.runs.countByState())['succeeded|local'] ?? 0;
      if (done !== CHANGED) throw new Error(`expected the reconciler to finish ${CHANGED} runs, it finished ${done}`);

      const dbName = dbId === 'sqlite' ? 'SQLite' : 'PostgreSQL';
      const row = (figure: string, cost: PassCost, note?: string): Row => passRow('workers', `${figure}, ${size.toLocaleString('en-US')} active, ${dbName}`, cost, floor, note);
      rows.push(
        row('reconciler full sweep (every 10 s), 0 changed', sweepIdle),
        row('reconciler pass between sweeps, 0 changed', reconcileIdle),
        row(`reconciler pass, ${CHANGED} finished`, reconcileBusy, `+${reconcileBusy.queries - reconcileIdle.queries} queries for ${CHANGED} transitions`),
        row('dispatcher pass, 0 queued', dispatchIdle),
        row(`dispatcher pass, ${CHANGED} claimed + started`, dispatchBusy, `+${dispatchBusy.queries - dispatchIdle.queries} queries for ${CHANGED} claims and launches`),
      );
    } finally {
      for (const s of sleepers) {
        try {
          process.kill(-s.pid!, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await db.destroy();
      await schema?.drop().catch(() => undefined);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }
  return rows;
}

/**
 * `size` running runs of the example workflow. Each run's backend reference names a live sleeper
 * whose command line carries the run's process name, as the local executor's own processes do.
 */
export async function seedRunning(wired: Wired, db: Knex, size: number, dataDir: string, sleepers: ChildProcess[]): Promise<string[]> {
  const sample = (await wired.runs.submit(RunCreate.parse({ workflow: 'grocery-reorder' }), undefined)).run;
  await db('run_events').where({ run_id: sample.id }).delete();
  await db('runs').where({ id: sample.id }).delete();
  const now = new Date().toISOString();
  const deadline = new Date(Date.now() + 24 * 3600 * 1000).toISOString();
  const ids = Array.from({ length: size }, () => newRunId());
  const names = ids.map((id) => `griffin-run-${id}-1`);
  const pids: number[] = [];
  for (let i = 0; i < size; i += NAMES_PER_SLEEPER) {
    const child = spawn('/bin/sh', ['-c', 'while :; do sleep 3600; done', ...names.slice(i, i + NAMES_PER_SLEEPER)], { detached: true, stdio: 'ignore' });
    child.unref();
    sleepers.push(child);
    pids.push(child.pid!);
  }
  const rows = ids.map((id, i) => {
    const runDir = path.join(dataDir, 'runs', id, 'attempt-1');
    return {
      id,
      state: 'running',
      attempt: 1,
      workflow_name: sample.workflowName,
      workflow_version: sample.workflowVersion,
      spec: JSON.stringify(sample.spec),
      backend: 'local',
      backend_ref: JSON.stringify({ pid: pids[Math.floor(i / NAMES_PER_SLEEPER)], name: names[i], runDir, workDir: path.join(runDir, 'work'), logPath: path.join(dataDir, 'runs', id, 'output.log'), exitFile: path.join(runDir, 'exit-status') }),
      trigger: 'http',
      created_at: now,
      updated_at: now,
      started_at: now,
      deadline_at: deadline,
    };
  });
  await db.batchInsert('runs', rows, 500);
  await new Promise((r) => setTimeout(r, 200)); // the sleepers' command lines are in /proc by now
  return ids;
}

/**
 * Waits until the no-op runs' wrapper processes are gone, not merely until their exit files
 * exist: the wrapper writes the file and then exits, and only its exit (the event the executor
 * reports) sends the run to the next pass. Waiting for the file alone measured a pass that could
 * come before the last exit and finish 9 of 10 runs. A pid that no longer answers signal 0 has
 * been reaped, and Node emits the child's exit event in the same callback that reaps it.
 */
async function waitForExits(wired: Wired, inFlight: number, expected: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  const reaped = (pid: unknown) => {
    try {
      process.kill(Number(pid), 0);
      return false;
    } catch {
      return true;
    }
  };
  for (;;) {
    const runs = await wired.stores.runs.listInFlight();
    const finished = runs.filter((r) => {
      const ref = r.backendRef as { exitFile?: string; pid?: number } | null;
      return r.workflowName === 'bench-noop' && ref?.exitFile !== undefined && fs.existsSync(ref.exitFile) && reaped(ref.pid);
    });
    if (finished.length >= expected) return;
    if (Date.now() > deadline) throw new Error(`only ${finished.length} of ${expected} no-op runs finished`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
