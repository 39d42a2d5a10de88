import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../../server/config.ts';
import { afterAll } from 'vitest';
import { createTestDatabase, type DatabaseId, type TestDatabase } from './databases.ts';
import type { ServiceProcess } from './process.ts';
import { ADMIN_TOKEN, freePort } from './service.ts';

const run = promisify(execFile);
const POSTGRES_SH = path.join(PROJECT_ROOT, 'tests', 'setup', 'postgres.sh');

export interface PrivateCluster {
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  restart(): Promise<void>;
  destroy(): Promise<void>;
}

/**
 * A PostgreSQL cluster of this test's own, made by tests/setup/postgres.sh from the same binaries
 * as the shared one but in a temporary directory on a free port: stopping it cannot disturb the
 * other test files that vitest runs at the same time against the shared cluster.
 */
export async function startPrivateCluster(): Promise<PrivateCluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'griffin-pgfault-'));
  const port = await freePort();
  const env = { ...process.env, GRIFFIN_TEST_PG_DIR: dir, GRIFFIN_TEST_PG_PORT: String(port) };
  const pg = async (command: string) => {
    await run('bash', [POSTGRES_SH, command], { env, timeout: 120_000 });
  };
  await pg('start');
  const { stdout } = await run('bash', [POSTGRES_SH, 'url'], { env });
  return {
    url: stdout.trim(),
    stop: () => pg('stop'),
    start: () => pg('start'),
    restart: () => pg('restart'),
    async destroy() {
      await pg('stop').catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Outcome {
  key: string;
  status: number | 'lost';
  id?: string;
  retryAfter?: string | null;
  code?: string;
}

export const SUBMISSION = { workflow: 'grocery-reorder', overrides: { hyperparameters: { epochs: 1 } } };

/** One submission with an Idempotency-Key; a connection error is 'lost' (the caller cannot know). */
export async function submit(baseUrl: string, key: string, timeoutMs = 15_000): Promise<Outcome> {
  try {
    const res = await fetch(`${baseUrl}/api/v1/runs`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json', 'Idempotency-Key': key },
      body: JSON.stringify(SUBMISSION),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await res.json().catch(() => ({}))) as { id?: string; error?: { code: string } };
    return { key, status: res.status, id: body.id, retryAfter: res.headers.get('retry-after'), code: body.error?.code };
  } catch {
    return { key, status: 'lost' };
  }
}

export const accepted = (o: Outcome): boolean => typeof o.status === 'number' && o.status >= 200 && o.status < 300;

/** The environment that points a service process at a test database (and its data directory). */
export const databaseEnv = (t: TestDatabase): Record<string, string> => ({ GRIFFIN_DATA_DIR: t.dataDir, ...(t.url ? { GRIFFIN_DATABASE_URL: t.url } : {}) });

/**
 * The service processes a describe block starts and the database they share: every process is
 * SIGKILLed and the database dropped after the block's tests, whatever state a test left them in.
 */
export function useProcessSuite(): { started: ServiceProcess[]; database(id: DatabaseId): Promise<TestDatabase> } {
  const started: ServiceProcess[] = [];
  let t: TestDatabase | undefined;
  afterAll(async () => {
    for (const s of started) await s.stop('SIGKILL');
    await t?.destroy();
  });
  return {
    started,
    async database(id) {
      t = await createTestDatabase(id);
      return t;
    },
  };
}

/**
 * Sends one request per key, all at once, and SIGKILLs `victim` as soon as `killAfter` answers
 * pass `counts`: a crash in the middle of a burst. Returns every outcome, and whether it killed.
 */
export async function burstWithKill<O>(victim: ServiceProcess, keys: string[], send: (key: string) => Promise<O>, counts: (o: O) => boolean, killAfter: number): Promise<{ outcomes: O[]; killed: boolean }> {
  const outcomes: O[] = [];
  let killed = false;
  await Promise.all(
    keys.map(async (key) => {
      const o = await send(key);
      outcomes.push(o);
      if (!killed && outcomes.filter(counts).length >= killAfter) {
        killed = true;
        victim.child.kill('SIGKILL');
      }
    }),
  );
  return { outcomes, killed };
}
