import { beforeAll, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { browserSuite, describeInBrowser } from '../helpers/browser.ts';

/*
 * Comparing runs as a user does: three real runs of the example workflow with different
 * hyperparameters (the local backend trains them), chosen on the runs list and opened side by side;
 * then two of the versions they registered, from the registry. The real service as a process,
 * serving the built UI, in headless Chromium (tests/helpers/browser.ts), as in ui.test.ts.
 * Screenshots land in test-results/screenshots/.
 */

/** Different enough to tell apart on every chart, quick enough to train in seconds. */
const SETTINGS = [
  { learning_rate: 0.01, epochs: 4 },
  { learning_rate: 0.05, epochs: 6 },
  { learning_rate: 0.4, epochs: 5 },
];

interface TrainedRun {
  id: string;
  hyperparameters: Record<string, unknown>;
  latest: Record<string, { value: number; step: number }>;
  version: number;
}

describeInBrowser('comparing runs in the web UI (headless Chromium)', () => {
  const ui = browserSuite('compare');
  const { signedInPage, shot, pageErrors } = ui;
  const runs: TrainedRun[] = [];

  beforeAll(async () => {
    // One after another, so the registered versions are numbered in SETTINGS order.
    for (const hp of SETTINGS) {
      const submitted = await ui.service.api('POST', '/api/v1/runs', { workflow: 'grocery-reorder', overrides: { hyperparameters: hp } });
      expect(submitted.status).toBe(201);
      const run = await ui.waitForRun(submitted.body.id);
      expect(run.state, run.reason).toBe('succeeded');
      runs.push({ id: run.id, hyperparameters: run.spec.hyperparameters, latest: run.latestMetrics, version: run.modelVersion.version });
    }
  }, 300_000);

  const argBest = (key: string, better: 'min' | 'max') => [...runs].sort((a, b) => (better === 'min' ? a.latest[key].value - b.latest[key].value : b.latest[key].value - a.latest[key].value))[0];
  /** The run ids of the runs table, top to bottom. */
  const rowOrder = (page: Page) => page.locator('tr[data-run]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-run')));

  it('the runs list shows chosen metric and parameter columns, sorts them, and keeps the choice in the URL through a reload', async () => {
    const page = await signedInPage();
    await page.goto('/runs');
    for (const r of runs) await page.waitForSelector(`tr[data-run="${r.id}"] .badge[data-state="succeeded"]`);

    await page.click('[data-testid="column-chooser"] summary');
    await page.check('input[name="metric-column"][value="val_auc"]');
    await page.check('input[name="param-column"][value="learning_rate"]');
    await page.waitForURL(/metrics=val_auc/);
    expect(new URL(page.url()).searchParams.get('params')).toBe('learning_rate');
    await shot(page, '19-runs-column-chooser');
    // A click elsewhere closes the chooser.
    await page.click('h1');
    await page.waitForSelector('[data-testid="column-chooser"] .chooser-panel', { state: 'hidden' });
    for (const r of runs) {
      const cell = page.locator(`tr[data-run="${r.id}"] td[data-param="learning_rate"]`);
      expect(await cell.textContent()).toBe(String(r.hyperparameters.learning_rate));
      expect(await page.locator(`tr[data-run="${r.id}"] td[data-metric="val_auc"]`).textContent()).toMatch(/^0\.\d+$/);
    }

    // A higher-is-better metric sorts best first, and a second click flips it.
    const byAuc = [...runs].sort((a, b) => b.latest.val_auc.value - a.latest.val_auc.value).map((r) => r.id);
    await page.click('th[data-column="metric:val_auc"] button');
    await page.waitForSelector('th[data-column="metric:val_auc"][aria-sort="descending"]');
    expect(await rowOrder(page)).toEqual(byAuc);
    await page.click('th[data-column="metric:val_auc"] button');
    await page.waitForSelector('th[data-column="metric:val_auc"][aria-sort="ascending"]');
    expect(await rowOrder(page)).toEqual([...byAuc].reverse());
    // Parameters sort by number: 0.4 after 0.05 (as text it would come first).
    await page.click('th[data-column="param:learning_rate"] button');
    await page.waitForSelector('th[data-column="param:learning_rate"][aria-sort="ascending"]');
    expect(await rowOrder(page)).toEqual(runs.map((r) => r.id));

    // A reload (or the link shared) shows the same columns, sorted the same way.
    const url = page.url();
    expect(url).toMatch(/sort=param%3Alearning_rate|sort=param:learning_rate/);
    await page.reload();
    await page.waitForSelector('th[data-column="param:learning_rate"][aria-sort="ascending"]');
    await page.waitForSelector('th[data-column="metric:val_auc"]');
    expect(await rowOrder(page)).toEqual(runs.map((r) => r.id));
    expect(page.url()).toBe(url);
    await shot(page, '20-runs-metric-columns');
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('three runs ticked on the runs list open side by side: overlaid curves, a parameter diff, the best value per direction, a log scale', async () => {
    const page = await signedInPage();
    await page.goto('/runs');
    expect(await page.locator('[data-testid="compare-runs"]').isDisabled()).toBe(true);
    for (const r of runs) await page.check(`tr[data-run="${r.id}"] input[name="select"]`);
    await page.click('[data-testid="compare-runs"] >> text=Compare 3 runs');
    await page.waitForURL(/\/compare\?runs=/);
    expect(new URL(page.url()).searchParams.get('runs')).toBe(runs.map((r) => r.id).join(','));

    // One chart per metric, one line per run, with a legend naming each run.
    const lossChart = page.locator('figure.chart[data-metric="val_loss"]');
    await lossChart.locator('path.series').nth(2).waitFor();
    expect(await lossChart.locator('path.series').count()).toBe(3);
    expect(await lossChart.locator('path.series').evaluateAll((ps) => ps.map((p) => p.getAttribute('data-series')))).toEqual(runs.map((r) => r.id));
    for (const r of runs) await lossChart.locator(`.chart-legend [data-legend="${r.id}"] >> text=${r.id}`).waitFor();
    expect(await page.locator('figure.chart[data-metric="val_auc"] path.series').count()).toBe(3);
    // The y axis spans the values, not 0 to the largest: its lowest tick is above 0.
    const lowestAucTick = await page.locator('figure.chart[data-metric="val_auc"] text.tick').evaluateAll((ts) => Math.min(...ts.slice(0, 4).map((t) => Number(t.textContent))));
    expect(lowestAucTick).toBeGreaterThan(0.3);

    // Parameters: the rows that differ are marked; the others are not, and can be hidden.
    for (const key of ['learning_rate', 'epochs']) await page.waitForSelector(`tr[data-param="${key}"].differs`);
    const same = page.locator('tr[data-param="batch_size"]');
    expect(await same.getAttribute('data-differs')).toBe('false');
    expect(await page.locator('tr[data-param="learning_rate"] td').allTextContents()).toEqual(runs.map((r) => String(r.hyperparameters.learning_rate)));
    await page.check('input[name="onlyDiff"]');
    await page.waitForURL(/diff=only/);
    expect(await same.count()).toBe(0);
    expect(await page.locator('tr[data-param="learning_rate"].differs').count()).toBe(1);

    // Final values: the best is the lowest loss and the highest AUC.
    for (const [key, better] of [['val_loss', 'min'], ['train_loss', 'min'], ['val_auc', 'max'], ['auc', 'max']] as const) {
      const row = page.locator(`tr[data-final="${key}"]`);
      expect(await row.getAttribute('data-direction')).toBe(better);
      expect(await row.locator('td[data-mark="best"]').getAttribute('data-subject')).toBe(argBest(key, better).id);
      expect(await row.locator('td[data-mark="best"]').count()).toBe(1);
    }
    // The user can say a metric is better the other way round; the best moves with it.
    await page.click('tr[data-final="val_auc"] button.direction');
    await page.waitForSelector('tr[data-final="val_auc"][data-direction="min"]');
    expect(await page.locator('tr[data-final="val_auc"] td[data-mark="best"]').getAttribute('data-subject')).toBe(argBest('val_auc', 'min').id);
    await page.click('tr[data-final="val_auc"] button.direction');
    await page.waitForSelector('tr[data-final="val_auc"][data-direction="max"]');
    await shot(page, '21-compare-runs');

    // Log scale and smoothing redraw every chart and stay in the URL.
    await page.click('button[data-scale="log"]');
    await page.waitForSelector('figure.chart[data-metric="val_loss"][data-scale="log"]');
    expect(new URL(page.url()).searchParams.get('scale')).toBe('log');
    expect(await page.locator('figure.chart[data-scale="linear"]').count()).toBe(0);
    const linearPath = await page.locator('figure.chart[data-metric="train_loss"] path.series').first().getAttribute('d');
    await page.fill('input[name="smoothing"]', '0.6');
    await page.waitForURL(/smooth=0\.6/);
    await page.locator('figure.chart[data-metric="train_loss"] path.raw').first().waitFor();
    expect(await page.locator('figure.chart[data-metric="train_loss"] path.series').first().getAttribute('d')).not.toBe(linearPath);
    await page.reload();
    await page.waitForSelector('figure.chart[data-metric="val_loss"][data-scale="log"]');
    expect(await page.locator('input[name="smoothing"]').inputValue()).toBe('0.6');
    expect(await page.locator('input[name="onlyDiff"]').isChecked()).toBe(true);
    await shot(page, '22-compare-runs-log-smoothed');
    // On a phone the page stacks: no part of it is wider than the screen (tables scroll inside their frame).
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForSelector('figure.chart[data-metric="val_loss"]');
    const wider = await page.evaluate(() =>
      [...document.querySelectorAll('.compare-page *')]
        .filter((el) => !el.closest('.table-wrap') && el.getBoundingClientRect().right > window.innerWidth + 1)
        .map((el) => `${el.tagName.toLowerCase()}.${el.className}`),
    );
    expect(wider).toEqual([]);
    await shot(page, '22b-compare-runs-phone');
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('the registry links two versions into the comparison, resolved to their runs', async () => {
    const page = await signedInPage();
    await page.goto('/registry/grocery-reorder');
    await page.waitForSelector('tr[data-version="3"]');
    const [first, last] = [runs[0], runs[2]];
    await page.check(`input[name="compare-version"][value="${first.version}"]`);
    await page.check(`input[name="compare-version"][value="${last.version}"]`);
    await shot(page, '23-registry-compare-versions');
    await page.click('[data-testid="compare-versions"] >> text=Compare 2 versions');
    await page.waitForURL(/\/compare\?versions=/);
    expect(new URL(page.url()).searchParams.get('versions')).toBe(`grocery-reorder@${first.version},grocery-reorder@${last.version}`);
    await page.waitForSelector('.page-header h1 >> text=Compare 2 model versions');
    const chart = page.locator('figure.chart[data-metric="val_loss"]');
    await chart.locator('path.series').nth(1).waitFor();
    expect(await chart.locator('path.series').count()).toBe(2);
    await chart.locator('.chart-legend >> text=grocery-reorder v1').waitFor();
    await page.waitForSelector('tr[data-param="learning_rate"].differs');
    await page.waitForSelector(`tr[data-param="run"] >> text=${first.id}`);
    // The registered snapshot's auc decides the best between the two.
    const better = first.latest.auc.value > last.latest.auc.value ? first : last;
    expect(await page.locator('tr[data-final="auc"] td[data-mark="best"]').getAttribute('data-subject')).toBe(`grocery-reorder@${better.version}`);
    await shot(page, '24-compare-versions');
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('a run still training grows on the comparison without a reload', async () => {
    // Long epochs keep it running; the test reports a metric of its own (a key the training code
    // never logs) through the API, point by point, as a training process would.
    const slow = await ui.service.api('POST', '/api/v1/runs', { workflow: 'grocery-reorder', overrides: { hyperparameters: { epochs: 50, sleep_per_epoch: 2 } } });
    expect(slow.status).toBe(201);
    const report = (step: number) => ui.service.api('POST', `/api/v1/runs/${slow.body.id}/metrics`, { metrics: [{ key: 'probe_loss', value: 1 / step, step }] });
    for (const step of [1, 2]) expect((await report(step)).status).toBe(201);
    const page = await signedInPage();
    await page.goto(`/compare?runs=${runs[0].id},${slow.body.id}`);
    const pointsOf = `figure.chart[data-metric="probe_loss"] path.series[data-series="${slow.body.id}"]`;
    await page.locator(pointsOf).waitFor();
    expect(((await page.locator(pointsOf).getAttribute('d')) ?? '').split('L').length).toBe(2);
    await page.waitForSelector(`[data-subject="${slow.body.id}"] .badge[data-state="running"]`);
    for (const step of [3, 4]) expect((await report(step)).status).toBe(201);
    await page.waitForFunction((sel) => (document.querySelector(sel)?.getAttribute('d') ?? '').split('L').length === 4, pointsOf);
    expect(await page.locator(`tr[data-final="probe_loss"] td[data-subject="${slow.body.id}"]`).textContent()).toContain('0.25');
    expect((await ui.service.api('POST', `/api/v1/runs/${slow.body.id}/cancel`, {})).status).toBe(202);
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('a run or version that cannot be read is named and left out; the rest still compare', async () => {
    const page = await signedInPage();
    await page.goto(`/compare?runs=${runs[0].id},${runs[1].id},nosuchrun000`);
    await page.waitForSelector('[data-failed="nosuchrun000"] >> text=not found');
    await page.locator('figure.chart[data-metric="val_loss"] path.series').nth(1).waitFor();
    expect(await page.locator('figure.chart[data-metric="val_loss"] path.series').count()).toBe(2);
    // The × leaves a run out of the comparison (and out of the URL).
    await page.click(`button[aria-label="remove ${runs[1].id}"]`);
    await page.waitForURL((u) => u.searchParams.get('runs') === `${runs[0].id},nosuchrun000`);
    await page.waitForSelector('text=Only one left to show');

    await page.goto('/compare?versions=grocery-reorder,grocery-reorder@99');
    await page.waitForSelector('[data-failed="grocery-reorder"] >> text=/name@version/');
    await page.waitForSelector('[data-failed="grocery-reorder@99"] >> text=not found');
    await page.goto('/compare');
    await page.waitForSelector('text=Nothing to compare yet');
    expect(pageErrors).toEqual([]);
  }, 60_000);
});
