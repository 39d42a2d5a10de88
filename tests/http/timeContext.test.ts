import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { defineModel, makeCodeRoot, makeWorkRoot } from '../helpers/localRuns.ts';

/** A run's logical date and data interval: accepted, stored, shown, and seen by the training process. */
const PRINT_ENV = `
import os
for key in ("GRIFFIN_LOGICAL_DATE", "GRIFFIN_DATA_INTERVAL_START", "GRIFFIN_DATA_INTERVAL_END"):
    print(f"{key}={os.environ.get(key, '<unset>')}", flush=True)
`;
const code = makeCodeRoot({ 'printenv/train.py': PRINT_ENV, 'printenv/data.csv': 'x\n1\n' });
const work = makeWorkRoot();
afterAll(() => {
  code.destroy();
  work.destroy();
});

describe('time context of a run', () => {
  let t: TestDatabase;
  let svc: TestService;
  let spec: Record<string, unknown>;
  const api = async (method: string, route: string, body?: unknown) => {
    const res = await svc.admin((svc.request as any)[method.toLowerCase()](route)).send(body as object | undefined);
    return { status: res.status, body: res.body };
  };
  const backfill = { logicalDate: '2026-11-03T00:00:00+00:00', dataIntervalStart: '2026-11-03T00:00:00+00:00', dataIntervalEnd: '2026-11-04T00:00:00+00:00' };
  const airflow = { dagId: 'retrain', dagRunId: 'backfill__2026-11-03T00:00:00+00:00', taskId: 'train', tryNumber: 1 };

  beforeAll(async () => {
    t = await createTestDatabase('sqlite');
    svc = await startTestService(t.db, {
      dataDir: t.dataDir,
      loadExamples: true,
      env: {
        GRIFFIN_CODE_ROOT: code.root,
        GRIFFIN_LOCAL_WORK_DIR: work.dir,
        // Configured so that their dry runs render; nothing is created on either.
        GRIFFIN_KUBERNETES: 'true',
        ...(process.env.GRIFFIN_TEST_KUBECONFIG ? { KUBECONFIG: process.env.GRIFFIN_TEST_KUBECONFIG } : {}),
        GRIFFIN_RAY_ADDRESS: process.env.GRIFFIN_TEST_RAY_ADDRESS ?? 'http://127.0.0.1:8265',
      },
    });
    spec = await defineModel(api, 'printenv', 'python train.py');
  });
  afterAll(async () => {
    await svc?.close();
    await t?.destroy();
  });

  it('the training process of a local run sees its logical date and data interval; the run and lineage show them', async () => {
    const submitted = await api('POST', '/api/v1/runs', { spec: { ...spec, register: { modelName: 'printenv' } }, trigger: 'airflow', airflow, timeContext: backfill });
    expect(submitted.status).toBe(201);
    const expected = { logicalDate: '2026-11-03T00:00:00.000Z', dataIntervalStart: '2026-11-03T00:00:00.000Z', dataIntervalEnd: '2026-11-04T00:00:00.000Z' };
    expect(submitted.body.timeContext).toEqual(expected);
    const run = await svc.waitForRun(submitted.body.id);
    expect(run.state).toBe('succeeded');
    const log = (await api('GET', `/api/v1/runs/${run.id}/logs`)).body.text as string;
    expect(log).toContain('GRIFFIN_LOGICAL_DATE=2026-11-03T00:00:00.000Z');
    expect(log).toContain('GRIFFIN_DATA_INTERVAL_START=2026-11-03T00:00:00.000Z');
    expect(log).toContain('GRIFFIN_DATA_INTERVAL_END=2026-11-04T00:00:00.000Z');
    const lineage = await api('GET', `/api/v1/registry/models/printenv/versions/${run.modelVersion.version}/lineage`);
    expect(lineage.body.timeContext).toEqual(expected);
  });

  it('a run without a time context gets none of the variables', async () => {
    const submitted = await api('POST', '/api/v1/runs', { spec });
    expect(submitted.body.timeContext).toBeNull();
    const run = await svc.waitForRun(submitted.body.id);
    const log = (await api('GET', `/api/v1/runs/${run.id}/logs`)).body.text as string;
    expect(log).toContain('GRIFFIN_LOGICAL_DATE=<unset>');
    expect(log).toContain('GRIFFIN_DATA_INTERVAL_END=<unset>');
  });

  it('every backend hands the variables to the process (rendered by a dry run)', async () => {
    for (const backend of ['local', 'kubernetes', 'kuberay', 'ray']) {
      const res = await api('POST', '/api/v1/runs?dryRun=true', { spec, overrides: { backend }, timeContext: backfill });
      expect(res.status, `${backend}: ${JSON.stringify(res.body)}`).toBe(200);
      const rendered = JSON.stringify(res.body.request);
      for (const [key, value] of [
        ['GRIFFIN_LOGICAL_DATE', '2026-11-03T00:00:00.000Z'],
        ['GRIFFIN_DATA_INTERVAL_START', '2026-11-03T00:00:00.000Z'],
        ['GRIFFIN_DATA_INTERVAL_END', '2026-11-04T00:00:00.000Z'],
      ]) {
        // As an env map ({"KEY":"value"}), a container env list ({"name":"KEY","value":"value"}) or a RayJob's runtimeEnvYAML (KEY: value).
        expect(rendered, `${backend} ${key}`).toMatch(new RegExp(`${key}("(:|,"value":)"|: )${value}`));
      }
    }
  });

  it('refuses a malformed time context naming the field, and stores nothing', async () => {
    const before = (await api('GET', '/api/v1/runs?limit=500')).body.items.length;
    const cases: Array<[object, string, RegExp]> = [
      [{ logicalDate: 'yesterday' }, 'timeContext.logicalDate', /ISO-8601/],
      [{ logicalDate: '2026-11-03T00:00:00' }, 'timeContext.logicalDate', /offset/],
      [{ dataIntervalStart: '2026-11-03T00:00:00Z' }, 'timeContext.dataIntervalEnd', /both ends/],
      [{ dataIntervalStart: '2026-11-04T00:00:00Z', dataIntervalEnd: '2026-11-03T00:00:00Z' }, 'timeContext.dataIntervalEnd', /ends before it starts/],
      [{ logicalDate: '2026-11-03T00:00:00Z', interval: 'daily' }, 'timeContext.interval', /./],
    ];
    for (const [timeContext, field, message] of cases) {
      const res = await api('POST', '/api/v1/runs', { workflow: 'grocery-reorder', timeContext });
      expect(res.status, JSON.stringify(timeContext)).toBe(400);
      expect(res.body.error.field).toBe(field);
      expect(res.body.error.message).toMatch(message);
    }
    expect((await api('GET', '/api/v1/runs?limit=500')).body.items.length).toBe(before);
  });

  it('a schedule firing trains for the interval from the previous fire time to its scheduled time', async () => {
    const created = await api('POST', '/api/v1/schedules', { name: 'hourly', cron: '0 * * * *', timezone: 'UTC', workflow: 'grocery-reorder' });
    expect(created.status).toBe(201);
    const fired = await api('POST', `/api/v1/schedules/${created.body.id}/trigger`, {});
    expect(fired.status).toBeLessThan(300);
    const runId = fired.body.runId ?? fired.body.firing?.runId;
    const run = (await api('GET', `/api/v1/runs/${runId}`)).body;
    const scheduledAt = new Date(run.schedule.scheduledAt);
    const hourBefore = new Date(Math.floor(scheduledAt.getTime() / 3_600_000) * 3_600_000);
    // A manual firing at 10:17 trains for 10:00 .. 10:17 (the fire time before it is 10:00).
    expect(run.timeContext).toEqual({ logicalDate: scheduledAt.toISOString(), dataIntervalStart: hourBefore.toISOString(), dataIntervalEnd: scheduledAt.toISOString() });
    const rendered = await api('GET', `/api/v1/runs/${runId}`);
    expect(rendered.body.timeContext.dataIntervalEnd).toBe(run.schedule.scheduledAt);
  });
});
