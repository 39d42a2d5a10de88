import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../server/config.ts';
import { api, log, percentile, round, startGriffin, tempDir, type Row } from './lib.ts';

const SAMPLES = Number(process.env.GRIFFIN_BENCH_STARTUP_SAMPLES ?? 40);
const NOOP_DIR = path.join(PROJECT_ROOT, 'bench', 'noop');

/** Reads "started <ns since the epoch>" that bench/noop/start.sh prints first thing. */
const startedAtMs = (text: string): number | undefined => {
  const m = /started (\d{19})/.exec(text);
  if (!m) return undefined;
  const ns = BigInt(m[1]);
  return Number(ns / 1_000_000n) + Number(ns % 1_000_000n) / 1e6;
};

/**
 * Submission to training process started, on the local executor: from the moment the client
 * sends POST /api/v1/runs to the moment the process prints its first line. One submission at a
 * time. Baseline: the same script started by a bare child_process.spawn (the floor of starting
 * any process on this machine).
 */
export async function benchStartup(resultsDir: string): Promise<Row[]> {
  const dataDir = tempDir('startup');
  const griffin = await startGriffin('griffin-startup', { GRIFFIN_DATA_DIR: dataDir }, resultsDir);
  try {
    const model = await api(griffin.baseUrl, 'POST', '/api/v1/models', { name: 'bench-noop', framework: 'python-stdlib', codeUri: 'bench/noop', entrypoint: 'sh start.sh' });
    const workflow = await api(griffin.baseUrl, 'POST', '/api/v1/workflows', { name: 'bench-noop', model: 'bench-noop', dataset: 'grocery-reorder', runtime: 'python3' });
    if (model.status !== 201 || workflow.status !== 201) throw new Error(`could not define the no-op workflow: ${JSON.stringify([model.body, workflow.body])}`);

    log(`submission -> process started: ${SAMPLES} runs, one at a time`);
    const samples: number[] = [];
    for (let i = 0; i < SAMPLES + 3; i += 1) {
      const sent = Date.now();
      const res = await api(griffin.baseUrl, 'POST', '/api/v1/runs', { workflow: 'bench-noop' });
      if (res.status !== 201) throw new Error(`submission failed: ${res.status}`);
      const id = res.body.id as string;
      const deadline = Date.now() + 30_000;
      let started: number | undefined;
      while (started === undefined) {
        const logs = await api(griffin.baseUrl, 'GET', `/api/v1/runs/${id}/logs`);
        started = startedAtMs(String(logs.body?.text ?? ''));
        if (started === undefined) {
          if (Date.now() > deadline) throw new Error(`run ${id} did not start within 30 s`);
          await new Promise((r) => setTimeout(r, 10));
        }
      }
      if (i >= 3) samples.push(started - sent); // the first runs warm up the code paths
      // Let the run finish so that runs do not pile up behind each other.
      for (let j = 0; j < 100 && !(await api(griffin.baseUrl, 'GET', `/api/v1/runs/${id}`)).body.terminal; j += 1) await new Promise((r) => setTimeout(r, 20));
    }

    const floor: number[] = [];
    for (let i = 0; i < SAMPLES; i += 1) {
      const sent = Date.now();
      const output = await new Promise<string>((resolve, reject) => {
        const child = spawn('/bin/sh', ['-c', 'sh start.sh'], { cwd: NOOP_DIR, stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.on('error', reject);
        child.on('exit', () => resolve(out));
      });
      floor.push(startedAtMs(output)! - sent);
    }
    return [
      {
        section: 'startup',
        figure: `submission -> training process started, local executor (p50; ${SAMPLES} runs)`,
        griffin: { value: round(percentile(samples, 50), 1), unit: 'ms', p50Ms: round(percentile(samples, 50), 1)!, p99Ms: round(percentile(samples, 99), 1)! },
        baseline: { what: 'bare child_process.spawn of the same script', value: round(percentile(floor, 50), 1), unit: 'ms', p50Ms: round(percentile(floor, 50), 1)!, p99Ms: round(percentile(floor, 99), 1)! },
        ratio: round(percentile(samples, 50) / percentile(floor, 50), 1),
        note: 'includes HTTP submit, dispatcher claim, copy of the code directory, spawn in a new process group',
      },
    ];
  } finally {
    await griffin.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
