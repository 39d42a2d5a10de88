#!/usr/bin/env node
// Builds the web UI into server/web/dist when it is missing or older than its sources, so that
// `npm ci && npm start` serves the UI with no extra step (package.json "prestart" runs this).
//
//   node server/web/ensure-built.mjs           # build if needed; on failure warn, keep what is served
//   node server/web/ensure-built.mjs --strict  # build if needed; on failure exit 1 (tests)
//   node server/web/ensure-built.mjs --force   # build even when dist looks current
//
// The build goes to a temporary directory that replaces dist only when complete, so a service
// already serving dist never sees a half-written build.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const WEB = path.dirname(fileURLToPath(import.meta.url));
const DIST = path.join(WEB, 'dist');
// The bundle also carries the run states of server/domain/lifecycle.ts.
const SOURCES = ['src', 'index.html', 'vite.config.ts', 'tsconfig.json', '../domain/lifecycle.ts'].map((p) => path.join(WEB, p));

function newestMtime(p) {
  let stat;
  try {
    stat = fs.statSync(p);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  return fs.readdirSync(p).reduce((max, name) => Math.max(max, newestMtime(path.join(p, name))), stat.mtimeMs);
}

/** Why a build is needed, or null when dist is current. */
export function staleReason() {
  const built = newestMtime(path.join(DIST, 'index.html'));
  if (!built) return 'server/web/dist is missing';
  if (SOURCES.some((p) => newestMtime(p) > built)) return 'server/web/dist is older than server/web/src';
  return null;
}

function typeCheck() {
  const require = createRequire(import.meta.url);
  const tsc = require.resolve('typescript/bin/tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', path.join(WEB, 'tsconfig.json')], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`the web UI does not type-check:\n${result.stdout}${result.stderr}`);
}

/** Type-checks and builds the UI; resolves when dist holds the new build. */
export async function buildWeb() {
  typeCheck();
  const { build } = await import('vite');
  const tmp = path.join(WEB, `.dist-build-${process.pid}`);
  const old = path.join(WEB, `.dist-old-${process.pid}`);
  try {
    await build({ configFile: path.join(WEB, 'vite.config.ts'), logLevel: 'warn', build: { outDir: tmp, emptyOutDir: true } });
    if (fs.existsSync(DIST)) fs.renameSync(DIST, old);
    fs.renameSync(tmp, DIST);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.rmSync(old, { recursive: true, force: true });
  }
}

export async function ensureBuilt({ force = false } = {}) {
  const reason = force ? 'a build was asked for' : staleReason();
  if (!reason) return false;
  console.error(`[griffin] building the web UI (${reason}) ...`);
  const t0 = Date.now();
  await buildWeb();
  console.error(`[griffin] web UI built into server/web/dist in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return true;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const strict = process.argv.includes('--strict');
  try {
    await ensureBuilt({ force: process.argv.includes('--force') });
  } catch (error) {
    console.error(`[griffin] ${error instanceof Error ? error.message : error}`);
    if (strict) process.exit(1);
    // The API works without the UI; the service serves the previous build or the fallback page.
    console.error('[griffin] starting without a fresh web UI build; run `npm run build:web` to see why');
  }
}
