import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { HostSlots } from '../../server/executors/localSlots.ts';

/** Slots are held by live launches and live process groups, and by nothing else. */
describe('per-host local slots', () => {
  const dirs: string[] = [];
  const children: number[] = [];
  afterEach(() => {
    for (const pid of children.splice(0)) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });
  const slotsIn = (limit: number) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'griffin-slots-'));
    dirs.push(dir);
    return { dir, a: new HostSlots(dir, limit), b: new HostSlots(dir, limit) };
  };
  const holder = (n: number) => ({ runId: `run${n}`, attempt: 1, launchId: `l${n}` });

  it('two instances on one directory share the limit', async () => {
    const { a, b } = slotsIn(2);
    expect(await a.acquire(holder(1))).toBeDefined();
    expect(await b.acquire(holder(2))).toBeDefined();
    expect(await a.acquire(holder(3))).toBeUndefined();
    expect(b.free()).toBe(0);
  });

  it('a bound slot lives exactly as long as its process group', async () => {
    const { a } = slotsIn(1);
    const child = spawn('/bin/sh', ['-c', 'sleep 30 & wait'], { detached: true, stdio: 'ignore' });
    children.push(child.pid!);
    const slot = (await a.acquire(holder(1)))!;
    await slot.bind(child.pid!);
    expect(a.free()).toBe(0);
    process.kill(child.pid!, 'SIGKILL'); // the leader only: its `sleep` keeps the group alive
    await new Promise((r) => child.once('exit', r));
    expect(a.free()).toBe(0);
    process.kill(-child.pid!, 'SIGKILL');
    for (let i = 0; i < 100 && a.free() === 0; i += 1) await new Promise((r) => setTimeout(r, 20));
    expect(a.free()).toBe(1);
  });

  it('a launch whose service process died frees its slot; a live one keeps it', async () => {
    const { dir, a } = slotsIn(2);
    const dead = spawnSync('/bin/true').pid!;
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'slot-0'), JSON.stringify({ ...holder(1), launcherPid: dead, launcherStart: 1 }));
    await a.acquire(holder(2)); // a launch of this process, in progress
    expect(a.held().map((h) => h.runId)).toEqual(['run2']);
    expect(await a.acquire(holder(3))).toBeDefined();
    expect(a.free()).toBe(0);
  });

  it('contenders in parallel never hold more than the limit, while finished runs free their slots', { timeout: 180_000 }, async () => {
    const { dir } = slotsIn(2);
    const goneGroup = spawnSync('/bin/true').pid!; // a process group that no longer exists
    const counters = new SharedArrayBuffer(12);
    const CONTENDERS = 4;
    const contenders = Array.from({ length: CONTENDERS }, (_, id) =>
      new Promise<void>((resolve, reject) => {
        // Worker threads do not inherit vitest's transform: tsx loads the TypeScript contender.
        const contender = new URL('../helpers/slotContender.ts', import.meta.url).href;
        const worker = new Worker(`import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(contender)}); })`, {
          eval: true,
          workerData: { dir, limit: 2, rounds: 100, contenders: CONTENDERS, id, goneGroup, counters },
        });
        worker.once('error', reject);
        worker.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`contender ${id} exited with ${code}`))));
      }),
    );
    await Promise.all(contenders);
    const [holdersAtEnd, mostAtOnce] = new Int32Array(counters);
    expect(holdersAtEnd).toBe(0);
    expect(mostAtOnce).toBe(2);
  });
});
