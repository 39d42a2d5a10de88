import { expect, it } from 'vitest';
import { browserSuite, describeInBrowser } from '../helpers/browser.ts';

/*
 * The run page's Usage card, as a user sees it: a real run of the example workflow with requested
 * resources, trained by the local backend, in the real service serving the built UI, in headless
 * Chromium (tests/helpers/browser.ts). The figures shown are the API's, converted to hours.
 */
describeInBrowser('run usage on the run page (headless Chromium)', () => {
  const ui = browserSuite('usage-ui');

  it('shows the wall time and the core-, GB- and GPU-seconds of a finished run', async () => {
    const submitted = await ui.service.api('POST', '/api/v1/runs', { workflow: 'grocery-reorder', overrides: { resources: { cpu: 4, memoryMb: 2048 }, hyperparameters: { epochs: 2 } } });
    expect(submitted.status).toBe(201);
    const run = await ui.waitForRun(submitted.body.id);
    expect(run.state, run.reason).toBe('succeeded');
    const usage = (await ui.service.api('GET', `/api/v1/runs/${run.id}/usage`)).body;
    expect(usage.attempts).toHaveLength(1);

    const page = await ui.signedInPage();
    await page.goto(`/runs/${run.id}`);
    const card = page.locator('[data-testid="run-usage"]');
    await card.waitFor();
    const text = await card.innerText();
    // The run took seconds, so the card speaks of core-, GB- and GPU-seconds (4 cores and 2 GB requested).
    const shown = (unit: string) => Number(new RegExp(`([\\d.,]+) ${unit}-seconds`).exec(text)?.[1].replace(/,/g, ''));
    expect(shown('core')).toBeCloseTo(usage.total.resourceSeconds.cpu, 0);
    expect(shown('GB')).toBeCloseTo(usage.total.resourceSeconds.memoryMb / 1024, 0);
    expect(shown('core')).toBeCloseTo(2 * shown('GB'), 0);
    expect(shown('GPU')).toBe(0);
    expect(text).toContain(`Wall time`);
    await ui.shot(page, '30-run-usage');
    expect(ui.pageErrors).toEqual([]);
  }, 180_000);
});
