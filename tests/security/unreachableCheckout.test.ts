import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { defineModel, isRoot, makeCodeRoot, makeWorkRoot } from '../helpers/localRuns.ts';

/**
 * A checkout the run user cannot reach (a clone under /root, mode 0700) still trains: the code is
 * copied into the run's work dir, and the dataset is handed over inside it.
 */
describe.skipIf(!isRoot())('a code root the run user cannot search', () => {
  let t: TestDatabase;
  let svc: TestService;
  let code: ReturnType<typeof makeCodeRoot>;
  let work: ReturnType<typeof makeWorkRoot>;
  beforeAll(async () => {
    code = makeCodeRoot({
      'reader/train.py': [
        'import os',
        'path = os.environ["GRIFFIN_DATASET_URI"][len("file://"):]',
        'rows = open(path).read().splitlines()',
        'print("rows", len(rows), "first", rows[0])',
      ].join('\n'),
      'reader/data.csv': 'label,x\n1,0.5\n0,0.25\n',
    });
    fs.chmodSync(code.root, 0o700); // as /root is
    work = makeWorkRoot();
    t = await createTestDatabase('sqlite');
    svc = await startTestService(t.db, {
      dataDir: t.dataDir,
      startWorkers: true,
      loadExamples: false,
      env: { GRIFFIN_CODE_ROOT: code.root, GRIFFIN_LOCAL_WORK_DIR: work.dir },
    });
  });
  afterAll(async () => {
    await svc?.close();
    await t?.destroy();
    code?.destroy();
    work?.destroy();
  });

  it('reads its dataset through the work dir, and the original stays where it was', async () => {
    const api = async (method: string, route: string, body?: unknown) => {
      const res = await svc.admin((svc.request as any)[method.toLowerCase()](route)).send(body as object);
      return { status: res.status, body: res.body };
    };
    const spec = await defineModel(api, 'reader', 'python3 train.py');
    const submitted = await api('POST', '/api/v1/runs', { spec });
    expect(submitted.status).toBe(201);
    const run = await svc.waitForRun(submitted.body.id);
    expect(run.state, run.reason).toBe('succeeded');
    const log = (await svc.admin(svc.request.get(`/api/v1/runs/${run.id}/logs`))).body.text;
    expect(log).toContain('rows 3 first label,x');
    expect(fs.readFileSync(path.join(code.root, 'reader', 'data.csv'), 'utf8')).toBe('label,x\n1,0.5\n0,0.25\n');
  });
});
