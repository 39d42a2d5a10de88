import { describe, expect, it } from 'vitest';

import { useTestService } from '../helpers/service.ts';

/** GET /metrics: Prometheus text for a scraper holding a viewer token. */
describe('Prometheus metrics', () => {
    // Workers running (nothing to launch yet), so their passes are timed as in production.
  const { svc, t } = useTestService('sqlite', { startWorkers: true });

  const scrape = async () => {
    const res = await svc.request.get('/metrics').set('Authorization', `Bearer ${await svc.tokenFor('viewer')}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    return res.text;
  };

  it('needs a token like the API: 401 without one, 200 for a viewer', async () => {
    const anonymous = await svc.request.get('/metrics');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe('unauthenticated');
    expect(await scrape()).toContain('# TYPE griffin_runs gauge');
  });

  it('counts runs by state and backend at scrape time', async () => {
    // Stored directly as queued runs of a backend no worker here claims, so the count holds still.
    const now = new Date().toISOString();
    await t.db('runs').insert(
      ['r1', 'r2', 'r3'].map((id) => ({ id: `metrics${id}`, state: 'queued', attempt: 1, spec: '{}', backend: 'kubernetes', trigger: 'http', created_at: now, updated_at: now })),
    );
    const text = await scrape();
    expect(text).toMatch(/^griffin_runs\{state="queued",backend="kubernetes"\} 3$/m);
  });

  it('records API latency by declared route, never by raw URL', async () => {
    const run = (await svc.admin(svc.request.get('/api/v1/runs/doesnotexist1'))).status;
    expect(run).toBe(404);
    await svc.admin(svc.request.get('/api/v1/runs/doesnotexist2'));
    await svc.admin(svc.request.get('/api/v1/no/such/route'));
    const text = await scrape();
    expect(text).toMatch(/^griffin_http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/runs\/\{id\}",status="404"\} 2$/m);
    expect(text).toMatch(/route="unmatched",status="404"/);
    expect(text).not.toContain('doesnotexist');
    expect(text).not.toContain('/no/such/route');
  });

  it('times dispatcher and reconciler passes', async () => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const text = await scrape();
      const count = (worker: string) => Number(new RegExp(`^griffin_worker_pass_seconds_count\\{worker="${worker}",outcome="ok"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
      if (count('dispatcher') > 0 && count('reconciler') > 0) break;
      if (Date.now() > deadline) throw new Error(`no timed passes in:\n${text.split('\n').filter((l) => l.includes('worker_pass')).join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
});
