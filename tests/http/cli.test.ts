import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../server/config.ts';

import { useTestService, ADMIN_TOKEN } from '../helpers/service.ts';

const CLI = path.join(PROJECT_ROOT, 'bin', 'griffin.js');

/** The griffin CLI as a user runs it: a real process against the real service. */
describe('the griffin CLI', () => {
  const { svc } = useTestService('sqlite');

  const griffin = (args: string[], env: Record<string, string> = {}) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, GRIFFIN_URL: svc.baseUrl, GRIFFIN_TOKEN: ADMIN_TOKEN, ...env } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });

  it('list says so when there is nothing, and prints a header otherwise', async () => {
    const empty = await griffin(['list']);
    expect(empty.code).toBe(0);
    expect(empty.stdout).toBe('no runs yet\n');
    await svc.admin(svc.request.post('/api/v1/runs')).send({ workflow: 'grocery-reorder' });
    const one = await griffin(['list']);
    expect(one.stdout.split('\n')[0]).toMatch(/^RUN\s+STATE\s+WORKFLOW/);
    expect(one.stdout).toContain('grocery-reorder@1');
    expect((await griffin(['list', '--state', 'failed'])).stdout).toBe('no runs match\n');
  });

  it('GRIFFIN_URL may end in /api/v1 or lack its scheme; a bad one is named', async () => {
    const withApi = await griffin(['list'], { GRIFFIN_URL: `${svc.baseUrl}/api/v1/` });
    expect(withApi.code).toBe(0);
    const noScheme = await griffin(['list'], { GRIFFIN_URL: svc.baseUrl.replace(/^http:\/\//, '') });
    expect(noScheme.code).toBe(0);
    const bad = await griffin(['list'], { GRIFFIN_URL: 'ftp://example' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('GRIFFIN_URL "ftp://example" must be an http:// or https:// URL');
  });

  it('submit --queue and --priority put the run in a queue; a queue typo is refused with the nearest name', async () => {
    await svc.admin(svc.request.put('/api/v1/queues/nightly')).send({ maxConcurrentRuns: 1 });
    const submitted = await griffin(['submit', 'grocery-reorder', '--queue', 'nightly', '--priority=-7']);
    expect(submitted.code).toBe(0);
    const id = /submitted run (\w+)/.exec(submitted.stdout)![1];
    const run = (await svc.admin(svc.request.get(`/api/v1/runs/${id}`))).body;
    expect(run).toMatchObject({ queue: 'nightly', priority: -7 });
    expect((await griffin(['status', id])).stdout).toContain('queue: nightly (priority -7)');
    const typo = await griffin(['submit', 'grocery-reorder', '--queue', 'nightyl']);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain('did you mean "nightly"?');
    const badPriority = await griffin(['submit', 'grocery-reorder', '--priority', 'high']);
    expect(badPriority.code).toBe(2);
    expect(badPriority.stderr).toContain('--priority takes a whole number from -100 to 100, not "high"');
  });

  it('a bad number names its option; a workflow typo gets a suggestion', async () => {
    const timeout = await griffin(['submit', 'grocery-reorder', '--timeout', 'abc']);
    expect(timeout.code).toBe(2);
    expect(timeout.stderr).toContain('--timeout takes a whole number of at least 1, not "abc"');
    const typo = await griffin(['submit', 'grocery-reorde']);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain('did you mean "grocery-reorder"?');
  });

  it('workflows list shows each workflow once at its latest version', async () => {
    const out = await griffin(['workflows', 'list']);
    expect(out.code).toBe(0);
    expect(out.stdout.split('\n')[0]).toMatch(/^WORKFLOW\s+LATEST\s+BACKEND\s+MODEL/);
    expect(out.stdout.match(/^grocery-reorder\s/gm)).toHaveLength(1);
    // The example on ray is marked: this server runs local only.
    expect(out.stdout).toMatch(/^grocery-reorder-sweep\s+v\d+\s+ray \(not configured\)/m);
    expect(out.stdout).toMatch(/^grocery-reorder\s+v\d+\s+local\s/m);
  });

  it('backends says which backends this server runs and what to set for the others', async () => {
    const out = await griffin(['backends']);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^local\s+yes\s*$/m);
    expect(out.stdout).toMatch(/^ray\s+no\s+set GRIFFIN_RAY_ADDRESS/m);
  });

  it('token list and revoke; a trigger that starts nothing exits non-zero; schedule delete', async () => {
    const created = await griffin(['token', 'create', 'ci-bot', '--role', 'viewer']);
    expect(created.code).toBe(0);
    const secret = created.stdout.trim();
    const listed = await griffin(['token', 'list']);
    const row = listed.stdout.split('\n').find((line) => line.includes('ci-bot'))!;
    expect(row).toMatch(/viewer/);
    expect(listed.stdout).not.toContain(secret);
    const id = row.split(/\s+/)[0];
    expect((await griffin(['token', 'revoke', id])).code).toBe(0);
    const revoked = await griffin(['list'], { GRIFFIN_TOKEN: secret });
    expect(revoked.code).toBe(1);
    expect(revoked.stderr).toMatch(/401/);

    const schedule = await griffin(['schedule', 'create', 'paused-nightly', '--cron', '0 3 * * *', '--workflow', 'grocery-reorder', '--paused']);
    expect(schedule.code).toBe(0);
    const overlapping = await griffin(['schedule', 'create', 'one-at-a-time', '--cron', '0 3 * * *', '--workflow', 'grocery-reorder', '--max-concurrent', 'x']);
    expect(overlapping.code).toBe(2);
    expect(overlapping.stderr).toContain('--max-concurrent takes a whole number');
    // No workers run here: the first firing's run stays queued, so the second is skipped (overlap skip).
    const first = await griffin(['schedule', 'trigger', 'paused-nightly']);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^submitted run /);
    const second = await griffin(['schedule', 'trigger', 'paused-nightly']);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/no run \(skipped\)/);
    const deleted = await griffin(['schedule', 'delete', 'paused-nightly']);
    expect(deleted.code).toBe(0);
    expect((await griffin(['schedule', 'list'])).stdout).toBe('no schedules\n');
  });
});
