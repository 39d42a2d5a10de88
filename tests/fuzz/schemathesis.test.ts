import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, supportedDatabases, type TestDatabase } from '../helpers/databases.ts';
import { startServiceProcess, type ServiceProcess } from '../helpers/process.ts';

/**
 * schemathesis (tests/setup/ensure.sh part "fuzz") generates requests from /api/v1/openapi.json,
 * valid and invalid, against the service on SQLite and on PostgreSQL, with every check it has:
 * no 5xx, responses, statuses, content types and headers as documented, invalid input rejected,
 * valid input accepted, unsupported methods answered 405 with Allow, authentication never ignored.
 * Without the fuzz venv the test fails with this message rather than skipping, unless
 * GRIFFIN_TEST_SKIP names "fuzz" on purpose.
 */
function schemathesisBin(): string | undefined {
  const bin = process.env.GRIFFIN_FUZZ_SCHEMATHESIS;
  if (bin) return bin;
  if ((process.env.GRIFFIN_TEST_SKIP ?? '').split(',').map((s) => s.trim()).includes('fuzz')) return undefined;
  throw new Error('GRIFFIN_FUZZ_SCHEMATHESIS is not set: run `npm test` (or bash tests/setup/ensure.sh --only fuzz and source ~/.cache/griffin-test/env), or set GRIFFIN_TEST_SKIP=fuzz');
}

const bin = schemathesisBin();
/** Test cases per operation and phase (examples, coverage, fuzzing, stateful). */
const MAX_EXAMPLES = process.env.GRIFFIN_FUZZ_EXAMPLES ?? '25';
const SEED = process.env.GRIFFIN_FUZZ_SEED ?? '20261128';
const HARD_LIMIT_MS = 420_000;

/** Access lines of the service log with a 5xx status: what the fuzzer's requests did to it. */
function serverErrorLines(log: string): string[] {
  return log.split('\n').filter((line) => {
    try {
      const entry = JSON.parse(line) as { msg?: string; status?: number };
      return entry.msg === 'request' && typeof entry.status === 'number' && entry.status >= 500;
    } catch {
      return false;
    }
  });
}

/** schemathesis settings: which operation gets which live object, and what each check may expect. */
function configFile(runA: string, runB: string): string {
  return [
    // Valid-looking input the JSON Schema cannot tell apart from a real reference: names of
    // objects that do not exist (404/422), cron expressions and time zones that are well-formed
    // strings but not valid ones (400), conflicts with the current state (409).
    '[checks.positive_data_acceptance]',
    'expected-statuses = ["2XX", "400", "401", "403", "404", "409", "422", "429"]',
    '',
    // Cancel gets a run of its own, so the other routes keep a live one.
    '[[operations]]',
    'include-operation-id = "postApiV1RunsIdCancel"',
    `parameters = { "path.id" = "${runB}" }`,
    '[[operations]]',
    'include-operation-id = "getApiV1RunsIdLogs"',
    // follow=true streams until the run ends, and these runs never start.
    `parameters = { "path.id" = "${runA}", "query.follow" = "false" }`,
    '[[operations]]',
    'include-path-regex = "^/api/v1/runs/\\\\{id\\\\}"',
    'exclude-operation-id = ["postApiV1RunsIdCancel", "getApiV1RunsIdLogs"]',
    `parameters = { "path.id" = "${runA}" }`,
    // With one of two path parameters fixed, schemathesis would count a request whose other one it
    // negated, and the fixed one replaced, as invalid; fix both.
    '[[operations]]',
    'include-path-regex = "^/api/v1/registry/models/\\\\{name\\\\}/versions/\\\\{version\\\\}"',
    'parameters = { "path.name" = "fuzz-model", "path.version" = 1 }',
    '[[operations]]',
    'include-path-regex = "^/api/v1/registry/models/\\\\{name\\\\}"',
    'exclude-path-regex = "/versions/\\\\{version\\\\}"',
    'parameters = { "path.name" = "fuzz-model" }',
    // Deleting the schedule would leave the other schedule operations nothing but 404s.
    '[[operations]]',
    'include-path-regex = "^/api/v1/schedules/\\\\{id\\\\}"',
    'exclude-operation-id = "deleteApiV1SchedulesId"',
    'parameters = { "path.id" = "fuzz-schedule" }',
    '',
  ].join('\n');
}

