import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../server/config.ts';
import { api, BENCH_ADMIN_TOKEN, freePort, load, log, round, SECONDS, startGriffin, startProgram, tempDir, withRss, type Load, type Measure, type Proc, type Row } from './lib.ts';

const CONNECTIONS = 64;
/** Alternating slices per figure (Griffin, bare node, Express, Griffin, ...). */
const ROUNDS = 3;
const auth = { Authorization: `Bearer ${BENCH_ADMIN_TOKEN}` };

/** One measured load and the server's memory around it. */
interface Measured {
  load: Load;
  rssIdleMiB?: number;
  rssPeakMiB?: number;
}

export const reqPerSecond = (m: Measured, extra: Partial<Measure> = {}): Measure => ({
  value: round(m.load.rps, 0),
  unit: 'req/s',
  p50Ms: m.load.p50Ms,
  p99Ms: m.load.p99Ms,
  errors: m.load.errors + m.load.non2xx,
  rssIdleMiB: m.rssIdleMiB,
  rssPeakMiB: m.rssPeakMiB,
  ...extra,
});

export async function measured(proc: Proc | undefined, options: Parameters<typeof load>[0]): Promise<Measured> {
  const { result, rssIdleMiB, rssPeakMiB } = await withRss(proc?.child.pid, () => load(options));
  return { load: result, rssIdleMiB, rssPeakMiB };
}

/** The slice of median throughput; memory over all slices (RSS before the first, peak of all). */
function medianSlice(slices: Measured[]): Measured {
  const sorted = [...slices].sort((x, y) => x.load.rps - y.load.rps);
  const peaks = slices.map((m) => m.rssPeakMiB).filter((x): x is number => x !== undefined);
  return { ...sorted[Math.floor(sorted.length / 2)], rssIdleMiB: slices[0].rssIdleMiB, rssPeakMiB: peaks.length ? Math.max(...peaks) : undefined };
}

/**
 * The read paths pollers hit, 64 connections, authenticated: a finished run (its events and
 * metrics), the version a registry alias points at, and a version by number. Each beside a bare
 * node:http server and an Express hello-world answering the same bytes (no routing, auth or
 * database), measured in the same run.
 */
export async function benchGetRun(resultsDir: string): Promise<Row[]> {
  const dataDir = tempDir('get');
  const griffin = await startGriffin('griffin-get', { GRIFFIN_DATA_DIR: dataDir }, resultsDir);
  const baselines: Proc[] = [];
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
    const { name: model, version } = run.body.modelVersion as { name: string; version: number };
    const aliased = await api(griffin.baseUrl, 'PUT', `/api/v1/registry/models/${model}/aliases/production`, { version });
    if (aliased.status !== 200) throw new Error(`setting the alias failed: ${aliased.status} ${JSON.stringify(aliased.body)}`);

    const targets = {
      run: `/api/v1/runs/${id}`,
      alias: `/api/v1/registry/models/${model}/aliases/production`,
      version: `/api/v1/registry/models/${model}/versions/${version}`,
    };
    const bodyFiles: Record<string, string> = {};
    const sizes: Record<string, number> = {};
    for (const [name, route] of Object.entries(targets)) {
      const raw = Buffer.from(await (await fetch(`${griffin.baseUrl}${route}`, { headers: auth })).arrayBuffer());
      bodyFiles[name] = path.join(dataDir, `${name}.json`);
      sizes[name] = raw.byteLength;
      fs.writeFileSync(bodyFiles[name], raw);
    }

    const bodyArgs = Object.entries(bodyFiles).map(([name, file]) => `${name}=${file}`);
    const started = async (name: string, script: string) => {
      const port = await freePort();
      const proc = await startProgram(name, process.execPath, [path.join(PROJECT_ROOT, 'bench', script), String(port), ...bodyArgs], { readyUrl: `http://127.0.0.1:${port}/run`, resultsDir });
      baselines.push(proc);
      return proc;
    };
    const bare = await started('baseline-http', 'baseline-server.mjs');
    const express = await started('baseline-express', 'baseline-express.mjs');
    // On a shared machine the load of other work changes from minute to minute: the three servers
    // are measured in alternating slices, and each figure is the median slice, so that a figure
    // and its baselines see the same conditions.
    const g: Record<string, Measured> = {};
    const b: Record<string, Measured> = {};
    const e: Record<string, Measured> = {};
    const slice = Math.max(1, Math.round(SECONDS / ROUNDS));
    for (const [name, route] of Object.entries(targets)) {
      log(`GET ${route}: ${CONNECTIONS} connections (${sizes[name]} bytes per response), ${ROUNDS} alternating slices of ${slice} s`);
      const rounds: Array<[Measured, Measured, Measured]> = [];
      for (let i = 0; i < ROUNDS; i += 1) {
        const warmupSeconds = i === 0 ? 2 : 0;
        rounds.push([
          await measured(griffin, { url: `${griffin.baseUrl}${route}`, connections: CONNECTIONS, headers: auth, seconds: slice, warmupSeconds }),
          await measured(bare, { url: `${bare.baseUrl}/${name}`, connections: CONNECTIONS, seconds: slice, warmupSeconds }),
          await measured(express, { url: `${express.baseUrl}/${name}`, connections: CONNECTIONS, seconds: slice, warmupSeconds }),
        ]);
      }
      [g[name], b[name], e[name]] = [0, 1, 2].map((k) => medianSlice(rounds.map((r) => r[k])));
    }
    const row = (name: keyof typeof targets, figure: string, note: string): Row => httpRow('api', `${figure}, ${CONNECTIONS} connections, authenticated`, g[name], b[name], e[name], `${sizes[name]} B body; ${note}`);
    return [
      row('run', 'GET /api/v1/runs/{id}', 'a finished run: Griffin checks the token, answers from its read cache (reloaded from the database every 2 s), logs an access line'),
      row('alias', 'GET /api/v1/registry/models/{name}/aliases/{alias}', 'the version an alias points at, from the read cache (reloaded every 2 s)'),
      row('version', 'GET /api/v1/registry/models/{name}/versions/{version}', 'one model version, from the read cache (reloaded every 2 s)'),
    ];
  } finally {
    await griffin.stop();
    for (const p of baselines) await p.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** An HTTP figure beside both ceilings: bare node:http (the baseline) and the Express hello-world. */
export function httpRow(section: string, figure: string, g: Measured, bare: Measured, express: Measured, note: string): Row {
  return {
    section,
    figure,
    griffin: reqPerSecond(g),
    baseline: { what: 'bare node:http, same bytes', ...reqPerSecond(bare) },
    ratio: round(g.load.rps / bare.load.rps, 3),
    ceiling: { what: 'Express hello-world, same bytes', ...reqPerSecond(express) },
    ceilingRatio: round(g.load.rps / express.load.rps, 3),
    note,
  };
}
