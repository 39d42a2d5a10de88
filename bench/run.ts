import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT } from '../server/config.ts';
import { log, postgresUrl, type Measure, type Row } from './lib.ts';
import { benchGetRun } from './http.ts';
import { benchSubmissions } from './submit.ts';
import { benchWorkers } from './workers.ts';
import { benchBackends } from './backends.ts';
import { benchRegistry } from './registry.ts';
import { benchStartup } from './startup.ts';
import { benchMemory } from './memory.ts';
import { benchIngest } from './ingest.ts';

/**
 * npm run bench [-- --only api,submit,startup,workers,backends,registry,ingest,memory]
 * Prints one table (every figure beside a baseline measured in this run, on this machine) and
 * writes it as JSON to bench/results/latest.json. bench/README.md explains how to read it.
 */
const SECTIONS = ['api', 'submit', 'startup', 'workers', 'backends', 'registry', 'ingest', 'memory'] as const;
type Section = (typeof SECTIONS)[number];

function chosen(): Section[] {
  const i = process.argv.indexOf('--only');
  const list = i >= 0 ? process.argv[i + 1] : process.env.GRIFFIN_BENCH_ONLY;
  if (!list) return [...SECTIONS];
  const names = list.split(',').map((s) => s.trim());
  for (const n of names) if (!SECTIONS.includes(n as Section)) throw new Error(`unknown section "${n}" (known: ${SECTIONS.join(', ')})`);
  return names as Section[];
}

const num = (x: number | null | undefined, digits = 0): string => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));

function describe(m: Measure): string {
  if (m.value === null) return '-';
  const parts: string[] = [];
  if (m.unit === 'req/s' || m.unit === 'points/s') parts.push(`${num(m.value)} ${m.unit}`, `p50 ${num(m.p50Ms, 1)} ms`, `p99 ${num(m.p99Ms, 1)} ms`);
  else if (m.unit === 'ms CPU') parts.push(`${num(m.cpuMs, 1)} ms CPU`, `${num(m.wallMs, 1)} ms wall`, `${m.queries} ${m.queries === 1 ? 'query' : 'queries'}`);
  else if (m.unit === 'ms') parts.push(`p50 ${num(m.p50Ms, 1)} ms`, `p99 ${num(m.p99Ms, 1)} ms`);
  else if (m.unit === 'points/s') parts.push(`${num(m.value)} points/s`, `p50 ${num(m.p50Ms, 1)} ms/batch`);
  else parts.push(`${num(m.value, 1)} ${m.unit}`);
  if (m.errors) parts.push(`${m.errors} errors`);
  if (m.rssPeakMiB !== undefined) parts.push(`RSS ${num(m.rssIdleMiB)}→${num(m.rssPeakMiB)} MiB`);
  return parts.join(' · ');
}

function table(rows: Row[]): string {
  const header = ['figure', 'Griffin', 'baseline', 'baseline is', 'ratio', 'Express ceiling', 'vs Express', 'note'];
  const ratio = (x: number | null | undefined) => (x === null || x === undefined ? '-' : `${x}x`);
  const body = rows.map((r) => [r.figure, describe(r.griffin), describe(r.baseline), r.baseline.what, ratio(r.ratio), r.ceiling ? describe(r.ceiling) : '-', ratio(r.ceilingRatio), r.note ?? '']);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  const sections = chosen();
  const started = Date.now();
  const resultsDir = path.join(PROJECT_ROOT, 'bench', 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, loadAverageAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100) };
  log(`sections: ${sections.join(', ')}; ${machine.cpus} cores, load average ${machine.loadAverageAtStart.join(' ')}`);
  const pg = sections.includes('submit') || sections.includes('workers') ? postgresUrl() : {};
  if ((sections.includes('submit') || sections.includes('workers')) && !pg.url) log(`PostgreSQL figures skipped: ${pg.reason}`);

  const rows: Row[] = [];
  const timings: Record<string, number> = {};
  for (const section of sections) {
    const t0 = Date.now();
    try {
      if (section === 'api') rows.push(...(await benchGetRun(resultsDir)));
      if (section === 'submit') rows.push(...(await benchSubmissions(resultsDir, pg.url, pg.reason)));
      if (section === 'startup') rows.push(...(await benchStartup(resultsDir)));
      if (section === 'workers') rows.push(...(await benchWorkers(pg.url, pg.reason)));
      if (section === 'backends') rows.push(...(await benchBackends(resultsDir)));
      if (section === 'registry') rows.push(...(await benchRegistry(resultsDir)));
      if (section === 'memory') rows.push(...(await benchMemory(resultsDir)));
      if (section === 'ingest') rows.push(...(await benchIngest(resultsDir)));
    } catch (error) {
      log(`${section} failed: ${(error as Error).stack ?? error}`);
      rows.push({ section, figure: section, griffin: { value: null, unit: '' }, baseline: { what: '', value: null, unit: '' }, ratio: null, note: `FAILED: ${(error as Error).message.split('\n')[0]}` });
    }
    timings[section] = Math.round((Date.now() - t0) / 1000);
    log(`${section} done in ${timings[section]} s`);
  }

  const seconds = Math.round((Date.now() - started) / 1000);
  const text = table(rows);
  const result = { at: new Date(started).toISOString(), seconds, sectionSeconds: timings, machine: { ...machine, loadAverageAtEnd: os.loadavg().map((x) => Math.round(x * 100) / 100) }, rows };
  const file = path.join(resultsDir, 'latest.json');
  fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  fs.writeFileSync(path.join(resultsDir, 'latest.md'), `${text}\n`);
  process.stdout.write(`\nGriffin benchmarks, ${result.at}, ${machine.cpus} cores (${machine.cpuModel}), Node ${machine.node}, load average ${machine.loadAverageAtStart.join(' ')} at start\n\n${text}\n\n`);
  process.stdout.write(`${seconds} s in all (${Object.entries(timings).map(([k, v]) => `${k} ${v} s`).join(', ')}); JSON: ${path.relative(process.cwd(), file)}\n`);
  if (rows.some((r) => r.note?.startsWith('FAILED'))) process.exitCode = 1;
}

main().catch((error) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
