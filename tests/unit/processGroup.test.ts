import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { groupAlive, liveProcessGroups } from '../../server/executors/processGroup.ts';

const started: number[] = [];
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A new process group led by `sh -c script`; resolves once the leader has run `ready` lines. */
function group(script: string): Promise<{ pgid: number; exited: Promise<void> }> {
  const child = spawn('/bin/sh', ['-c', script], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
  started.push(child.pid!);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve) => child.stdout!.once('data', () => resolve({ pgid: child.pid!, exited })));
}

afterEach(() => {
  for (const pgid of started.splice(0)) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

/** groupAlive's shortcuts must agree with the full /proc scan it replaces in the common cases. */
describe('groupAlive', () => {
  it('a group whose leader runs is alive', async () => {
    const { pgid } = await group('echo ready; exec sleep 30');
    expect(groupAlive(pgid)).toBe(true);
    expect(liveProcessGroups().has(pgid)).toBe(true);
  });

  it('a group whose leader exited but whose child lives on is alive, and dead once the child is killed', async () => {
    const { pgid, exited } = await group('sleep 30 & echo ready');
    await exited; // the leader is gone (reaped); its background sleep keeps the group
    expect(groupAlive(pgid)).toBe(true);
    process.kill(-pgid, 'SIGKILL');
    for (let i = 0; i < 100 && groupAlive(pgid); i += 1) await pause(20);
    expect(groupAlive(pgid)).toBe(false);
    expect(liveProcessGroups().has(pgid)).toBe(false);
  });

  it('a group with no process at all is dead', async () => {
    const { pgid, exited } = await group('echo ready');
    await exited;
    expect(groupAlive(pgid)).toBe(false);
    expect(groupAlive(0)).toBe(false);
  });
});
