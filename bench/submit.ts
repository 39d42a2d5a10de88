import fs from 'node:fs';
import { connect } from '../server/db/connect.ts';
import { migrateLatest } from '../server/db/migrate.ts';
import { newRunId } from '../server/ids.ts';
import { RunStore } from '../server/store/runStore.ts';
import type { ResolvedRunSpec } from '../server/domain/index.ts';
import { alternating, api, BENCH_ADMIN_TOKEN, closedLoop, freshSchema, load, log, round, startGriffin, tempDir, type Row } from './lib.ts';

const CONNECTIONS = 16;
const BODY = JSON.stringify({ workflow: 'grocery-reorder', overrides: { hyperparameters: { epochs: 3 } } });

/**
 * POST /api/v1/runs on each database, workers off so that only acceptance is measured. Baseline:
 * the same rows written through RunStore.insert (run + first event in one transaction, then read
 * back) from the same number of concurrent callers, with no HTTP, auth, resolution or view.
 */
export async function benchSubmissions(resultsDir: string, pgUrl: string | undefined, pgReason: string | undefined): Promise<Row[]> {
  const rows: Row[] = [];
  rows.push(await onDatabase('sqlite', resultsDir, undefined));
  if (pgUrl) rows.push(await onDatabase('postgres', resultsDir, pgUrl));
  else rows.push({ section: 'submit', figure: 'POST /api/v1/runs on PostgreSQL', griffin: { value: null, unit: 'req/s' }, baseline: { what: 'RunStore.insert', value: null, unit: 'req/s' }, ratio: null, note: `skipped: ${pgReason}` });
  return rows;
}

async function onDatabase(dbId: 'sqlite' | 'postgres', resultsDir: string, pgUrl: string | undefined): Promise<Row> {
  const griffinDir = tempDir(`submit-${dbId}`);
  const baselineDir = tempDir(`submit-${dbId}-base`);
  const schemas = pgUrl ? [await freshSchema(pgUrl, 'submit'), await freshSchema(pgUrl, 'submitbase')] : [];
  const griffin = await startGriffin(`griffin-submit-${dbId}`, { GRIFFIN_DATA_DIR: griffinDir, GRIFFIN_WORKERS: 'false', ...(schemas[0] ? { GRIFFIN_DATABASE_URL: schemas[0].url } : {}) }, resultsDir);
  try {
    const sample = await api(griffin.baseUrl, 'POST', '/api/v1/runs', JSON.parse(BODY));
    if (sample.status !== 201) throw new Error(`submission failed: ${sample.status} ${JSON.stringify(sample.body)}`);
    const spec = sample.body.spec as ResolvedRunSpec;
    const db = connect({ databaseUrl: schemas[1]?.url, dataDir: baselineDir });
    try {
      await migrateLatest(db);
      const store = new RunStore(db);
      const insert = async () => {
        await store.insert({ id: newRunId(), workflowName: 'grocery-reorder', workflowVersion: 1, spec, backend: 'local', trigger: 'http', triggerInfo: null, dagId: null, idempotencyKey: null, idempotencyGeneration: null, requestHash: null });
      };
      // Griffin and its floor in alternating slices (see `alternating`): a ratio of two phases
      // measured one after the other moved with the machine by a tenth or more.
      log(`POST /api/v1/runs on ${dbId}: ${CONNECTIONS} connections, alternating slices beside the store floor`);
      const [g, b] = await alternating([
        (slice) =>
          load({
            url: `${griffin.baseUrl}/api/v1/runs`,
            method: 'POST',
            connections: CONNECTIONS,
            headers: { Authorization: `Bearer ${BENCH_ADMIN_TOKEN}`, 'Content-Type': 'application/json' },
            body: BODY,
            ...slice,
          }),
        async ({ seconds, warmupSeconds }) => {
          if (warmupSeconds > 0) await closedLoop(CONNECTIONS, warmupSeconds, insert);
          return { ...(await closedLoop(CONNECTIONS, seconds, insert)), errors: 0, non2xx: 0 };
        },
      ]);
      return {
        section: 'submit',
        figure: `POST /api/v1/runs on ${dbId === 'sqlite' ? 'SQLite' : 'PostgreSQL'}, ${CONNECTIONS} connections`,
        griffin: { value: round(g.rps, 0), unit: 'req/s', p50Ms: g.p50Ms, p99Ms: g.p99Ms, errors: g.errors + g.non2xx },
        baseline: { what: 'RunStore.insert in-process', value: round(b.rps, 0), unit: 'req/s', p50Ms: round(b.p50Ms, 2)!, p99Ms: round(b.p99Ms, 2)! },
        ratio: round(g.rps / b.rps, 3),
      };
    } finally {
      await db.destroy();
    }
  } finally {
    await griffin.stop();
    for (const s of schemas) await s.drop().catch(() => undefined);
    fs.rmSync(griffinDir, { recursive: true, force: true });
    fs.rmSync(baselineDir, { recursive: true, force: true });
  }
}
