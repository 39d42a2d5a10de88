import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServiceProcess, type ServiceProcess } from '../helpers/process.ts';

/**
 * schemathesis (tests/setup/ensure.sh part "fuzz") generates requests from /api/v1/openapi.json,
 * valid and invalid, and checks that none is answered with a 5xx and that every response matches
 * the document. Without the fuzz venv the test fails with this message rather than skipping,
 * unless GRIFFIN_TEST_SKIP names "fuzz" on purpose.
 */
function schemathesisBin(): string | undefined {
  const bin = process.env.GRIFFIN_FUZZ_SCHEMATHESIS;
  if (bin) return bin;
  if ((process.env.GRIFFIN_TEST_SKIP ?? '').split(',').map((s) => s.trim()).includes('fuzz')) return undefined;
  throw new Error('GRIFFIN_FUZZ_SCHEMATHESIS is not set: run `npm test` (or bash tests/setup/ensure.sh --only fuzz and source ~/.cache/griffin-test/env), or set GRIFFIN_TEST_SKIP=fuzz');
}

const bin = schemathesisBin();
/** Test cases per operation and phase; about two minutes for the whole API on two cores. */
const MAX_EXAMPLES = process.env.GRIFFIN_FUZZ_EXAMPLES ?? '10';
const SEED = process.env.GRIFFIN_FUZZ_SEED ?? '20261128';
const HARD_LIMIT_MS = 360_000;

describe.skipIf(!bin)('schemathesis against the OpenAPI document', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'griffin-fuzz-'));
  let svc: ServiceProcess | undefined;
  afterAll(async () => {
    await svc?.stop('SIGTERM');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('finds no 5xx and no response that contradicts the document', { timeout: HARD_LIMIT_MS + 60_000 }, async () => {
    // Workers off: fuzzed models carry arbitrary entrypoints, and nothing here may run them.
    svc = await startServiceProcess({ GRIFFIN_DATA_DIR: dataDir, GRIFFIN_WORKERS: 'false', GRIFFIN_AUTH_FAILURE_LIMIT: '1000000' });
    // A token of its own: whatever schemathesis does to tokens, the test's admin token survives.
    const fuzzToken = (await svc.api('POST', '/api/v1/tokens', { name: 'schemathesis', role: 'admin' })).body.token as string;
    // Real objects, so that requests reach the logic behind "not found".
    const runA = (await svc.api('POST', '/api/v1/runs', { workflow: 'grocery-reorder' })).body.id as string;
    const runB = (await svc.api('POST', '/api/v1/runs', { workflow: 'grocery-reorder' })).body.id as string;
    expect((await svc.api('POST', '/api/v1/registry/models', { name: 'fuzz-model', description: 'fuzzing', tags: {} })).status).toBe(201);
    expect((await svc.api('POST', '/api/v1/registry/models/fuzz-model/versions', { artifactUri: 's3://bucket/model', aliases: ['production'] })).status).toBe(201);

    const config = path.join(dataDir, 'schemathesis.toml');
    fs.writeFileSync(
      config,
      [
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
        '[[operations]]',
        'include-path-regex = "^/api/v1/registry/models/\\\\{name\\\\}"',
        'parameters = { "path.name" = "fuzz-model" }',
        '',
      ].join('\n'),
    );
    const args = [
      '--config-file', config,
      'run', `${svc.baseUrl}/api/v1/openapi.json`,
      '--header', `Authorization: Bearer ${fuzzToken}`,
      '--checks', 'not_a_server_error,response_schema_conformance',
      '--max-examples', MAX_EXAMPLES,
      '--seed', SEED,
      // Revoking tokens would only lock the fuzzer out; token creation and listing stay in.
      '--exclude-operation-id', 'deleteApiV1TokensId',
      '--request-timeout', '20',
      '--no-color',
    ];
    const child = spawn(bin!, args, { cwd: dataDir, env: { ...process.env, SCHEMATHESIS_HOOKS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), HARD_LIMIT_MS);
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    clearTimeout(killer);
    if (process.env.GRIFFIN_FUZZ_REPORT) fs.writeFileSync(process.env.GRIFFIN_FUZZ_REPORT, output);
    expect(code, `schemathesis (seed ${SEED}) exited with ${code}:\n${output.slice(-8000)}`).toBe(0);
    // A 5xx the fuzzer could not pin on one operation still shows in the service log.
    const serverErrors = svc.output().split('\n').filter((l) => l.includes('"unhandled error"'));
    expect(serverErrors, 'the service logged unhandled errors').toEqual([]);
    expect(output).toMatch(/\d+ generated, \d+ passed/);
  });
});
