import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { Knex } from 'knex';
import { loadConfig, PROJECT_ROOT } from '../server/config.ts';
import { createLogger } from '../server/logger.ts';
import { connect } from '../server/db/connect.ts';
import { migrateLatest } from '../server/db/migrate.ts';
import { wire, type Wired } from '../server/wire.ts';
import { seedCatalog } from '../server/services/seed.ts';
import { newRunId } from '../server/ids.ts';
import { RunCreate, type BackendName } from '../server/domain/index.ts';
import { RayChangeFeed } from '../server/executors/rayChangeFeed.ts';
import type { RayExecutor } from '../server/executors/ray.ts';
import { LABEL } from '../server/executors/kubeManifests.ts';
import { freePort } from '../tests/helpers/ports.ts';
import { startFakeKubeApi } from '../tests/helpers/fakeKubeApi.ts';
import { log, startProgram, tempDir, type Row } from './lib.ts';
import { passMeter, passRow, type PassCost } from './passCost.ts';
import { seedRunning } from './workers.ts';

const SIZES = [1_000, 10_000];
const CHANGED = 10;
/**
 * Measured passes per figure, their median taken. A pass costs about a millisecond, so a garbage
 * collection or a watch event landing in some of them must not move the figure. With 5, one full
 * run reported 1.9 ms at 10,000 Kubernetes runs, where two runs of the section alone gave 0.7.
 */
const PASSES = 15;
/** Parallel creates against the API server: enough to keep it busy, few enough not to drown it on 2 cores. */
const CREATE_CONCURRENCY = 16;

/**
 * The reconciler's pass between full sweeps with 1,000 and 10,000 active runs on each of the
 * local, ray and kubernetes backends, in process with the real stores and executors (SQLite).
 * Local runs point at live sleeper processes (as in the workers section); Ray runs are jobs of a
 * simulated Ray head in another process (bench/ray-jobs-sim.mjs) that the executor lists once per
 * interval; Kubernetes runs are real, suspended Jobs on the real control plane of tests/k8s
 * (GRIFFIN_TEST_KUBECONFIG), followed by the executor's watch. Then CHANGED runs end (Ray jobs
 * fail, Kubernetes Jobs are deleted out of band) and the next pass is measured.
 */
export async function benchBackends(resultsDir: string): Promise<Row[]> {
  const rows: Row[] = [];
  // GRIFFIN_BENCH_BACKENDS=ray,kubernetes measures only those.
  const only = (process.env.GRIFFIN_BENCH_BACKENDS ?? 'local,ray,kubernetes').split(',').map((b) => b.trim());
  if (only.includes('local')) for (const size of SIZES) rows.push(...(await onBackend('local', size, resultsDir)));
  if (only.includes('ray')) for (const size of SIZES) rows.push(...(await onBackend('ray', size, resultsDir)));
  if (!only.includes('kubernetes')) return rows;
  // Without the real control plane, the stand-in API server of the executor tests, and the rows say so.
  const kubeconfig = process.env.GRIFFIN_TEST_KUBECONFIG;
  if (!kubeconfig) log('backends, kubernetes: GRIFFIN_TEST_KUBECONFIG is not set (tests/k8s/cluster.sh up); measuring against the stand-in API server of tests/helpers/fakeKubeApi.ts instead');
  for (const size of SIZES) rows.push(...(await onBackend('kubernetes', size, resultsDir, kubeconfig)));
  return rows;
}

interface Backend {
  env: Record<string, string>;
  /** Makes the backend's side of `runIds` (sleepers, Ray jobs, Jobs); returns the backend_ref of each. */
  create(runIds: string[]): Promise<Array<Record<string, unknown>>>;
  /**
   * Ends `runIds` on the backend, out of Griffin's sight. None for local: its events come from its
   * own children, which sleepers are not (the workers section measures real no-op runs ending).
   */
  end?(runIds: string[]): Promise<void>;
  close(): Promise<void>;
  note?: string;
  /** What a reader must know about these rows (a stand-in instead of the real thing). */
  caveat?: string;
}

