import fs from 'node:fs';
import { api, BENCH_ADMIN_TOKEN, log, rssMiB, round, startGriffin, tempDir, type Row } from './lib.ts';

const LOG_MIB = 200;
const LINE = 100; // bytes per line, newline included

/**
 * The service's RSS while a follower streams a 200 MB training log through logs?follow=true, as
 * the run writes it: idle before, the peak during, and after. The baseline is the same service's
 * RSS before the run: a follower must cost a bounded buffer (256 KiB), never the log's size.
 */
export async function benchMemory(resultsDir: string): Promise<Row[]> {
  const dataDir = tempDir('memory');
  const griffin = await startGriffin('griffin-memory', { GRIFFIN_DATA_DIR: dataDir }, resultsDir);
  try {
    const lines = (LOG_MIB * 1024 * 1024) / LINE;
    const writer = `python3 -c "import sys; line='x'*${LINE - 1}+'\\n'; w=sys.stdout.write; [w(line) for _ in range(${lines})]"`;
    const model = await api(griffin.baseUrl, 'POST', '/api/v1/models', { name: 'bench-chatty', framework: 'python-stdlib', codeUri: 'bench/noop', entrypoint: writer });
    if (model.status !== 201) throw new Error(`model bench-chatty: ${model.status} ${JSON.stringify(model.body)}`);
    const workflow = await api(griffin.baseUrl, 'POST', '/api/v1/workflows', { name: 'bench-chatty', model: 'bench-chatty', dataset: 'grocery-reorder', runtime: 'python3' });
    if (workflow.status !== 201) throw new Error(`workflow bench-chatty: ${workflow.status} ${JSON.stringify(workflow.body)}`);
    await new Promise((r) => setTimeout(r, 2000)); // settle after start-up
    const idle = rssMiB(griffin.child.pid);
    const submitted = await api(griffin.baseUrl, 'POST', '/api/v1/runs', { workflow: 'bench-chatty' });
    if (submitted.status !== 201) throw new Error(`submission: ${submitted.status} ${JSON.stringify(submitted.body)}`);
    const id = submitted.body.id as string;
    log(`memory: following the ${LOG_MIB} MB log of run ${id}`);
    let peak = idle ?? 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMiB(griffin.child.pid) ?? 0);
    }, 100);
    const follow = async () => {
      let bytes = 0;
      const res = await fetch(`${griffin.baseUrl}/api/v1/runs/${id}/logs?follow=true`, { headers: { Authorization: `Bearer ${BENCH_ADMIN_TOKEN}` } });
      if (!res.ok || !res.body) throw new Error(`follow: ${res.status}`);
      for await (const chunk of res.body) bytes += (chunk as Uint8Array).byteLength;
      return bytes;
    };
    const t0 = Date.now();
    let bytes = 0;
    let afterFirst: number | undefined;
    let peakSecond = 0;
    try {
      bytes = await follow();
      afterFirst = rssMiB(griffin.child.pid);
      // Again, from the start of the finished log: a second follower must not add to the first's memory.
      const first = peak;
      peak = 0;
      if ((await follow()) !== bytes) throw new Error('the second follow read another length');
      peakSecond = peak;
      peak = first;
    } finally {
      clearInterval(sampler);
    }
    const seconds = (Date.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 1000));
    const after = rssMiB(griffin.child.pid);
    const run = await api(griffin.baseUrl, 'GET', `/api/v1/runs/${id}`);
    if (bytes < LOG_MIB * 1024 * 1024) throw new Error(`the follower received ${bytes} bytes of ${LOG_MIB} MiB (run ${run.body.state}: ${run.body.reason})`);
    return [
      {
        section: 'memory',
        figure: `service RSS while following a ${LOG_MIB} MB training log (logs?follow=true)`,
        griffin: { value: round(peak, 0), unit: 'MiB peak', detail: `after ${after} MiB` },
        baseline: { what: 'the same service idle, before the run', value: round(idle, 0), unit: 'MiB' },
        ratio: idle ? round(peak / idle, 2) : null,
        note: `${round(bytes / 2 ** 20, 0)} MiB streamed while written, then again from the finished log (${round(seconds, 1)} s in all); RSS after the first follow ${afterFirst} MiB, peak during the second ${peakSecond} MiB, after both ${after} MiB`,
      },
    ];
  } finally {
    await griffin.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
