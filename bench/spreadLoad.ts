import fs from 'node:fs';
import { readStat, type Stat } from '../server/executors/processGroup.ts';
import type { Load } from './lib.ts';

/**
 * Loads against a server whose worker processes share one listening socket (MLflow's uvicorn
 * workers), counted only when every worker served part of them.
 *
 * Why: autocannon opens its connections at the start of a load and keeps them. Measured here on
 * MLflow with 2 workers and 8 connections, all 8 landed on one worker in 6 slices of 8 (the other
 * worker used no CPU), and the server then did 66-80 req/s against 105-122 with both at work. A
 * baseline measured on half its workers makes every ratio against it look better than it is.
 */

type Slice = { seconds: number; warmupSeconds: number };

/** What the measured slices needed: how many were measured again, and how many never had every worker. */
export interface SpreadStats {
  redone: number;
  unspread: number;
}

/** Every process under `root` (itself included), and the CPU time each used so far, in ms. */
function cpuByProcess(root: number): Map<number, number> {
  const stats = new Map<number, Stat>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry)); // undefined: the process ended while /proc was read
    if (stat) stats.set(Number(entry), stat);
  }
  const children = new Map<number, number[]>();
  for (const [pid, { ppid }] of stats) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  const cpu = new Map<number, number>();
  const walk = (pid: number) => {
    const own = stats.get(pid);
    if (!own) return;
    cpu.set(pid, own.cpuTicks * 10);
    for (const child of children.get(pid) ?? []) walk(child);
  };
  walk(root);
  return cpu;
}

/**
 * Wraps a slice of load against the server process `root` with `workers` worker processes: the
 * warm-up runs first on its own, then the slice is measured again (up to `tries` times) until each
 * of the `workers` busiest processes used at least a quarter of their even share of the CPU. When
 * no try spread, the fastest try is kept and counted in `stats.unspread`.
 */
export function spreadOverWorkers(root: number, workers: number, run: (slice: Slice) => Promise<Load>, tries = 6): { run: (slice: Slice) => Promise<Load>; stats: SpreadStats } {
  const stats: SpreadStats = { redone: 0, unspread: 0 };
  const measure = async (slice: Slice) => {
    if (slice.warmupSeconds > 0) await run({ seconds: slice.warmupSeconds, warmupSeconds: 0 });
    let fastest: Load | undefined;
    for (let attempt = 0; attempt < tries; attempt += 1) {
      if (attempt > 0) stats.redone += 1;
      const before = cpuByProcess(root);
      const load = await run({ seconds: slice.seconds, warmupSeconds: 0 });
      const after = cpuByProcess(root);
      const used = [...after].map(([pid, ms]) => ms - (before.get(pid) ?? ms)).sort((a, b) => b - a).slice(0, workers);
      const total = used.reduce((sum, ms) => sum + ms, 0);
      if (used.length === workers && Math.min(...used) >= total / workers / 4) return load;
      if (!fastest || load.rps > fastest.rps) fastest = load;
    }
    stats.unspread += 1;
    return fastest!;
  };
  return { run: measure, stats };
}

/** A line for a row's note: how the baseline's slices were spread over its workers. */
export function spreadNote(stats: SpreadStats, workers: number): string {
  const redone = stats.redone ? `; ${stats.redone} MLflow slices measured again until all ${workers} workers served` : '';
  const unspread = stats.unspread ? `; ${stats.unspread} slices never reached every worker (the fastest try kept)` : '';
  return redone + unspread;
}
