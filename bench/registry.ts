import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../server/config.ts';
import { connect } from '../server/db/connect.ts';
import { migrateLatest } from '../server/db/migrate.ts';
import { spreadNote, spreadOverWorkers } from './spreadLoad.ts';
import { alternating, BENCH_ADMIN_TOKEN, load, log, MLFLOW_WORKERS, mlflowPython, mlflowVersion, round, sleepingRun, startGriffin, startMlflow, tempDir, withRss, type Load, type Proc, type Row } from './lib.ts';

const run = promisify(execFile);
const MODELS = 1_000;
const VERSIONS_PER_MODEL = 100;
const CONNECTIONS = 8;
/** Metric points per ingest request, for both (MLflow's log-batch takes up to 1,000). */
const POINTS_PER_BATCH = 100;

const modelName = (m: number) => `m-${String(m).padStart(4, '0')}`;
const randomModel = () => modelName(Math.floor(Math.random() * MODELS));

/**
 * The model registry with 100,000 versions stored (1,000 models x 100), Griffin beside an MLflow
 * tracking server (SQLite backend) on the same machine: register a version, and search the
 * versions of one model. Both are seeded with the same rows straight into their databases; only
 * the measured calls go through the APIs.
 */
export async function benchRegistry(resultsDir: string): Promise<Row[]> {
  const skipped = (reason: string): Row[] =>
    ['register a version', 'search versions of a model'].map((figure) => ({
      section: 'registry',
      figure: `${figure}, 100,000 versions stored`,
      griffin: { value: null, unit: 'req/s' },
      baseline: { what: 'MLflow', value: null, unit: 'req/s' },
      ratio: null,
      note: `skipped: ${reason}`,
    }));
  const { python, reason } = mlflowPython();
  if (!python) return skipped(`no MLflow venv: ${reason}`);
  const griffinDir = tempDir('registry');
  const mlflowDir = tempDir('mlflow');
  let mlflow: Proc | undefined;
  let griffin: Proc | undefined;
  try {
    log(`registry: starting MLflow (${MLFLOW_WORKERS} workers) and seeding Griffin with ${MODELS * VERSIONS_PER_MODEL} versions`);
    const t0 = Date.now();
    // Griffin's seeding (not measured) overlaps MLflow's start.
    const mlflowStarting = startMlflow('mlflow', python, mlflowDir, resultsDir);
    mlflowStarting.catch(() => undefined);
    await seedGriffin(griffinDir);
    mlflow = await mlflowStarting;
    log(`registry: MLflow ready after ${Math.round((Date.now() - t0) / 1000)} s; seeding it`);
    const { stdout } = await run(python, [path.join(PROJECT_ROOT, 'bench', 'seed_mlflow.py'), path.join(mlflowDir, 'mlflow.db'), String(MODELS), String(VERSIONS_PER_MODEL)], { timeout: 300_000 });
    if (Number(stdout.trim()) !== MODELS * VERSIONS_PER_MODEL) throw new Error(`MLflow holds ${stdout.trim()} versions after seeding`);
    griffin = await startGriffin('griffin-registry', { GRIFFIN_DATA_DIR: griffinDir }, resultsDir);
    const check = await fetch(`${griffin.baseUrl}/api/v1/registry/models/m-0001/versions?limit=1`, { headers: { Authorization: `Bearer ${BENCH_ADMIN_TOKEN}` } });
    if ((await check.json()).items?.[0]?.version !== VERSIONS_PER_MODEL) throw new Error('Griffin was not seeded');

    const auth = { Authorization: `Bearer ${BENCH_ADMIN_TOKEN}`, 'Content-Type': 'application/json' };
    const json = { 'Content-Type': 'application/json' };
    // Each figure is measured in alternating slices (Griffin, MLflow, Griffin, ...): see `alternating`.
    log('registry: register a version, alternating slices');
    // MLflow's slices count only when both its workers served (see spreadLoad.ts).
    const onMlflow = (run: Parameters<typeof spreadOverWorkers>[2]) => spreadOverWorkers(mlflow!.child.pid!, MLFLOW_WORKERS, run);
    const mlflowReg = onMlflow((slice) => load({ url: `${mlflow!.baseUrl}/`, method: 'POST', connections: CONNECTIONS, headers: json, ...slice, pick: () => ({ path: '/api/2.0/mlflow/model-versions/create', body: JSON.stringify({ name: randomModel(), source: 's3://bench/new' }) }) }));
    const [gReg, mReg] = await alternating([
      (slice) => load({ url: `${griffin!.baseUrl}/`, method: 'POST', connections: CONNECTIONS, headers: auth, ...slice, pick: () => ({ path: `/api/v1/registry/models/${randomModel()}/versions`, body: JSON.stringify({ artifactUri: 's3://bench/new' }) }) }),
      mlflowReg.run,
    ]);
    log('registry: search versions, alternating slices');
    const searchOnMlflow = (slice: { seconds: number; warmupSeconds: number }) => load({ url: `${mlflow!.baseUrl}/`, connections: CONNECTIONS, ...slice, pick: () => ({ path: `/api/2.0/mlflow/model-versions/search?filter=${encodeURIComponent(`name='${randomModel()}'`)}&max_results=100` }) });
    const searchOnGriffin = (baseUrl: string) => (slice: { seconds: number; warmupSeconds: number }) => load({ url: `${baseUrl}/`, connections: CONNECTIONS, headers: auth, ...slice, pick: () => ({ path: `/api/v1/registry/models/${randomModel()}/versions?limit=100` }) });
    const mlflowSearch = onMlflow(searchOnMlflow);
    const [gSearch, mSearch] = await alternating([
      searchOnGriffin(griffin.baseUrl),
      mlflowSearch.run,
    ]);
    // The same reads from a second Griffin process on the same database with the read cache off:
    // how much of the search figure is the cache (random models, so most pages are read once per expiry).
    log('registry: search versions with GRIFFIN_READ_CACHE_MS=0, alternating slices');
    const uncached = await startGriffin('griffin-registry-uncached', { GRIFFIN_DATA_DIR: griffinDir, GRIFFIN_READ_CACHE_MS: '0', GRIFFIN_WORKERS: 'false', GRIFFIN_LOAD_EXAMPLES: 'false' }, resultsDir);
    const mlflowSearchAgain = onMlflow(searchOnMlflow);
    let gSearchUncached: Load;
    let mSearchAgain: Load;
    try {
      [gSearchUncached, mSearchAgain] = await alternating([
        searchOnGriffin(uncached.baseUrl),
        mlflowSearchAgain.run,
      ]);
    } finally {
      await uncached.stop();
    }
    log(`registry: metric ingest, ${POINTS_PER_BATCH} points per batch, alternating slices`);
    const live = await sleepingRun(griffin.baseUrl);
    const mlflowRun = await (await fetch(`${mlflow.baseUrl}/api/2.0/mlflow/runs/create`, { method: 'POST', headers: json, body: JSON.stringify({ experiment_id: '0', start_time: Date.now() }) })).json();
    const mlflowRunId = mlflowRun.run?.info?.run_id as string;
    if (!mlflowRunId) throw new Error(`MLflow did not create a run: ${JSON.stringify(mlflowRun)}`);
    let batch = 0;
    const points = (withTimestamp: boolean) =>
      Array.from({ length: POINTS_PER_BATCH }, (_, i) => ({ key: `m${i % 10}`, value: Math.random(), step: batch * 10 + Math.floor(i / 10), ...(withTimestamp ? { timestamp: Date.now() } : {}) }));
    const mlflowIngest = onMlflow((slice) => load({ url: `${mlflow!.baseUrl}/`, method: 'POST', connections: CONNECTIONS, headers: json, ...slice, pick: () => ({ path: '/api/2.0/mlflow/runs/log-batch', body: JSON.stringify({ run_id: mlflowRunId, metrics: (batch += 1, points(true)) }) }) }));
    // Griffin's RSS: before its first slice, and the peak over all of them.
    const ingest = await withRss(griffin!.child.pid, () =>
      alternating([
        (slice) => load({ url: `${griffin!.baseUrl}/`, method: 'POST', connections: CONNECTIONS, headers: auth, ...slice, pick: () => ({ path: `/api/v1/runs/${live.id}/metrics`, body: JSON.stringify({ batchId: `b-${(batch += 1)}`, metrics: points(false) }) }) }),
        mlflowIngest.run,
      ]),
    );
    const [gIngestLoad, mIngest] = ingest.result;
    const gIngest = { result: gIngestLoad, rssIdleMiB: ingest.rssIdleMiB, rssPeakMiB: ingest.rssPeakMiB };
    await live.cancel();
    const row = (figure: string, g: Load, m: Load, note: string): Row => ({
      section: 'registry',
      figure: `${figure}, 100,000 versions stored, ${CONNECTIONS} connections`,
      griffin: { value: round(g.rps, 0), unit: 'req/s', p50Ms: g.p50Ms, p99Ms: g.p99Ms, errors: g.errors + g.non2xx },
      baseline: { what: `MLflow ${mlflowVersion(python)}, SQLite, ${MLFLOW_WORKERS} workers`, value: round(m.rps, 0), unit: 'req/s', p50Ms: m.p50Ms, p99Ms: m.p99Ms, errors: m.errors + m.non2xx },
      ratio: round(g.rps / m.rps, 2),
      note,
    });
    return [
      row('register a version', gReg, mReg, `random model of 1,000; Griffin also checks a bearer token, MLflow runs without auth${spreadNote(mlflowReg.stats, MLFLOW_WORKERS)}`),
      row('search versions of a model (100 newest)', gSearch, mSearch, `Griffin GET .../versions?limit=100, pages kept until the model changes (the replica follows the registry's changes feed; another replica's change seen within GRIFFIN_READ_CACHE_MS, 2 s); MLflow model-versions/search?filter=name='...'&max_results=100${spreadNote(mlflowSearch.stats, MLFLOW_WORKERS)}`),
      row('search versions of a model (100 newest), Griffin read cache off', gSearchUncached, mSearchAgain, `a second Griffin process on the same database with GRIFFIN_READ_CACHE_MS=0, alternating with MLflow again: every page read from the database${spreadNote(mlflowSearchAgain.stats, MLFLOW_WORKERS)}`),
      {
        section: 'registry',
        figure: `metric ingest, ${POINTS_PER_BATCH} points per batch, ${CONNECTIONS} connections`,
        griffin: { value: round(gIngest.result.rps * POINTS_PER_BATCH, 0), unit: 'points/s', p50Ms: gIngest.result.p50Ms, p99Ms: gIngest.result.p99Ms, errors: gIngest.result.errors + gIngest.result.non2xx, rssIdleMiB: gIngest.rssIdleMiB, rssPeakMiB: gIngest.rssPeakMiB },
        baseline: { what: `MLflow ${mlflowVersion(python)} runs/log-batch`, value: round(mIngest.rps * POINTS_PER_BATCH, 0), unit: 'points/s', p50Ms: mIngest.p50Ms, p99Ms: mIngest.p99Ms, errors: mIngest.errors + mIngest.non2xx },
        ratio: round(gIngest.result.rps / mIngest.rps, 2),
        note: `Griffin POST /runs/{id}/metrics with a batchId (stored once), as griffin_run.py sends; MLflow runs/log-batch into one run${spreadNote(mlflowIngest.stats, MLFLOW_WORKERS)}`,
      },
    ];
  } catch (error) {
    log(`registry: ${(error as Error).message}`);
    return skipped((error as Error).message.split('\n')[0]);
  } finally {
    await griffin?.stop();
    await mlflow?.stop();
    fs.rmSync(griffinDir, { recursive: true, force: true });
    fs.rmSync(mlflowDir, { recursive: true, force: true });
  }
}

/** Same rows as seed_mlflow.py, straight into Griffin's tables (batched inserts in one transaction). */
export async function seedGriffin(dataDir: string): Promise<void> {
  const db = connect({ dataDir });
  try {
    await migrateLatest(db);
    const now = new Date().toISOString();
    await db.transaction(async (trx) => {
      await trx.batchInsert('registered_models', Array.from({ length: MODELS }, (_, m) => ({ name: modelName(m), description: '', tags: '{}', created_at: now, updated_at: now })), 500);
      const ids = (await trx('registered_models').select('id', 'name')) as Array<{ id: number; name: string }>;
      const versions = ids.flatMap(({ id, name }) =>
        Array.from({ length: VERSIONS_PER_MODEL }, (_, i) => ({ model_id: id, version: i + 1, artifact_uri: `s3://bench/${name}/v${i + 1}`, run_id: null, metrics: '{}', tags: '{}', description: '', created_at: now })),
      );
      await trx.batchInsert('model_versions', versions, 100);
    });
  } finally {
    await db.destroy();
  }
}
