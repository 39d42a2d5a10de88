import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { PROJECT_ROOT } from '../../server/config.ts';
import { startServiceProcess, type ServiceProcess } from './process.ts';
import { ADMIN_TOKEN } from './service.ts';

/*
 * What the browser suites share: the real service started as a process, serving the built UI,
 * driven in headless Chromium from Debian's packages (playwright-core, no browser download).
 * Screenshots land in test-results/screenshots/.
 */

const CHROMIUM = process.env.GRIFFIN_CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.join(PROJECT_ROOT, 'test-results', 'screenshots');
/** A laptop screen. */
const VIEWPORT = { width: 1366, height: 860 };

/** `describe`, skipped where GRIFFIN_TEST_SKIP names chromium. */
export const describeInBrowser = describe.skipIf(
  (process.env.GRIFFIN_TEST_SKIP ?? '')
    .split(',')
    .map((s) => s.trim())
    .includes('chromium'),
);

export interface BrowserSuite {
  /** The service under test; set once the suite's beforeAll has run. */
  readonly service: ServiceProcess;
  /** Uncaught errors of every page this suite opened, as `url: message`. */
  readonly pageErrors: string[];
  /** A fresh browser context's page at the laptop viewport, not signed in. */
  newPage(): Promise<Page>;
  /** Signs `page` in through the sign-in form and waits for the app's sidebar. */
  signIn(page: Page, token?: string): Promise<void>;
  /** newPage, then signIn as the admin. */
  signedInPage(): Promise<Page>;
  /** A full-page screenshot, test-results/screenshots/<name>.png. */
  shot(page: Page, name: string): Promise<Buffer>;
  /** Polls the run until it is terminal and returns its last view. */
  waitForRun(runId: string): Promise<any>;
}

/**
 * Registers the suite's beforeAll (build the UI when stale, start the service with `env`, launch
 * Chromium) and afterAll (close what it opened, remove the data directory). Call it inside the
 * suite's `describe`; its hooks run before any the suite adds after it.
 */
export function browserSuite(name: string, env: Record<string, string> = {}): BrowserSuite {
  let service: ServiceProcess | undefined;
  let browser: Browser | undefined;
  let dataDir: string | undefined;
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium is not at ${CHROMIUM}. Install it (apt-get install -y chromium, or bash tests/setup/ensure.sh --only chromium), ` +
          'point GRIFFIN_CHROMIUM at a Chromium binary, or skip browser tests with GRIFFIN_TEST_SKIP=chromium.',
      );
    }
    // startServiceProcess runs node directly (no npm prestart), so the UI is built here when stale.
    const build = spawnSync(process.execPath, [path.join(PROJECT_ROOT, 'server', 'web', 'ensure-built.mjs'), '--strict'], { encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`the web UI did not build:\n${build.stdout}${build.stderr}`);
    fs.mkdirSync(SHOTS, { recursive: true });
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `griffin-${name}-`));
    service = await startServiceProcess({ GRIFFIN_DATA_DIR: dataDir, GRIFFIN_LOG_LEVEL: 'warn', ...env });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }, 300_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await service?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`the browser suite's ${what} is not started (its beforeAll failed or has not run)`);
    return value;
  };

  const suite: BrowserSuite = {
    get service() {
      return started(service, 'service');
    },
    pageErrors,
    async newPage() {
      const context = await started(browser, 'browser').newContext({ viewport: VIEWPORT, baseURL: suite.service.baseUrl });
      contexts.push(context);
      const page = await context.newPage();
      page.setDefaultTimeout(20_000);
      page.on('pageerror', (e) => pageErrors.push(`${page.url()}: ${e.message}`));
      return page;
    },
    async signIn(page, token = ADMIN_TOKEN) {
      await page.goto('/signin');
      await page.fill('input[name="token"]', token);
      await page.click('button[type="submit"]');
      await page.waitForSelector('.sidebar');
    },
    async signedInPage() {
      const page = await suite.newPage();
      await suite.signIn(page);
      return page;
    },
    shot: (page, shotName) => page.screenshot({ path: path.join(SHOTS, `${shotName}.png`), fullPage: true }),
    async waitForRun(runId) {
      for (;;) {
        const { status, body: run } = await suite.service.api('GET', `/api/v1/runs/${runId}`);
        if (status !== 200) throw new Error(`GET /api/v1/runs/${runId} answered ${status}: ${JSON.stringify(run)}`);
        if (run.terminal) return run;
        await new Promise((r) => setTimeout(r, 250));
      }
    },
  };
  return suite;
}