async function runSchemathesis(args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  const child = spawn(bin!, args, { cwd, env: { ...process.env, SCHEMATHESIS_HOOKS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const killer = setTimeout(() => child.kill('SIGKILL'), HARD_LIMIT_MS);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(killer);
  return { code, output };
}

describe.skipIf(!bin).each(bin ? supportedDatabases() : ['sqlite' as const])('schemathesis against the OpenAPI document on %s', (dbId) => {
  let database: TestDatabase | undefined;
  let svc: ServiceProcess | undefined;
  afterAll(async () => {
    await svc?.stop('SIGTERM');
    await database?.destroy();
  });

  it('finds no 5xx and no response that contradicts the document', { timeout: HARD_LIMIT_MS + 60_000 }, async () => {
    database = await createTestDatabase(dbId, { migrate: false });
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `griffin-fuzz-${dbId}-`));
    // Workers off: fuzzed models carry arbitrary entrypoints, and nothing here may run them.
    svc = await startServiceProcess({
      GRIFFIN_DATA_DIR: dataDir,
      ...(database.url ? { GRIFFIN_DATABASE_URL: database.url } : {}),
      GRIFFIN_WORKERS: 'false',
      GRIFFIN_AUTH_FAILURE_LIMIT: '1000000',
      // Secrets on, so PUT /secrets/{name} reaches the encryption and the store.
      GRIFFIN_SECRET: 'fuzz-master-secret',
    });
    // A token of its own: whatever schemathesis does to tokens, the test's admin token survives.
    const fuzzToken = (await svc.api('POST', '/api/v1/tokens', { name: 'schemathesis', role: 'admin' })).body.token as string;
    // Real objects, so that requests reach the logic behind "not found".
    const runA = (await svc.api('POST', '/api/v1/runs', { workflow: 'grocery-reorder' })).body.id as string;
    const runB = (await svc.api('POST', '/api/v1/runs', { workflow: 'grocery-reorder' })).body.id as string;
    expect((await svc.api('POST', '/api/v1/registry/models', { name: 'fuzz-model', description: 'fuzzing', tags: {} })).status).toBe(201);
    expect((await svc.api('POST', '/api/v1/registry/models/fuzz-model/versions', { artifactUri: 's3://bucket/model', aliases: ['production'] })).status).toBe(201);
    // Paused, and the workers are off: it never fires.
    expect((await svc.api('POST', '/api/v1/schedules', { name: 'fuzz-schedule', cron: '0 3 * * *', workflow: 'grocery-reorder', enabled: false })).status).toBe(201);

    const config = path.join(dataDir, 'schemathesis.toml');
    fs.writeFileSync(config, configFile(runA, runB));
    const { code, output } = await runSchemathesis(
      [
        '--config-file', config,
        'run', `${svc.baseUrl}/api/v1/openapi.json`,
        '--header', `Authorization: Bearer ${fuzzToken}`,
        '--checks', 'all',
        '--max-examples', MAX_EXAMPLES,
        '--seed', SEED,
        // Revoking tokens would only lock the fuzzer out; token creation and listing stay in.
        '--exclude-operation-id', 'deleteApiV1TokensId',
        '--request-timeout', '20',
        '--no-color',
      ],
      dataDir,
    );
    const serverErrors = serverErrorLines(svc.output());
    if (process.env.GRIFFIN_FUZZ_REPORT) {
      fs.writeFileSync(`${process.env.GRIFFIN_FUZZ_REPORT}.${dbId}`, `${output}\n\n5xx lines in the service log: ${serverErrors.length}\n${serverErrors.join('\n')}\n`);
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
    expect(code, `schemathesis on ${dbId} (seed ${SEED}) exited with ${code}:\n${output.slice(-8000)}`).toBe(0);
    // A 5xx the fuzzer could not pin on one operation still shows in the service log.
    expect(serverErrors, `the service answered ${serverErrors.length} requests with a 5xx`).toEqual([]);
    expect(output).toMatch(/\d+ generated, \d+ passed/);
  });
});
