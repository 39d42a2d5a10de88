import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { PROJECT_ROOT } from '../../server/config.ts';
import { startServiceProcess, type ServiceProcess } from '../helpers/process.ts';
import { ADMIN_TOKEN } from '../helpers/service.ts';

/*
 * The run page's Usage card, as a user sees it: a real run of the example workflow with requested
 * resources, trained by the local backend, in the real service serving the built UI, in headless
 * Chromium (as ui.test.ts). The figures shown are the API's, converted to hours.
 */
const SKIPPED = (process.env.GRIFFIN_TEST_SKIP ?? '')
  .split(',')
  .map((s) => s.trim())
  .includes('chromium');
const CHROMIUM = process.env.GRIFFIN_CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.join(PROJECT_ROOT, 'test-results', 'screenshots');

describe.skipIf(SKIPPED)('run usage on the run page (headless Chromium)', () => {
  let service: ServiceProcess;
  let browser: Browser;
  let dataDir: string;

  beforeAll(async () => {
    const build = spawnSync(process.execPath, [path.join(PROJECT_ROOT, 'server', 'web', 'ensure-built.mjs'), '--strict'], { encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`the web UI did not build:\n${build.stdout}${build.stderr}`);
    fs.mkdirSync(SHOTS, { recursive: true });
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'griffin-usage-ui-'));
    service = await startServiceProcess({ GRIFFIN_DATA_DIR: dataDir, GRIFFIN_LOG_LEVEL: 'warn' });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await service?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('shows the wall time and the core-, GB- and GPU-seconds of a finished run', async () => {
    const submitted = await service.api('POST', '/api/v1/runs', { workflow: 'grocery-reorder', overrides: { resources: { cpu: 4, memoryMb: 2048 }, hyperparameters: { epochs: 2 } } });
    expect(submitted.status).toBe(201);
    let run = submitted.body;
    while (!run.terminal) {
      await new Promise((r) => setTimeout(r, 250));
      run = (await service.api('GET', `/api/v1/runs/${run.id}`)).body;
    }
    expect(run.state, run.reason).toBe('succeeded');
    const usage = (await service.api('GET', `/api/v1/runs/${run.id}/usage`)).body;
    expect(usage.attempts).toHaveLength(1);

    const context = await browser.newContext({ viewport: { width: 1366, height: 860 }, baseURL: service.baseUrl });
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    await page.goto('/signin');
    await page.fill('input[name="token"]', ADMIN_TOKEN);
    await page.click('button[type="submit"]');
    await page.waitForSelector('.sidebar');
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
    await page.screenshot({ path: path.join(SHOTS, '30-run-usage.png'), fullPage: true });
    await context.close();
  }, 180_000);
});
