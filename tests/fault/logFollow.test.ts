import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServiceProcess, type ServiceProcess } from '../helpers/process.ts';
import { ADMIN_TOKEN } from '../helpers/service.ts';

const LOG_BYTES = 200 * 1024 * 1024;
const READERS = 3;
const STALL_SECONDS = 6;
const MAX_GROWTH_BYTES = 50 * 1024 * 1024;

/** Resident memory of a process, as the kernel counts it. */
function rssBytes(pid: number): number {
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.replace(/\D+/g, '')) * 1024;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** A reader that sends the request and then reads nothing: the socket is paused from the start. */
function stalledReader(port: number, runId: string): net.Socket {
  const socket = net.connect(port, '127.0.0.1');
  socket.pause();
  socket.write(`GET /api/v1/runs/${runId}/logs?follow=true HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\n\r\n`);
  return socket;
}

/** Everything a socket still delivers once it reads again, until the server closes it. */
function drain(socket: net.Socket): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    socket.on('data', (d: Buffer) => parts.push(d));
    socket.on('close', () => resolve(Buffer.concat(parts)));
    socket.resume();
  });
}

/**
 * Slow or stalled `logs?follow=true` readers must not make the service hold the log in memory:
 * three readers that stop reading a 200 MB log leave the service's RSS within 50 MB of idle, and
 * each is dropped after the stall limit with a last line saying how to resume.
 */
describe('stalled log followers', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'griffin-follow-'));
  let svc: ServiceProcess | undefined;
  const sockets: net.Socket[] = [];
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await svc?.stop('SIGTERM');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('three stalled readers of a 200 MB log cost under 50 MB of RSS and are dropped with a final line', { timeout: 120_000 }, async () => {
    // Workers off: the run stays queued, so followers never reach the end of the log.
    svc = await startServiceProcess({ GRIFFIN_DATA_DIR: dataDir, GRIFFIN_WORKERS: 'false', GRIFFIN_LOG_FOLLOW_STALL_SECONDS: String(STALL_SECONDS) });
    const pid = svc.child.pid!;
    const runId = (await svc.api('POST', '/api/v1/runs', { workflow: 'grocery-reorder' })).body.id as string;
    const logFile = path.join(dataDir, 'runs', runId, 'output.log');
    fs.mkdirSync(path.dirname(logFile), { recursive: true });
    const line = `${'x'.repeat(99)}\n`;
    const block = Buffer.from(line.repeat((1024 * 1024) / line.length));
    const fd = fs.openSync(logFile, 'w');
    for (let written = 0; written < LOG_BYTES; written += block.length) fs.writeSync(fd, block);
    fs.closeSync(fd);

    // Idle: after a first read of the log, so lazily loaded code is already resident.
    expect((await svc.api('GET', `/api/v1/runs/${runId}/logs?limit=1024`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1000));
    const idle = rssBytes(pid);

    for (let i = 0; i < READERS; i += 1) sockets.push(stalledReader(svc.port, runId));
    const drops = () => svc!.output().split('\n').filter((l) => l.includes('log follower dropped')).length;
    let peak = idle;
    const deadline = Date.now() + (STALL_SECONDS + 10) * 1000;
    while (drops() < READERS && Date.now() < deadline) {
      peak = Math.max(peak, rssBytes(pid));
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(drops(), 'every stalled reader is dropped after the stall limit').toBe(READERS);
    // Once dropped, a reader that reads again gets what was queued for it and the last line.
    const received = await Promise.all(sockets.map(drain));
    const after = rssBytes(pid);
    console.info(`service RSS: idle ${mb(idle)}, peak with ${READERS} stalled readers ${mb(peak)}, after they were dropped ${mb(after)}`);

    expect(peak - idle, `peak ${mb(peak)} vs idle ${mb(idle)}`).toBeLessThan(MAX_GROWTH_BYTES);
    expect(after - idle, `after ${mb(after)} vs idle ${mb(idle)}`).toBeLessThan(MAX_GROWTH_BYTES);
    for (const bytes of received) {
      const text = bytes.toString('utf8');
      expect(text.startsWith('HTTP/1.1 200')).toBe(true);
      // Far less than the log: the server stopped reading it when the reader stopped.
      expect(bytes.length).toBeLessThan(LOG_BYTES / 4);
      expect(text).toMatch(/\[griffin\] log stream closed: this reader took nothing for 6 s; reconnect with \?follow=true&cursor=/);
    }
    // The service still answers, and logged each drop.
    expect((await svc.api('GET', `/api/v1/runs/${runId}`)).status).toBe(200);
    expect(drops()).toBe(READERS);
  });
});