async function onBackend(backend: BackendName, size: number, resultsDir: string, kubeconfig?: string): Promise<Row[]> {
  const dataDir = tempDir(`backends-${backend}`);
  const db = connect({ dataDir });
  let side: Backend | undefined;
  let wired: Wired | undefined;
  try {
    await migrateLatest(db);
    const { measure, repeat } = passMeter(db, PASSES);
    side = backend === 'local' ? localSide(dataDir) : backend === 'ray' ? await raySide(resultsDir, size) : await kubeSide(kubeconfig);
    const config = loadConfig({ GRIFFIN_DATA_DIR: dataDir, GRIFFIN_LOG_LEVEL: 'silent', GRIFFIN_MAX_LOCAL_RUNS: String(size + 1000), GRIFFIN_PUBLIC_URL: 'http://127.0.0.1:9', GRIFFIN_RECONCILE_FULL_SWEEP_MS: '3600000', ...side.env });
    wired = wire(config, db, createLogger('silent'));
    await seedCatalog(wired.catalog, wired.stores.catalog, { examplesDir: path.join(PROJECT_ROOT, 'examples'), loadExamples: true }, createLogger('silent'));

    log(`backends, ${backend}: creating ${size} active runs`);
    const t0 = Date.now();
    const ids = await seedOn(wired, db, backend, size, side);
    const createdSeconds = (Date.now() - t0) / 1000;
    log(`backends, ${backend}: ${size} active runs made in ${createdSeconds.toFixed(1)} s`);

    const executor = wired.executors.get(backend);
    executor.startFollowing?.();
    const followed = Date.now();
    if (executor.startFollowing) {
      while (!executor.followingChanges!()) {
        if (Date.now() - followed > 600_000) throw new Error(`the ${backend} executor did not start following its runs`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const syncSeconds = (Date.now() - followed) / 1000;
    const reconciler = wired.reconciler;
    await reconciler.pass(); // the first pass is the full sweep (and takes the changes the first listing reported)

    const floor = await repeat(() => wired!.stores.runs.listInFlight());
    const idle = await repeat(() => reconciler.pass());
    if ((await wired.stores.runs.listInFlight()).length !== size) throw new Error(`an idle pass changed a run on ${backend}: the seeded runs are not recognised as running`);

    // What following costs beside the pass: for Ray, one listing of the head and its diff per interval.
    let feedCost: PassCost | undefined;
    if (backend === 'ray') {
      const listing = (executor as RayExecutor).listing;
      const feed = new RayChangeFeed(() => listing.refresh(), () => undefined, createLogger('silent'), 1_000, 'bench');
      feedCost = await repeat(() => feed.poll());
    }

    let busy: PassCost | undefined;
    if (side.end) {
      await side.end(ids.slice(0, CHANGED));
      busy = await passActingOnChanges(wired, backend, measure);
    }

    const active = size.toLocaleString('en-US');
    const row = (figure: string, cost: PassCost, note?: string): Row => passRow('backends', `${figure}, ${active} active, ${backend}`, cost, floor, note);
    const made = `${active} ${side.note ?? 'runs'} made in ${createdSeconds.toFixed(0)} s, followed after ${syncSeconds.toFixed(1)} s${side.caveat ? `; ${side.caveat}` : ''}`;
    const out = [row('reconciler pass between sweeps, 0 changed', idle, made)];
    if (busy) out.push(row(`reconciler pass between sweeps that ends ${CHANGED} runs`, busy, (backend === 'kubernetes' ? `${CHANGED} Jobs deleted out of band: watch events, then a GET each (404)` : `${CHANGED} Ray jobs FAILED: one listing's diff`) + (side.caveat ? `; ${side.caveat}` : '')));
    if (feedCost) out.push(row('ray executor: one listing of the head and its diff (every 1 s, beside the passes)', feedCost, 'grows with the jobs on the head; it is the listing the per-run polls shared before'));
    return out;
  } finally {
    await wired?.stopWorkers();
    for (const name of wired?.executors.names() ?? []) await wired!.executors.get(name).stopFollowing?.();
    await side?.close().catch((error) => log(`backends, ${backend}: cleaning up failed: ${(error as Error).message}`));
    await db.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * Waits for the backend's report of the CHANGED ended runs (a listing diff, watch events), then
 * measures the pass that fails them all. Passes that find some of them first are not counted.
 */
async function passActingOnChanges(wired: Wired, backend: BackendName, measure: (pass: () => Promise<unknown>) => Promise<PassCost>): Promise<PassCost> {
  const failed = async () => (await wired.stores.runs.countByState())[`failed|${backend}`] ?? 0;
  const deadline = Date.now() + 120_000;
  for (;;) {
    // Reported changes pile up in the reconciler until a pass takes them; give the reports time to arrive.
    await new Promise((r) => setTimeout(r, 1_500));
    const cost = await measure(() => wired.reconciler.pass());
    const done = await failed();
    if (done === CHANGED) return cost;
    if (Date.now() > deadline) throw new Error(`expected ${CHANGED} ${backend} runs to end between sweeps, ${done} did`);
  }
}

/** `size` running runs of the example workflow on `backend`, with the backend's side made by `side`. */
async function seedOn(wired: Wired, db: Knex, backend: BackendName, size: number, side: Backend): Promise<string[]> {
  if (backend === 'local') return (side as ReturnType<typeof localSide>).seed(wired, db, size);
  const sample = (await wired.runs.submit(RunCreate.parse({ workflow: 'grocery-reorder' }), undefined)).run;
  await db('run_events').where({ run_id: sample.id }).delete();
  await db('runs').where({ id: sample.id }).delete();
  const now = new Date().toISOString();
  const deadline = new Date(Date.now() + 24 * 3600 * 1000).toISOString();
  const ids = Array.from({ length: size }, () => newRunId());
  const refs = await side.create(ids);
  const spec = JSON.stringify({ ...sample.spec, backend });
  await db.batchInsert(
    'runs',
    ids.map((id, i) => ({ id, state: 'running', attempt: 1, workflow_name: sample.workflowName, workflow_version: sample.workflowVersion, spec, backend, backend_ref: JSON.stringify(refs[i]), trigger: 'http', created_at: now, updated_at: now, started_at: now, deadline_at: deadline })),
    500,
  );
  return ids;
}

/** Sleeper processes whose command lines carry the runs' process names, as in the workers section. */
function localSide(dataDir: string) {
  const sleepers: ChildProcess[] = [];
  return {
    env: {},
    note: 'local runs (sleeper processes)',
    create: async () => [],
    seed: (wired: Wired, db: Knex, size: number): Promise<string[]> => seedRunning(wired, db, size, dataDir, sleepers),
    async close() {
      for (const s of sleepers) {
        try {
          process.kill(-s.pid!, 'SIGKILL');
        } catch {
          // gone
        }
      }
    },
  } satisfies Backend & { seed: unknown };
}

/** The simulated Ray head of bench/ray-jobs-sim.mjs, in its own process. */
async function raySide(resultsDir: string, size: number): Promise<Backend> {
  const port = await freePort();
  const head = await startProgram('ray-jobs-sim', process.execPath, [path.join(PROJECT_ROOT, 'bench', 'ray-jobs-sim.mjs'), '--port', String(port)], { readyUrl: `http://127.0.0.1:${port}/api/version`, resultsDir });
  const post = async (route: string, body: unknown) => {
    const res = await fetch(`${head.baseUrl}${route}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`${route}: HTTP ${res.status}`);
  };
  return {
    env: { GRIFFIN_RAY_ADDRESS: head.baseUrl },
    note: `Ray jobs on a simulated head (${size} listed)`,
    async create(runIds) {
      await post('/bench/jobs', { runIds });
      // With the job id the head reports, so that the first (full) sweep has nothing to write.
      return runIds.map((id) => ({ submissionId: `griffin-run-${id}-1`, address: head.baseUrl, rayJobId: `raysubmit_${id}` }));
    },
    end: (runIds) => post('/bench/end', { runIds, status: 'FAILED' }),
    close: () => head.stop(),
  };
}

/**
 * Suspended Jobs (no pods: KWOK has nothing to run) with Griffin's labels, in a namespace of their
 * own, on the real API server of `kubeconfig`; without one, on the stand-in API server of
 * tests/helpers/fakeKubeApi.ts (in this process, so its CPU is in the figures), and the rows say so.
 */
async function kubeSide(kubeconfig: string | undefined): Promise<Backend> {
  const namespace = `griffin-bench-${Math.random().toString(36).slice(2, 8)}`;
  const standIn = kubeconfig ? undefined : await startFakeKubeApi({ namespace });
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig ?? standIn!.driverKubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const batch = kc.makeApiClient(k8s.BatchV1Api);
  if (!standIn) await core.createNamespace({ body: { metadata: { name: namespace, labels: { 'griffin.bench/section': 'backends' } } } });
  const pool = async <T>(items: T[], work: (item: T) => Promise<void>) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: CREATE_CONCURRENCY }, async () => {
        while (next < items.length) await work(items[next++]);
      }),
    );
  };
  return {
    env: { GRIFFIN_KUBERNETES: 'true', KUBECONFIG: kubeconfig ?? standIn!.kubeconfig, GRIFFIN_KUBERNETES_NAMESPACE: namespace },
    note: `suspended Jobs (${CREATE_CONCURRENCY} parallel creates)`,
    caveat: standIn ? 'on the STAND-IN API server (tests/helpers/fakeKubeApi.ts, in process), not the real control plane: GRIFFIN_TEST_KUBECONFIG was not set' : 'on the real API server',
    async create(runIds) {
      await pool(runIds, async (id) => {
        const labels = { [LABEL.managedBy]: 'griffin', [LABEL.component]: 'training-run', [LABEL.runId]: id, [LABEL.attempt]: '1' };
        await batch.createNamespacedJob({
          namespace,
          body: { metadata: { name: `griffin-run-${id}-1`, labels }, spec: { suspend: true, backoffLimit: 0, template: { metadata: { labels }, spec: { restartPolicy: 'Never', containers: [{ name: 'training', image: 'bench.invalid/noop:1' }] } } } },
        });
      });
      return runIds.map((id) => ({ kind: 'Job', apiVersion: 'batch/v1', namespace, name: `griffin-run-${id}-1` }));
    },
    end: (runIds) => pool(runIds, async (id) => void (await batch.deleteNamespacedJob({ namespace, name: `griffin-run-${id}-1`, propagationPolicy: 'Background' }))),
    async close() {
      if (standIn) await standIn.close();
      else await core.deleteNamespace({ name: namespace });
    },
  };
}
