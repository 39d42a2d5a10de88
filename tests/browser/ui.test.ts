import fs from 'node:fs';
import { expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { browserSuite, describeInBrowser } from '../helpers/browser.ts';
import { ADMIN_TOKEN } from '../helpers/service.ts';

/*
 * The web UI as a user meets it: the real service started as a process, serving the built UI,
 * driven in headless Chromium (tests/helpers/browser.ts). Screenshots of the main pages land in
 * test-results/screenshots/.
 */

const AIRFLOW_UI = 'http://airflow.example.test:8080';

describeInBrowser('web UI (headless Chromium)', () => {
  const ui = browserSuite('ui', { GRIFFIN_AIRFLOW_BASE_URL: AIRFLOW_UI });
  const { newPage, signIn, shot, pageErrors } = ui;

  /** The text of the run page's state badge (in the header). */
  const headerState = (page: Page) => page.locator('.page-header h1 .badge').getAttribute('data-state');

  it('a user signs in, runs the example workflow, watches it finish and promotes the model version to production', async () => {
    const page = await newPage();
    await page.goto('/');
    await page.waitForURL('**/signin');

    await page.fill('input[name="token"]', 'gft_not_a_real_token');
    await page.click('button[type="submit"]');
    await expect(page.locator('[data-field="token"] .field-error').textContent()).resolves.toMatch(/not accepted/);
    await shot(page, '01-sign-in-rejected');

    await page.fill('input[name="token"]', ADMIN_TOKEN);
    await page.click('button[type="submit"]');
    await page.waitForURL('**/runs');
    await page.waitForSelector('text=No runs yet');

    await page.click('.sidebar >> text=Workflows');
    await page.click('tr[data-workflow="grocery-reorder"] button');
    await page.waitForURL(/\/workflows\/grocery-reorder\?tab=run$/);
    // Slow epochs keep the run going long enough to watch it stream.
    await page.fill('input[name="hp.epochs"]', '10');
    await page.fill('input[name="hp.sleep_per_epoch"]', '0.5');
    await shot(page, '02-workflow-run-form');
    await page.click('[data-testid="start-run"]');
    await page.waitForURL(/\/runs\/[a-z0-9]+$/);
    const runId = page.url().split('/').pop()!;

    // Logs stream in while the run is still running.
    await page.waitForSelector('[data-testid="run-logs"] >> text=/epoch 1\\/10/');
    await page.waitForSelector('.page-header h1 .badge[data-state="running"]');
    await shot(page, '03-run-running');

    await page.waitForSelector('.page-header h1 .badge[data-state="succeeded"]', { timeout: 90_000 });
    await page.waitForSelector('[data-testid="run-logs"] >> text=/epoch 10\\/10/');
    await page.waitForSelector('[data-testid="run-logs"] >> text=/done: auc=/');
    await page.waitForSelector('figure.chart[data-metric="val_auc"] svg path');
    await page.waitForSelector('figure.chart[data-metric="train_loss"] svg path');
    expect(await headerState(page)).toBe('succeeded');
    const timeline = await page.locator('.timeline').textContent();
    for (const state of ['queued', 'launching', 'running', 'succeeded']) expect(timeline).toContain(state);
    const versionLink = page.locator('[data-testid="model-version-link"]');
    await versionLink.waitFor();
    expect(await versionLink.textContent()).toBe('grocery-reorder v1');
    await page.waitForSelector('.card >> text=model.json');
    await shot(page, '04-run-succeeded');

    const run = await ui.service.api('GET', `/api/v1/runs/${runId}`);
    expect(run.body).toMatchObject({ state: 'succeeded', trigger: 'ui', spec: { hyperparameters: { epochs: 10, sleep_per_epoch: 0.5 } } });

    await versionLink.click();
    await page.waitForURL('**/registry/grocery-reorder/versions/1');
    await page.waitForSelector(`.lineage >> text=${runId}`);
    await page.click('[data-testid="promote-v1"]');
    await page.click('[data-testid="confirm-promote"]');
    await page.waitForSelector('.page-header .chip-production >> text=production');
    await shot(page, '05-model-version');
    const alias = await ui.service.api('GET', '/api/v1/registry/models/grocery-reorder/aliases/production');
    expect(alias.status).toBe(200);
    expect(alias.body.version).toBe(1);

    await page.click('.crumbs >> text=grocery-reorder');
    await page.waitForSelector('tr[data-version="1"] .chip-production');
    await page.waitForSelector('.versions-table th >> text=val_auc');
    // The promotion is in the alias history: from unset to v1, by the signed-in token, and why.
    await page.waitForSelector('[data-testid="alias-history"] tr:has-text("promoted in the web UI"):has-text("unset")');
    await shot(page, '06-registered-model');

    await page.click('.sidebar >> text=Runs');
    await page.waitForSelector(`tr[data-run="${runId}"] .badge[data-state="succeeded"]`);
    await shot(page, '07-runs');
    await page.selectOption('select[name="state"]', 'failed');
    await page.waitForSelector('text=No runs match these filters');
    expect(page.url()).toContain('state=failed');
    expect(pageErrors).toEqual([]);
  }, 180_000);

  it('submitting an invalid workflow version from the form shows the field error and creates nothing', async () => {
    const before = await ui.service.api('GET', '/api/v1/workflows/grocery-reorder/versions');
    const page = await newPage();
    await signIn(page);
    await page.goto('/workflows/grocery-reorder?tab=new');
    await page.fill('input[name="timeoutSeconds"]', '-5');
    await page.click('button[type="submit"] >> text=Save new version');
    const error = page.locator('[data-field="timeoutSeconds"] .field-error');
    await error.waitFor();
    expect(await error.textContent()).toMatch(/too small|greater than|>0/i);
    expect(await page.locator('.field-error').count()).toBe(1);
    await shot(page, '08-workflow-invalid-version');

    const after = await ui.service.api('GET', '/api/v1/workflows/grocery-reorder/versions');
    expect(after.body.items.length).toBe(before.body.items.length);

    // Fixed, the same form saves version 2 and shows it.
    await page.fill('input[name="timeoutSeconds"]', '900');
    await page.click('button[type="submit"] >> text=Save new version');
    await page.waitForURL(/\/workflows\/grocery-reorder\?version=2$/);
    await page.waitForSelector('.page-header .version-pill >> text=v2');
    const created = await ui.service.api('GET', '/api/v1/workflows/grocery-reorder');
    expect(created.body).toMatchObject({ version: 2, timeoutSeconds: 900 });
    await page.waitForSelector('.card >> text=15 min 0 s');
    await shot(page, '09-workflow-definition');
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('starting a run on a backend that is not configured shows why on the form', async () => {
    // Forced: this server has no Kubernetes, so a plain save is refused (tests/http/newcomer.test.ts).
    const created = await ui.service.api('POST', '/api/v1/workflows?force=true', {
      name: 'needs-kubernetes',
      model: 'logistic-regression',
      dataset: 'grocery-reorder',
      runtime: 'python3',
      backend: 'kubernetes',
    });
    expect(created.status).toBe(201);
    const before = await ui.service.api('GET', '/api/v1/runs?workflow=needs-kubernetes');
    const page = await newPage();
    await signIn(page);
    await page.goto('/workflows/needs-kubernetes?tab=run');
    await page.click('[data-testid="start-run"]');
    const banner = page.locator('.banner-error >> text=The run was not started');
    await banner.waitFor();
    expect(await page.locator('.banner-error').textContent()).toMatch(/kubernetes/i);
    await shot(page, '10-run-on-unconfigured-backend');
    const after = await ui.service.api('GET', '/api/v1/runs?workflow=needs-kubernetes');
    expect(after.body.items.length).toBe(before.body.items.length);
    expect(page.url()).toMatch(/tab=run$/);
  }, 60_000);

  it('a run held by its queue shows the queue, its priority and what it waits for', async () => {
    // A queue that launches nothing: the run stays queued for as long as the page is looked at.
    expect((await ui.service.api('PUT', '/api/v1/queues/held-ui', { maxConcurrentRuns: 0, defaultPriority: 5 })).status).toBe(201);
    const submitted = await ui.service.api('POST', '/api/v1/runs', { workflow: 'grocery-reorder@1', overrides: { queue: 'held-ui' } });
    expect(submitted.status).toBe(201);
    const page = await newPage();
    await signIn(page);
    await page.goto(submitted.body.url);
    await page.waitForSelector('[data-testid="run-reason"] >> text=waiting for queue held-ui: 0 of 0 running');
    expect(await page.locator('[data-testid="run-reason"] strong').textContent()).toBe('Waiting');
    expect(await page.locator('[data-testid="run-queue"]').textContent()).toBe('held-ui');
    expect(await page.locator('.stats >> text=priority 5').count()).toBe(1);
    await shot(page, '10-run-waiting-in-queue');
    // The runs list says the same under the run's state.
    await page.goto('/runs');
    await page.waitForSelector(`tr[data-run="${submitted.body.id}"] [data-testid="run-waiting"] >> text=waiting for queue held-ui: 0 of 0 running`);
    await ui.service.api('POST', `/api/v1/runs/${submitted.body.id}/cancel`, {});
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('a run opened from its url can be cancelled from its page', async () => {
    // Long epochs: the run is still going when the cancel arrives.
    const submitted = await ui.service.api('POST', '/api/v1/runs', { workflow: 'grocery-reorder@1', overrides: { hyperparameters: { epochs: 50, sleep_per_epoch: 2 } } });
    expect(submitted.status).toBe(201);
    const page = await newPage();
    await signIn(page);
    expect(submitted.body.url).toBe(`${ui.service.baseUrl}/runs/${submitted.body.id}`);
    await page.goto(submitted.body.url);
    await page.waitForSelector(`.page-header h1 >> text=${submitted.body.id}`);
    await page.waitForSelector('[data-testid="run-logs"] >> text=/epoch 1\\/50/');
    await page.click('button >> text=Cancel run');
    await page.click('button >> text=Yes, cancel it');
    await page.waitForSelector('.page-header h1 .badge[data-state="cancelled"]', { timeout: 45_000 });
    await page.waitForSelector('[data-testid="run-reason"] >> text=/cancelled/i');
    await page.waitForSelector('.timeline .badge[data-state="cancelling"]');
    await shot(page, '10-run-cancelled');
    const run = await ui.service.api('GET', `/api/v1/runs/${submitted.body.id}`);
    expect(run.body.state).toBe('cancelled');

    // API errors read as messages on the page, never as a blank page.
    await page.goto('/runs/zzzzzzzzzzzz');
    await page.waitForSelector('[role="alert"] >> text=No such run');
    expect(await page.locator('[role="alert"]').textContent()).toContain('HTTP 404');
    await page.goto('/no/such/page');
    await page.waitForSelector('[role="alert"] >> text=Page not found');
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('a run from an Airflow DAG links back to its task, and the runs list filters by DAG', async () => {
    const airflow = { dagId: 'grocery_retrain', dagRunId: 'scheduled__2026-11-28T03:00:00+00:00', taskId: 'train', tryNumber: 1 };
    const submitted = await ui.service.api('POST', '/api/v1/runs', { workflow: 'grocery-reorder', trigger: 'airflow', airflow });
    expect(submitted.status).toBe(201);
    const page = await newPage();
    await signIn(page);
    await page.goto(`/runs/${submitted.body.id}`);
    const link = page.locator('[data-testid="airflow-link"]');
    expect(await link.getAttribute('href')).toBe(`${AIRFLOW_UI}/dags/grocery_retrain/runs/${encodeURIComponent(airflow.dagRunId)}/tasks/train`);
    await page.waitForSelector('.card >> text=grocery_retrain');

    await page.goto('/runs');
    await page.waitForSelector(`tr[data-run="${submitted.body.id}"]`);
    await page.fill('input[name="dagId"]', 'grocery_retrain');
    await page.press('input[name="dagId"]', 'Enter');
    await page.waitForURL(/dagId=grocery_retrain/);
    await page.waitForFunction(() => document.querySelectorAll('tr[data-run]').length === 1);
    expect(await page.locator('tr[data-run]').getAttribute('data-run')).toBe(submitted.body.id);
    await page.selectOption('select[name="trigger"]', 'ui');
    await page.waitForSelector('text=No runs match these filters');
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('dry runs, the Model Store, schedules and tokens work; a revoked token returns to sign-in', async () => {
    const page = await newPage();
    await signIn(page);

    await page.goto('/workflows/grocery-reorder?tab=dryrun&version=1');
    await page.waitForSelector('[data-testid="dryrun-local"] >> text=/train\\.py/');
    await shot(page, '11-workflow-dry-run');

    await page.goto('/catalog/datasets/grocery-reorder');
    await page.waitForSelector('.chips-wrap >> text=user_reorder_rate');
    await page.goto('/catalog/features');
    await page.click('button >> text=New feature');
    await page.fill('input[name="name"]', 'basket_size');
    await page.fill('input[name="entityKey"]', 'order_id');
    await page.fill('input[name="source"]', 'warehouse.orders.basket_size');
    await page.click('button >> text=Save feature');
    await page.waitForSelector('#feature-basket_size');
    await page.goto('/catalog/models');
    await page.waitForSelector('text=logistic-regression');
    await shot(page, '12-model-store');

    const schedulesApi = await ui.service.api('GET', '/api/v1/schedules');
    await page.goto('/schedules');
    if (schedulesApi.status === 404) {
      await page.waitForSelector('text=Schedules are not available on this Griffin service');
    } else {
      await page.click('button >> text=New schedule');
      await page.fill('input[name="name"]', 'nightly-grocery');
      await page.fill('input[name="workflow"]', 'grocery-reorder');
      await page.fill('input[name="timezone"]', 'UTC');
      await page.click('button >> text=Create schedule');
      const row = page.locator('tr[data-schedule="nightly-grocery"]');
      await row.locator('.badge[data-state="active"]').waitFor();
      expect(await row.locator('.fire-times li').count()).toBe(3);
      await row.locator('button >> text=Pause').click();
      await row.locator('.badge[data-state="paused"]').waitFor();
      await row.locator('button >> text=Resume').click();
      await row.locator('.badge[data-state="active"]').waitFor();
    }
    await shot(page, '13-schedules');

    // A service without the schedules API answers 404 the way the real one answers any unknown
    // API route (the same JSON error); the page says so instead of failing. Simulated with a
    // route because this service has the schedules API.
    const older = await newPage();
    await signIn(older);
    await older.route('**/api/v1/schedules**', (route) =>
      route.fulfill({ status: 404, contentType: 'application/json', body: JSON.stringify({ error: { code: 'not_found', message: 'no API route GET /api/v1/schedules' } }) }),
    );
    await older.goto('/schedules');
    await older.waitForSelector('text=Schedules are not available on this Griffin service');
    await shot(older, '13b-schedules-unavailable');

    await page.click('.sidebar >> text=Tokens');
    await page.fill('input[name="name"]', 'ci-bot');
    await page.selectOption('select[name="role"]', 'viewer');
    await page.click('button >> text=Create token');
    const secret = (await page.locator('[data-testid="new-token"] pre').textContent())!.trim();
    expect(secret.length).toBeGreaterThan(20);
    await page.waitForSelector('tr[data-token="ci-bot"] >> text=viewer');
    await shot(page, '14-tokens');

    // A viewer sees the runs but no Tokens page and no Run buttons.
    const viewer = await newPage();
    await signIn(viewer, secret);
    await viewer.goto('/workflows');
    await viewer.waitForSelector('tr[data-workflow="grocery-reorder"]');
    expect(await viewer.locator('.sidebar >> text=Tokens').count()).toBe(0);
    expect(await viewer.locator('tr[data-workflow="grocery-reorder"] button').count()).toBe(0);

    // Revoked in the admin's UI, the viewer's next request sends it back to sign-in with the reason.
    await page.click('tr[data-token="ci-bot"] >> text=Revoke…');
    await page.click('tr[data-token="ci-bot"] button >> text=Revoke');
    await page.waitForSelector('tr[data-token="ci-bot"] >> text=revoked');
    await viewer.goto('/runs');
    await viewer.waitForURL('**/signin**');
    await viewer.waitForSelector('text=Your session ended');
    expect(pageErrors).toEqual([]);
  }, 120_000);

  /** A viewer's token, made once through the API. */
  let viewerToken: string | undefined;
  async function viewerSecret(): Promise<string> {
    if (!viewerToken) {
      const made = await ui.service.api('POST', '/api/v1/tokens', { name: 'ui-viewer', role: 'viewer' });
      expect(made.status).toBe(201);
      viewerToken = made.body.token as string;
    }
    return viewerToken!;
  }

  /** Polls the API (no fixed sleeps to assert on) until the run is terminal. */
  async function finished(runId: string): Promise<Record<string, any>> {
    for (;;) {
      const run = await ui.service.api('GET', `/api/v1/runs/${runId}`);
      if (run.body.terminal) return run.body;
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Every API answer of 400 or more, and every console error, while `page` is open. */
  function watchFailures(page: Page): string[] {
    const failures: string[] = [];
    page.on('response', (res) => {
      if (res.status() >= 400 && new URL(res.url()).pathname.startsWith('/api/')) failures.push(`${res.status()} ${res.request().method()} ${res.url()} (on ${page.url()})`);
    });
    page.on('console', (msg) => {
      if (msg.type() === 'error') failures.push(`console: ${msg.text()} (on ${page.url()})`);
    });
    return failures;
  }

  /** Tables (and their scroll containers) wider than the room they have: a clipped or hidden column. */
  const clippedTables = (page: Page) =>
    page.evaluate(() =>
      [...document.querySelectorAll<HTMLElement>('.table-wrap, .card-body, .main')]
        .filter((el) => el.offsetParent !== null && el.scrollWidth > el.clientWidth + 1)
        .map((el) => `${el.className}: scrollWidth ${el.scrollWidth} > clientWidth ${el.clientWidth} (${el.querySelector('thead')?.textContent?.slice(0, 80) ?? el.textContent?.slice(0, 60)})`),
    );

  it('a schedule opens by name; it is edited and deleted in the UI; fire times name its time zone; the list shows its last run', async () => {
    const created = await ui.service.api('POST', '/api/v1/schedules', { name: 'berlin-nightly', cron: '0 3 * * *', timezone: 'Europe/Berlin', workflow: 'grocery-reorder', overrides: { hyperparameters: { epochs: 2 } } });
    expect(created.status).toBe(201);
    const fired = await ui.service.api('POST', '/api/v1/schedules/berlin-nightly/trigger');
    expect(fired.status).toBeLessThan(300);
    const runId = fired.body.run.id as string;
    await finished(runId);

    const page = await newPage();
    const failures = watchFailures(page);
    await signIn(page);
    await page.goto('/schedules/berlin-nightly');
    await page.waitForSelector('.card-head >> text=Schedule berlin-nightly');
    expect(await page.locator('[data-testid="schedule-timezone"]').textContent()).toContain('Europe/Berlin');
    // 03:00 in Berlin, said as 03:00 with Berlin's offset (winter: GMT+1), whatever the browser's zone.
    const next = await page.locator('.schedule-detail .fire-times li').first().textContent();
    expect(next).toMatch(/03:00:00 GMT\+1/);
    const row = page.locator('tr[data-schedule="berlin-nightly"]');
    await row.locator(`[data-col="last"] >> text=${runId}`).waitFor();
    expect(await row.locator('[data-col="last"] .badge').getAttribute('data-state')).toBe('succeeded');
    expect(await row.locator('[data-col="next"]').textContent()).toMatch(/GMT\+1/);
    // The firings table keeps its reason column inside the card.
    await page.waitForSelector(`.firings-table >> text=${runId}`);
    expect(await clippedTables(page)).toEqual([]);
    await shot(page, '15-schedule-by-name');

    await page.click('.schedule-detail button >> text=Edit');
    await page.fill('input[name="cron"]', '0 4 * * *');
    await page.click('button >> text=Save changes');
    await page.waitForSelector('.schedule-detail .kv >> text=0 4 * * *');
    expect((await ui.service.api('GET', '/api/v1/schedules/berlin-nightly')).body).toMatchObject({ cron: '0 4 * * *', timezone: 'Europe/Berlin', overrides: { hyperparameters: { epochs: 2 } } });
    expect(await page.locator('.schedule-detail .fire-times li').first().textContent()).toMatch(/04:00:00 GMT\+1/);

    // A viewer reads it by name too, without edit or delete.
    const viewer = await newPage();
    await signIn(viewer, await viewerSecret());
    await viewer.goto('/schedules/berlin-nightly');
    await viewer.waitForSelector('.card-head >> text=Schedule berlin-nightly');
    expect(await viewer.locator('.schedule-detail button >> text=Edit').count()).toBe(0);
    expect(await viewer.locator('.schedule-detail button >> text=Delete…').count()).toBe(0);

    await page.click('.schedule-detail button >> text=Delete…');
    await page.click('button >> text=Yes, delete');
    await page.waitForURL(/\/schedules$/);
    expect((await ui.service.api('GET', '/api/v1/schedules/berlin-nightly')).status).toBe(404);
    expect((await ui.service.api('GET', `/api/v1/runs/${runId}`)).status).toBe(200);
    expect(failures).toEqual([]);
    expect(pageErrors).toEqual([]);
  }, 120_000);

  it("Run again opens the run form with the run's overrides filled in, and starts a run with them", async () => {
    const submitted = await ui.service.api('POST', '/api/v1/runs', { workflow: 'grocery-reorder@1', overrides: { hyperparameters: { epochs: 3, l2: 0.25 }, timeoutSeconds: 900 } });
    expect(submitted.status).toBe(201);
    await finished(submitted.body.id);
    const page = await newPage();
    await signIn(page);
    await page.goto(`/runs/${submitted.body.id}`);
    await page.click('[data-testid="run-again"]');
    await page.waitForURL(/tab=run/);
    await page.waitForSelector(`.banner >> text=${submitted.body.id}`);
    expect(await page.inputValue('input[name="hp.epochs"]')).toBe('3');
    expect(await page.inputValue('input[name="hp.l2"]')).toBe('0.25');
    expect(await page.inputValue('input[name="timeoutSeconds"]')).toBe('900');
    // What the run did not change stays empty: the workflow's value applies.
    expect(await page.inputValue('input[name="hp.batch_size"]')).toBe('');
    await shot(page, '16-run-again');
    await page.click('[data-testid="start-run"]');
    await page.waitForURL((url) => /\/runs\/[a-z0-9]+$/.test(url.pathname) && !url.pathname.endsWith(submitted.body.id));
    const again = await ui.service.api('GET', `/api/v1/runs/${page.url().split('/').pop()}`);
    expect(again.body.spec).toMatchObject({ hyperparameters: { epochs: 3, l2: 0.25 }, timeoutSeconds: 900 });
    await finished(again.body.id);
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('messages: a viewer on the Dry run tab reads a role message and sends nothing; field errors are plain sentences without doubled paths', async () => {
    const viewer = await newPage();
    const failures = watchFailures(viewer);
    const dryRuns: string[] = [];
    viewer.on('request', (req) => {
      if (req.url().includes('dryRun')) dryRuns.push(req.url());
    });
    await signIn(viewer, await viewerSecret());
    await viewer.goto('/workflows/grocery-reorder?tab=dryrun');
    await viewer.waitForSelector('text=Your role viewer cannot render dry runs');
    expect(await viewer.locator('text=/backend cannot run this/').count()).toBe(0);
    await shot(viewer, '17-dry-run-as-viewer');
    expect(dryRuns).toEqual([]);
    expect(failures).toEqual([]);

    const page = await newPage();
    await signIn(page);
    await page.goto('/workflows/grocery-reorder?tab=new');
    await page.fill('textarea[name="hyperparameters"]', '{"epochs": 0}');
    await page.click('button[type="submit"] >> text=Save new version');
    const hpError = page.locator('[data-field="hyperparameters"] .field-error');
    await hpError.waitFor();
    const text = (await hpError.textContent())!;
    expect(text).toMatch(/^epochs: must be >= 1/);
    expect(text).not.toContain('hyperparameters.');
    await page.fill('textarea[name="hyperparameters"]', '{}');
    await page.selectOption('select[name="runtime"]', { index: 0 });
    await page.click('button[type="submit"] >> text=Save new version');
    const runtimeError = page.locator('[data-field="runtime"] .field-error');
    await runtimeError.waitFor();
    expect(await runtimeError.textContent()).not.toMatch(/Too small|expected string|Invalid/);
    await shot(page, '18-plain-field-errors');
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('backends this server has not configured are marked on the run form, and saving a version on one needs "Save anyway"', async () => {
    const base = await ui.service.api('POST', '/api/v1/workflows', { name: 'backend-choice', model: 'logistic-regression', dataset: 'grocery-reorder', runtime: 'python3', backend: 'local' });
    expect(base.status).toBe(201);
    const page = await newPage();
    await signIn(page);
    await page.goto('/workflows/backend-choice?tab=run');
    await page.waitForSelector('select[name="backend"] option >> text=ray (not configured)', { state: 'attached' });
    const options = await page.locator('select[name="backend"] option').allTextContents();
    expect(options).toEqual(['local', 'ray (not configured)', 'kubernetes (not configured)', 'kuberay (not configured)']);
    expect(await page.locator('[data-testid="backend-warning"]').count()).toBe(0);
    await page.selectOption('select[name="backend"]', 'ray');
    expect(await page.locator('[data-testid="backend-warning"]').textContent()).toContain('GRIFFIN_RAY_ADDRESS');
    await shot(page, '19-run-form-unconfigured-backend');

    await page.goto('/workflows/backend-choice?tab=new');
    await page.selectOption('select[name="backend"]', 'ray');
    await page.waitForSelector('[data-testid="backend-warning"] >> text=/not configured on this server/');
    const save = page.locator('button[type="submit"] >> text=Save anyway');
    expect(await save.isDisabled()).toBe(true);
    await page.check('input[name="force"]');
    await save.click();
    await page.waitForURL(/\/workflows\/backend-choice\?version=2$/);
    await page.waitForSelector('[data-testid="workflow-backend-warning"] >> text=ray is not configured on this server');
    expect((await ui.service.api('GET', '/api/v1/workflows/backend-choice')).body).toMatchObject({ version: 2, backend: 'ray' });
    await shot(page, '20-workflow-on-unconfigured-backend');
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('no page sends a request that fails unprompted, as admin or viewer; at 1280 px no table is clipped; on a phone the header has one height', async () => {
    // A registered version and a schedule, so every page has something to show.
    if ((await ui.service.api('GET', '/api/v1/registry/models/grocery-reorder')).status === 404) {
      const run = await ui.service.api('POST', '/api/v1/runs', { workflow: 'grocery-reorder@1', overrides: { hyperparameters: { epochs: 2 } } });
      expect((await finished(run.body.id)).state).toBe('succeeded');
    }
    if ((await ui.service.api('GET', '/api/v1/schedules/tour-nightly')).status === 404) {
      expect((await ui.service.api('POST', '/api/v1/schedules', { name: 'tour-nightly', cron: '0 3 * * *', timezone: 'Europe/Berlin', workflow: 'grocery-reorder' })).status).toBe(201);
    }
    // A workflow on a backend this server lacks: its pages must not ask for what cannot be answered.
    if ((await ui.service.api('GET', '/api/v1/workflows/tour-on-kubernetes')).status === 404) {
      expect((await ui.service.api('POST', '/api/v1/workflows?force=true', { name: 'tour-on-kubernetes', model: 'logistic-regression', dataset: 'grocery-reorder', runtime: 'python3', backend: 'kubernetes' })).status).toBe(201);
    }
    const runs = (await ui.service.api('GET', '/api/v1/runs?limit=1')).body.items;
    const pages = [
      '/runs',
      `/runs/${runs[0].id}`,
      '/workflows',
      '/workflows/grocery-reorder',
      '/workflows/grocery-reorder?tab=run',
      '/workflows/grocery-reorder?tab=dryrun',
      '/workflows/grocery-reorder?tab=versions',
      '/workflows/grocery-reorder?tab=new',
      '/workflows/new',
      '/workflows/tour-on-kubernetes',
      '/workflows/tour-on-kubernetes?tab=run',
      '/workflows/tour-on-kubernetes?tab=dryrun',
      '/catalog/models',
      '/catalog/models/logistic-regression',
      '/catalog/datasets',
      '/catalog/datasets/grocery-reorder',
      '/catalog/features',
      '/catalog/runtimes',
      '/registry',
      '/registry/grocery-reorder',
      '/registry/grocery-reorder/versions/1',
      '/schedules',
      '/schedules/tour-nightly',
    ];
    for (const [who, token, extra] of [
      ['admin', ADMIN_TOKEN, ['/tokens']],
      ['viewer', await viewerSecret(), []],
    ] as const) {
      const page = await newPage();
      await page.setViewportSize({ width: 1280, height: 860 });
      const failures = watchFailures(page);
      await signIn(page, token);
      for (const path of [...pages, ...extra]) {
        await page.goto(path);
        await page.waitForSelector('.page-header h1');
        // Let the page's first requests answer before judging it.
        await page.waitForLoadState('networkidle');
        expect(await clippedTables(page), `${who} ${path} at 1280 px`).toEqual([]);
      }
      expect(failures, who).toEqual([]);
      if (who === 'admin') {
        await page.goto('/registry/grocery-reorder');
        await page.waitForSelector('.versions-table');
        await shot(page, '21-registry-model-1280');
        await page.goto('/registry/grocery-reorder/versions/1');
        await page.waitForSelector('[data-artifact="model.json"]');
        // The artifact downloads with the signed-in token (no bare API link that answers 401).
        const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-artifact="model.json"] button >> text=Download')]);
        expect(download.suggestedFilename()).toBe('model.json');
        const saved = fs.readFileSync((await download.path())!, 'utf8');
        expect(JSON.parse(saved)).toBeTypeOf('object');
        await shot(page, '22-model-version-artifacts');
      }
    }

    // A phone: the header is one bar of the same height on every page.
    const phone = await newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    await signIn(phone);
    const heights = new Set<number>();
    for (const path of ['/runs', '/workflows/grocery-reorder', '/registry', '/schedules', '/tokens']) {
      await phone.goto(path);
      await phone.waitForSelector('.page-header h1');
      heights.add(Math.round((await phone.locator('.sidebar').boundingBox())!.height));
    }
    expect([...heights]).toHaveLength(1);
    await shot(phone, '23-phone-schedules');
    expect(pageErrors).toEqual([]);
  }, 240_000);
});
