import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../server/config.ts';
import { api, BENCH_ADMIN_TOKEN, freePort, load, log, round, startGriffin, startProgram, tempDir, type Row } from './lib.ts';

const CONNECTIONS = 64;

/**
 * GET /api/v1/runs/{id} (authenticated, a finished run with its events and metrics) against a bare
 * node:http server that answers the same bytes with no routing, auth or database.
 */
export async function benchGetRun(resultsDir: string): Promise<Row[]> {
  const dataDir = tempDir('get');
  const griffin = await startGriffin('griffin-get', { GRIFFIN_DATA_DIR: dataDir }, resultsDir);
  let baseline;
  try {
    // A real run of the example: its events, per-epoch metrics and registered version are what a reader sees.
    const submitted = await api(griffin.baseUrl, 'POST', '/api/v1/runs', { workflow: 'grocery-reorder' });
    const id = submitted.body.id as string;
    const deadline = Date.now() + 120_000;
    let run;
    for (;;) {
      run = await api(griffin.baseUrl, 'GET', `/api/v1/runs/${id}`);
      if (run.body.terminal) break;
      if (Date.now() > deadline) throw new Error(`the example run ${id} did not finish`);
      await new Promise((r) => setTimeout(r, 250));
    }
    if (run.body.state !== 'succeeded') throw new Error(`the example run ${id} ${run.body.state}: ${run.body.reason}`);
    const raw = await (await fetch(`${griffin.baseUrl}/api/v1/runs/${id}`, { headers: { Authorization: `Bearer ${BENCH_ADMIN_TOKEN}` } })).arrayBuffer();
    const bodyFile = path.join(dataDir, 'run.json');
    fs.writeFileSync(bodyFile, Buffer.from(raw));

    log(`GET /api/v1/runs/{id}: ${CONNECTIONS} connections (${raw.byteLength} bytes per response)`);
    const g = await load({ url: `${griffin.baseUrl}/api/v1/runs/${id}`, connections: CONNECTIONS, headers: { Authorization: `Bearer ${BENCH_ADMIN_TOKEN}` } });
    await griffin.stop();

    const port = await freePort();
    baseline = await startProgram('baseline-http', process.execPath, [path.join(PROJECT_ROOT, 'bench', 'baseline-server.mjs'), String(port), bodyFile], {
      readyUrl: `http://127.0.0.1:${port}/`,
      resultsDir,
    });
    const b = await load({ url: `${baseline.baseUrl}/`, connections: CONNECTIONS });
    return [
      {
        section: 'api',
        figure: `GET /api/v1/runs/{id}, ${CONNECTIONS} connections, authenticated`,
        griffin: { value: round(g.rps, 0), unit: 'req/s', p50Ms: g.p50Ms, p99Ms: g.p99Ms, errors: g.errors + g.non2xx },
        baseline: { what: 'bare node:http, same bytes', value: round(b.rps, 0), unit: 'req/s', p50Ms: b.p50Ms, p99Ms: b.p99Ms, errors: b.errors + b.non2xx },
        ratio: round(g.rps / b.rps, 3),
        note: `${raw.byteLength} B body; Griffin checks the token, reads the run, its events and metrics, logs an access line`,
      },
    ];
  } finally {
    await griffin.stop();
    await baseline?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
