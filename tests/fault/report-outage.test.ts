import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startServiceProcess, type ServiceProcess } from '../helpers/process.ts';
import { startPrivateCluster, type PrivateCluster } from '../helpers/faults.ts';

const POINTS = 250; // per phase: before the release, and after it
const EXPECTED_POINTS = 2 * POINTS + 1; // the loss curve and a final auc

/**
 * Runs finish training while Griffin is away (the service stopped, or its database), and their
 * reports are delivered when it is back: the real service, the real local executor, training code
 * that reports through griffin_run. The test releases training (a file) only once Griffin is gone.
 */
describe('reports of runs that finish while Griffin is away', () => {
  const started: ServiceProcess[] = [];
  const clusters: PrivateCluster[] = [];
  const dirs: string[] = [];
  const tempDir = (prefix: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };
  /** Where the test drops the release file: training may run as another user (griffin-run), which must see it. */
  const releaseFile = () => {
    const dir = tempDir('griffin-report-release-');
    fs.chmodSync(dir, 0o755);
    return path.join(dir, 'go');
  };
  afterEach(async () => {
    for (const s of started.splice(0)) await s.stop('SIGKILL');
  });
  // Training processes outlive the service by design; a test that failed halfway must not leave them waiting.
  const trainingGroups: number[] = [];
  afterAll(async () => {
    for (const pgid of trainingGroups) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const c of clusters) await c.destroy();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const until = async <T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(200);
    }
  };

  /** Defines the model and submits `count` runs that wait for `releaseFile`; resolves once all have reported phase 1. */
  const submitRuns = async (svc: ServiceProcess, count: number, releaseFile: string, tag: string) => {
    const model = await svc.api('POST', '/api/v1/models', {
      name: 'report-outage',
      framework: 'python-stdlib',
      codeUri: 'tests/fault/fixtures/report-outage',
      entrypoint: 'python train.py',
    });
    expect(model.status, JSON.stringify(model.body)).toBe(201);
    const ids: string[] = [];
    for (let i = 0; i < count; i += 1) {
      const res = await svc.api('POST', '/api/v1/runs', {
        spec: {
          model: 'report-outage',
          dataset: 'grocery-reorder',
          runtime: 'python3',
          hyperparameters: { points: POINTS, release_file: releaseFile },
          timeoutSeconds: 900,
          register: { modelName: `report-outage-${tag}` },
        },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      ids.push(res.body.id);
    }
    const runs: Array<{ id: string; workDir: string; exitFile: string }> = [];
    for (const id of ids) {
      runs.push(
        await until(`run ${id} to report phase 1`, async () => {
          const run = (await svc.api('GET', `/api/v1/runs/${id}`)).body;
          if (run.terminal) throw new Error(`run ${id} ended early: ${run.state} ${run.reason}`);
          const points = (await svc.api('GET', `/api/v1/runs/${id}/metrics?key=loss`)).body.items ?? [];
          if (run.backendRef?.pid && !trainingGroups.includes(run.backendRef.pid)) trainingGroups.push(run.backendRef.pid);
          return run.state === 'running' && points.length === POINTS ? { id, workDir: run.backendRef.workDir as string, exitFile: run.backendRef.exitFile as string } : undefined;
        }),
      );
    }
    return runs;
  };

  /** Training finished (or the process ended without finishing it: the test then reports what was lost). */
  const trainingOver = async (runs: Array<{ id: string; workDir: string; exitFile: string }>) => {
    for (const run of runs) {
      const ended = () => fs.existsSync(path.join(run.workDir, 'trained')) || fs.existsSync(run.exitFile);
      await until(`run ${run.id} to finish training`, () => (ended() ? true : undefined));
    }
  };

  /** What each run ended with, as a user would look it up. */
  const outcomes = async (svc: ServiceProcess, runs: Array<{ id: string }>) => {
    const out = [];
    for (const { id } of runs) {
      const run = await until(`run ${id} to end`, async () => {
        const body = (await svc.api('GET', `/api/v1/runs/${id}`)).body;
        return body.terminal ? body : undefined;
      }, 120_000);
      const points = (await svc.api('GET', `/api/v1/runs/${id}/metrics`)).body.items as Array<{ key: string; step: number }>;
      const artifacts = (await svc.api('GET', `/api/v1/runs/${id}/artifacts`)).body.items as Array<{ path: string }>;
      out.push({
        id,
        state: run.state as string,
        reason: run.reason as string,
        modelVersion: run.modelVersion as { name: string; version: number } | null,
        points: points.length,
        distinctPoints: new Set(points.map((p) => `${p.key}@${p.step}`)).size,
        artifacts: artifacts.map((a) => a.path),
      });
    }
    // The figures of this scenario, for before/after comparisons.
    console.log(JSON.stringify({ runs: out.length, failed: out.filter((o) => o.state !== 'succeeded').length, versionsLost: out.filter((o) => !o.modelVersion).length, pointsLost: out.reduce((n, o) => n + EXPECTED_POINTS - o.distinctPoints, 0), duplicatePoints: out.reduce((n, o) => n + o.points - o.distinctPoints, 0) }));
    return out;
  };

  const expectEverythingArrived = (results: Awaited<ReturnType<typeof outcomes>>) => {
    for (const r of results) {
      expect(r.state, `${r.id}: ${r.reason}`).toBe('succeeded');
      expect(r.reason).toBe('the training process finished successfully');
      expect(r.modelVersion, r.id).not.toBeNull();
      expect(r.points, `${r.id}: every point exactly once`).toBe(EXPECTED_POINTS);
      expect(r.distinctPoints, r.id).toBe(EXPECTED_POINTS);
      expect(r.artifacts, r.id).toContain('model.json');
    }
  };

  it('the service stopped for 60 s: every metric point arrives once, the artifact arrives, the version is registered', { timeout: 300_000 }, async () => {
    const dataDir = tempDir('griffin-report-outage-');
    const release = releaseFile();
    const env = { GRIFFIN_DATA_DIR: dataDir, GRIFFIN_MAX_LOCAL_RUNS: '4' };
    const first = await startServiceProcess(env);
    started.push(first);
    const runs = await submitRuns(first, 4, release, 'stop');

    expect(await first.stop('SIGTERM')).toBe(0);
    const stoppedAt = Date.now();
    fs.writeFileSync(release, '');
    // Training finishes while Griffin is away.
    await trainingOver(runs);
    // The processes stay, waiting to deliver their reports.
    const exitedWhileAway = runs.filter((run) => fs.existsSync(run.exitFile)).map((run) => run.id);
    await sleep(Math.max(0, 60_000 - (Date.now() - stoppedAt)));

    const second = await startServiceProcess(env, first.port);
    started.push(second);
    const results = await outcomes(second, runs);
    expectEverythingArrived(results);
    expect(exitedWhileAway).toEqual([]);
    for (const run of runs) {
      const model = await second.api('GET', `/api/v1/runs/${run.id}/artifacts/model.json`);
      expect(model.body, run.id).toEqual({ weights: [0.5, -0.25], run: run.id });
    }
    const versions = (await second.api('GET', '/api/v1/registry/models/report-outage-stop/versions')).body.items;
    expect(versions.map((v: { runId: string }) => v.runId).sort()).toEqual(runs.map((r) => r.id).sort());
  });

  it('Griffin away for longer than GRIFFIN_REPORT_TIMEOUT: the run succeeds, its version is not registered, and the reason names the timeout', { timeout: 180_000 }, async () => {
    const dataDir = tempDir('griffin-report-timeout-');
    const release = releaseFile();
    const env = { GRIFFIN_DATA_DIR: dataDir, GRIFFIN_REPORT_TIMEOUT: '3' };
    const first = await startServiceProcess(env);
    started.push(first);
    const [run] = await submitRuns(first, 1, release, 'timeout');

    expect(await first.stop('SIGTERM')).toBe(0);
    fs.writeFileSync(release, '');
    // The process gives up after the timeout and exits with the training code's status.
    const exitFile = run.exitFile;
    await until('the training process to give up and exit', () => (fs.existsSync(exitFile) ? true : undefined));
    expect(fs.readFileSync(exitFile, 'utf8')).toBe('0');

    const second = await startServiceProcess(env, first.port);
    started.push(second);
    const [result] = await outcomes(second, [run]);
    expect(result.state).toBe('succeeded');
    expect(result.reason).toMatch(/^the training process finished successfully, but artifact model\.json and \d+ metric points never reached Griffin: it was unreachable for longer than GRIFFIN_REPORT_TIMEOUT \(3 s\); last error: connection error.*; its model version was not registered$/);
    expect(result.modelVersion).toBeNull();
    expect(result.points).toBe(POINTS); // phase 1 arrived before the outage; nothing arrived twice
    expect(result.artifacts).toEqual([]);
    // Registering it by hand (as Airflow's register task does) is refused for the same reason.
    const byHand = await second.api('POST', '/api/v1/registry/models/report-outage-timeout/versions', { runId: run.id });
    expect(byHand.status).toBe(422);
    expect(byHand.body.error.message).toMatch(/cannot be registered: artifact model\.json and \d+ metric points never reached Griffin.*GRIFFIN_REPORT_TIMEOUT \(3 s\)/);
    const events = (await second.api('GET', `/api/v1/runs/${run.id}`)).body.events.map((e: { to: string }) => e.to);
    expect(events).toEqual(['queued', 'launching', 'running', 'succeeded']);
    // The spool is still there for whoever wants to recover it by hand.
    const spool = fs.readdirSync(path.join(run.workDir, '.griffin-spool'));
    expect(spool.some((f) => f.startsWith('state-'))).toBe(true);
  });

  it('PostgreSQL stopped while runs finish: the 503s are retried and everything arrives once', { timeout: 300_000 }, async () => {
    if (process.env.GRIFFIN_TEST_SKIP_PG === '1') return;
    const cluster = await startPrivateCluster();
    clusters.push(cluster);
    const dataDir = tempDir('griffin-report-pg-');
    const release = releaseFile();
    const svc = await startServiceProcess({ GRIFFIN_DATABASE_URL: cluster.url, GRIFFIN_DATA_DIR: dataDir, GRIFFIN_MAX_LOCAL_RUNS: '4' });
    started.push(svc);
    const runs = await submitRuns(svc, 4, release, 'pg');

    await cluster.stop();
    fs.writeFileSync(release, '');
    await trainingOver(runs);
    // The service answers, but every report is a 503 while its database is away.
    const during = await svc.api('GET', `/api/v1/runs/${runs[0].id}`);
    expect(during.status).toBe(503);
    await sleep(15_000);
    await cluster.start();

    const results = await outcomes(svc, runs);
    expectEverythingArrived(results);
    expect(svc.child.exitCode).toBeNull();
  });
});
