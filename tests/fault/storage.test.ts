import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startServiceProcess, type ServiceProcess } from '../helpers/process.ts';
import { ADMIN_TOKEN } from '../helpers/service.ts';

/**
 * The SQLite files' storage fails under a running service: the disk fills up, or the file system
 * turns read-only (ext4 aborting its journal, as after an I/O error). Writes must get a 503 with
 * one log line carrying the code and a hint, reads keep working, and the process never dies
 * (it used to, with SIGBUS through the mmapped -shm file of WAL mode). Mounting needs root, as in CI.
 */
const isRoot = process.getuid?.() === 0;
const sh = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { stdio: 'pipe' }).toString();

interface Mounted {
  dir: string;
  cleanup: () => void;
}

function mountTmpfs(sizeMb: number): Mounted {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'griffin-tmpfs-'));
  sh('mount', '-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', dir);
  return { dir, cleanup: () => (sh('umount', '-l', dir), fs.rmSync(dir, { recursive: true, force: true })) };
}

function mountExt4(sizeMb: number): Mounted {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'griffin-ext4-'));
  const image = path.join(base, 'fs.img');
  const dir = path.join(base, 'mnt');
  fs.mkdirSync(dir);
  execFileSync('truncate', ['-s', `${sizeMb}M`, image]);
  sh('mkfs.ext4', '-q', '-F', image);
  sh('mount', '-o', 'loop,errors=remount-ro', image, dir);
  return { dir, cleanup: () => (sh('umount', '-l', dir), fs.rmSync(base, { recursive: true, force: true })) };
}

/** The service's log reaches us through a pipe; give the last lines a moment. */
async function settledFaultLines(svc: ServiceProcess, expected: number) {
  for (let i = 0; i < 40 && faultLines(svc).length < expected; i += 1) await new Promise((r) => setTimeout(r, 50));
  return faultLines(svc);
}

const alive = (svc: ServiceProcess) => svc.child.exitCode === null && svc.child.signalCode === null;
const faultLines = (svc: ServiceProcess) =>
  svc
    .output()
    .split('\n')
    .filter((l) => l.includes('"database unavailable"'))
    .map((l) => JSON.parse(l) as { code: string; hint: string; route: string });

describe.skipIf(!isRoot)('SQLite storage faults under a running service', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
  });

  async function serviceOn(dir: string): Promise<ServiceProcess> {
    const svc = await startServiceProcess({ GRIFFIN_DATA_DIR: path.join(dir, 'data'), GRIFFIN_WORKERS: 'false' });
    cleanups.push(() => svc.stop('SIGKILL'));
    for (let i = 0; i < 3; i += 1) expect((await svc.api('POST', '/api/v1/runs', { workflow: 'grocery-reorder' })).status).toBe(201);
    return svc;
  }

  it('a full disk: writes are 503 with one log line each (SQLITE_FULL and a hint), reads go on, and writes recover once space is freed', { timeout: 60_000 }, async () => {
    const fsMount = mountTmpfs(24);
    cleanups.push(fsMount.cleanup);
    const svc = await serviceOn(fsMount.dir);
    const filler = path.join(fsMount.dir, 'filler');
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=1M', 'count=64'], { stdio: 'ignore' });
    } catch {
      // dd stops at "No space left on device", which is the point
    }

    const answers = [];
    for (let i = 0; i < 5; i += 1) {
      const res = await fetch(`${svc.baseUrl}/api/v1/registry/models`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: `full-${i}`, description: 'x'.repeat(9_000) }),
      });
      answers.push({ status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as { error?: { code: string; message: string } } });
    }
    for (const a of answers) {
      expect(a.status).toBe(503);
      expect(a.retryAfter).toBe('1');
      expect(a.body.error).toMatchObject({ code: 'unavailable', message: expect.stringContaining('SQLITE_FULL') });
    }
    const lines = await settledFaultLines(svc, answers.length);
    expect(lines).toHaveLength(answers.length);
    expect(lines[0]).toMatchObject({ code: 'SQLITE_FULL', route: '/api/v1/registry/models', hint: expect.stringMatching(/disk .* is full/) });
    expect(svc.output()).not.toContain('"unhandled error"');
    expect((await svc.api('GET', '/api/v1/runs')).body.items).toHaveLength(3);
    expect((await svc.api('GET', '/readyz')).status).toBe(200);

    fs.rmSync(filler);
    expect((await svc.api('POST', '/api/v1/registry/models', { name: 'after-full' })).status).toBe(201);
    expect((await svc.api('GET', '/api/v1/registry/models/after-full')).status).toBe(200);
    expect(alive(svc)).toBe(true);
  });

  it('a file system that turns read-only: writes are 503 with the storage code and a hint, reads go on, the process lives', { timeout: 60_000 }, async () => {
    const fsMount = mountExt4(64);
    cleanups.push(fsMount.cleanup);
    const svc = await serviceOn(fsMount.dir);
    sh('sync');
    // What ext4 does on an I/O error with errors=remount-ro: every later write fails with EROFS.
    sh('mount', '-o', 'remount,abort', fsMount.dir);

    for (let i = 0; i < 5; i += 1) {
      const res = await svc.api('POST', '/api/v1/runs', { workflow: 'grocery-reorder' });
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('unavailable');
      expect((await svc.api('GET', '/api/v1/runs?limit=10')).body.items).toHaveLength(3);
    }
    await new Promise((r) => setTimeout(r, 500));
    expect(alive(svc)).toBe(true);
    const lines = await settledFaultLines(svc, 5);
    expect(lines).toHaveLength(5);
    expect(['SQLITE_IOERR', 'SQLITE_CANTOPEN', 'SQLITE_READONLY']).toContain(lines[0].code);
    expect(lines[0].hint).toMatch(/read-only/);
    expect(svc.output()).not.toContain('"unhandled error"');
  });

  it('no -shm mapping to lose: the database keeps a rollback journal, and a planted griffin.sqlite-shm is never mapped', { timeout: 60_000 }, async () => {
    const fsMount = mountTmpfs(64);
    cleanups.push(fsMount.cleanup);
    const svc = await serviceOn(fsMount.dir);
    const dataDir = path.join(fsMount.dir, 'data');
    expect(fs.readdirSync(dataDir).filter((f) => f.startsWith('griffin.sqlite'))).toEqual(['griffin.sqlite']);
    fs.writeFileSync(path.join(dataDir, 'griffin.sqlite-shm'), '');
    for (let i = 0; i < 20; i += 1) expect((await svc.api('POST', '/api/v1/registry/models', { name: `shm-${i}` })).status).toBe(201);
    expect((await svc.api('GET', '/api/v1/registry/models?limit=100')).body.items).toHaveLength(20);
    expect(alive(svc)).toBe(true);
  });
});
