import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../server/config.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { ADMIN_TOKEN, startTestService, type TestService } from '../helpers/service.ts';

const CLI = path.join(PROJECT_ROOT, 'bin', 'griffin.js');

/** `griffin submit --code DIR`: a real CLI process uploads a directory outside the code root and runs it. */
describe('griffin submit --code', () => {
  let t: TestDatabase;
  let svc: TestService;
  let project: string;
  beforeAll(async () => {
    t = await createTestDatabase('sqlite');
    svc = await startTestService(t.db, { dataDir: t.dataDir, startWorkers: true });
    project = fs.mkdtempSync(path.join(os.tmpdir(), 'griffin-cli-project-'));
    fs.writeFileSync(path.join(project, 'train.py'), 'import griffin_run as g\nprint("hello from the laptop", flush=True)\ng.log_metric("acc", 0.9)\n');
    fs.writeFileSync(path.join(project, '.gitignore'), 'data/\n*.log\n!keep.log\n');
    fs.mkdirSync(path.join(project, 'data'));
    fs.writeFileSync(path.join(project, 'data', 'big.csv'), 'x\n');
    fs.writeFileSync(path.join(project, 'debug.log'), 'x\n');
    fs.writeFileSync(path.join(project, 'keep.log'), 'x\n');
  });
  afterAll(async () => {
    await svc.close();
    await t.destroy();
    fs.rmSync(project, { recursive: true, force: true });
  });

  const griffin = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI, ...args], { cwd: os.tmpdir(), env: { ...process.env, GRIFFIN_URL: svc.baseUrl, GRIFFIN_TOKEN: ADMIN_TOKEN } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });

  it('uploads what .gitignore keeps, runs it, follows its log and prints the registered version; the same code again is not stored again', async () => {
    const first = await griffin(['submit', '--code', project, '--entrypoint', 'python train.py', '--dataset', 'grocery-reorder', '--register', 'cli-demo', '--wait']);
    expect(first.code, first.stderr + first.stdout).toBe(0);
    expect(first.stdout).toMatch(/uploaded 3 files of .* as griffin:\/\/code\/[0-9a-f]{64}\n/);
    expect(first.stdout).toContain('hello from the laptop');
    expect(first.stdout).toContain('model version: cli-demo v1');
    const second = await griffin(['submit', '--code', project, '--entrypoint', 'python train.py', '--dataset', 'grocery-reorder']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('(already there)');
    const models = await svc.admin(svc.request.get(`/api/v1/models?name=${path.basename(project).toLowerCase()}`));
    expect(models.body.items).toHaveLength(1);
  });

  it('says what is missing', async () => {
    const noEntry = await griffin(['submit', '--code', project, '--dataset', 'grocery-reorder']);
    expect(noEntry.code).toBe(2);
    expect(noEntry.stderr).toContain('--code needs --entrypoint');
    const missing = await griffin(['submit', '--code', path.join(project, 'nope'), '--entrypoint', 'python train.py', '--dataset', 'grocery-reorder']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('does not exist or is not a directory');
  });
});
