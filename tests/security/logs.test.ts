import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServiceProcess, type ServiceProcess } from '../helpers/process.ts';
import { ADMIN_TOKEN } from '../helpers/service.ts';

/**
 * The service as a real process at debug level: everything it writes to stdout and stderr is
 * captured while tokens and secrets of every kind go through it, and none of them may appear.
 */
describe('secrets never reach the logs', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'griffin-logs-'));
  const serviceSecret = `svc-secret-${crypto.randomBytes(12).toString('hex')}`;
  let svc: ServiceProcess | undefined;
  afterAll(async () => {
    await svc?.stop('SIGTERM');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('a debug-level service logs one JSON access line per request, with the run id, and no token or secret', async () => {
    svc = await startServiceProcess({ GRIFFIN_DATA_DIR: dataDir, GRIFFIN_LOG_LEVEL: 'debug', GRIFFIN_SECRET: serviceSecret, GRIFFIN_AUTH_FAILURE_LIMIT: '1000' });
    const call = async (method: string, route: string, token: string, body?: unknown) => {
      const res = await fetch(`${svc!.baseUrl}${route}`, {
        method,
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
    };

    const created = await call('POST', '/api/v1/tokens', ADMIN_TOKEN, { name: 'log-check', role: 'editor' });
    expect(created.status).toBe(201);
    const userSecret: string = created.body.token;
    expect((await call('GET', '/api/v1/whoami', userSecret)).status).toBe(200);

    const wrongTokens = [`gft_${crypto.randomBytes(18).toString('base64url')}`, `grt_abc_${crypto.randomBytes(18).toString('base64url')}`, `not-even-a-prefix-${crypto.randomBytes(8).toString('hex')}`];
    for (const wrong of wrongTokens) expect((await call('GET', '/api/v1/runs', wrong)).status).toBe(401);
    // A token pasted into the query string is refused, and the URL is not logged either.
    expect((await call('GET', `/api/v1/runs?access_token=${userSecret}`, userSecret)).status).toBeLessThan(500);

    const run = await call('POST', '/api/v1/runs', userSecret, { workflow: 'grocery-reorder', overrides: { hyperparameters: { sleep_per_epoch: 0.3 } } });
    expect(run.status).toBe(201);
    const runId: string = run.body.id;
    // The run token the training process gets (the HMAC rule of AuthService); checked against the service.
    const runToken = `grt_${runId}_${crypto.createHmac('sha256', serviceSecret).update(`run:${runId}`).digest('base64url')}`;
    expect((await call('GET', `/api/v1/runs/${runId}`, runToken)).status).toBe(200);
    expect((await call('GET', '/api/v1/runs', runToken)).status).toBe(403);
    const dry = await call('POST', '/api/v1/runs?dryRun=true', userSecret, { workflow: 'grocery-reorder' });
    expect(JSON.stringify(dry.body)).not.toContain('grt_');

    const deadline = Date.now() + 60_000;
    let final;
    for (;;) {
      final = (await call('GET', `/api/v1/runs/${runId}`, ADMIN_TOKEN)).body;
      if (final.terminal || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    // The training process reported metrics and an artifact with its run token, through the service.
    expect(final.state, final.reason).toBe('succeeded');
    expect(Object.keys(final.latestMetrics)).toContain('auc');
    await new Promise((r) => setTimeout(r, 300)); // the last access lines are flushed after the response

    const output = svc.output();
    for (const [what, secret] of [
      ['admin token', ADMIN_TOKEN],
      ['issued token', userSecret],
      ['service secret', serviceSecret],
      ['run token', runToken],
      // Sliced, not split on '_': base64url signatures contain '_' about half the time, and the
      // piece after the last one can be a few characters that any log holds by chance.
      ['run token signature', runToken.slice(`grt_${runId}_`.length)],
      ...wrongTokens.map((w) => ['rejected token', w]),
    ]) {
      expect(output.includes(secret), `${what} appears in the service output`).toBe(false);
    }
    expect(output).not.toMatch(/authorization/i);

    const lines = output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    const access = lines.filter((l) => l.msg === 'request');
    expect(access.length).toBeGreaterThan(10);
    for (const line of access) expect(Object.keys(line).sort()).toEqual(expect.arrayContaining(['method', 'route', 'status', 'ms']));
    const runLines = access.filter((l) => l.route === '/api/v1/runs/{id}' && l.status === 200);
    expect(runLines.length).toBeGreaterThan(0);
    expect(runLines.every((l) => l.runId === runId)).toBe(true);
    // Training reports arrive on the run's routes and are logged with its id.
    expect(access.some((l) => l.route === '/api/v1/runs/{id}/metrics' && l.method === 'POST' && l.runId === runId)).toBe(true);
    expect(lines.some((l) => l.msg === 'run started' && l.runId === runId)).toBe(true);
  });
});
