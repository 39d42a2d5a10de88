import fs from 'node:fs';
import path from 'node:path';

/*
 * The training helper (server/runtime/python/griffin_run.py) spools reports under
 * `.griffin-spool/` in the run directory and, before the process exits, writes one
 * `state-<reporter>.json` per reporter saying what it could not deliver. A backend that can see
 * the run directory reads those files to tell whether a finished run's reports are all in.
 */
export const SPOOL_DIR_NAME = '.griffin-spool';

interface SpoolState {
  complete?: unknown;
  pending?: { metricPoints?: unknown; artifacts?: unknown };
  reportTimeoutSeconds?: unknown;
  lastError?: unknown;
}

const count = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0);
const names = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string').map((v) => v.slice(0, 200)) : []);

/** What the run's reporters gave up on, in words; undefined when every report arrived (or none was spooled). */
export function undeliveredReports(runDir: string): string | undefined {
  const dir = path.join(runDir, SPOOL_DIR_NAME);
  let files: string[];
  try {
    files = fs.readdirSync(dir).filter((f) => /^state-[\w-]+\.json$/.test(f));
  } catch {
    return undefined;
  }
  let points = 0;
  const artifacts: string[] = [];
  let timeout: number | undefined;
  let lastError: string | undefined;
  let unreadable = 0;
  for (const file of files) {
    let state: SpoolState;
    try {
      state = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as SpoolState;
    } catch {
      unreadable += 1;
      continue;
    }
    if (state.complete === true) continue;
    points += count(state.pending?.metricPoints);
    artifacts.push(...names(state.pending?.artifacts));
    if (typeof state.reportTimeoutSeconds === 'number') timeout = state.reportTimeoutSeconds;
    if (typeof state.lastError === 'string') lastError = state.lastError.slice(0, 300);
  }
  const missing: string[] = [];
  if (artifacts.length) missing.push(`${artifacts.length === 1 ? 'artifact' : 'artifacts'} ${artifacts.slice(0, 10).join(', ')}${artifacts.length > 10 ? ', ...' : ''}`);
  if (points) missing.push(`${points} metric point${points === 1 ? '' : 's'}`);
  if (unreadable) missing.push(`${unreadable} unreadable report state file${unreadable === 1 ? '' : 's'} in ${SPOOL_DIR_NAME}/`);
  if (!missing.length) return undefined;
  const limit = timeout === undefined ? 'GRIFFIN_REPORT_TIMEOUT' : `GRIFFIN_REPORT_TIMEOUT (${timeout} s)`;
  return `${missing.join(' and ')} never reached Griffin: it was unreachable for longer than ${limit}${lastError ? `; last error: ${lastError}` : ''}`;
}
