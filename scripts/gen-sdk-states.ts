import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as lifecycle from '../server/domain/lifecycle.ts';

/*
 * Writes sdk/griffin_sdk/_states.py, the Python SDK's run states, from server/domain/lifecycle.ts,
 * so that the SDK and the Airflow provider never spell out a state set of their own.
 *
 *   npm run gen:sdk-states             # rewrite the file
 *   npm run gen:sdk-states -- --check  # exit 1 when the file is out of date
 *
 * tests/unit/sdkStates.test.ts fails when the committed file differs from what this writes.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SDK_STATES_FILE = path.join(ROOT, 'sdk', 'griffin_sdk', '_states.py');
export const REGENERATE = 'npm run gen:sdk-states';

/** The sets of lifecycle.ts the SDK carries. */
export interface StateSets {
  RUN_STATES: readonly string[];
  TERMINAL: readonly string[];
  IN_FLIGHT: readonly string[];
  ACTIVE: readonly string[];
  RERUNNABLE: readonly string[];
  SUCCESS: string;
}

/** The lifecycle's sets, and the state a run that ends well is in. */
export const LIFECYCLE_SETS: StateSets = { ...lifecycle, SUCCESS: lifecycle.Transitions.succeeded.to };

/** A Python string literal (JSON's quoting is Python's for these names). */
const py = (s: string) => JSON.stringify(s);
const set = (states: readonly string[]) => `frozenset({${states.map(py).join(', ')}})`;

/** The text of _states.py for these sets. */
export function renderSdkStates(sets: StateSets = LIFECYCLE_SETS): string {
  const members = sets.RUN_STATES.map((s) => `    ${s.toUpperCase()} = ${py(s)}`).join('\n');
  return `# Generated from server/domain/lifecycle.ts by \`${REGENERATE}\`: do not edit by hand.
"""The run states of Griffin's lifecycle, and the sets of them the SDK and the provider ask about."""

from __future__ import annotations

from griffin_sdk._state_queries import RunStateQueries

#: Every state a run can be in, in lifecycle order.
RUN_STATES: tuple[str, ...] = (${sets.RUN_STATES.map(py).join(', ')}${sets.RUN_STATES.length === 1 ? ',' : ''})
#: A run in one of these has ended for good.
TERMINAL_STATES: frozenset[str] = ${set(sets.TERMINAL)}
#: The one way a run ends well.
SUCCESS_STATE: str = ${py(sets.SUCCESS)}
#: Claimed and not yet ended.
IN_FLIGHT_STATES: frozenset[str] = ${set(sets.IN_FLIGHT)}
#: Not ended: queued or in flight.
ACTIVE_STATES: frozenset[str] = ${set(sets.ACTIVE)}
#: A resubmission with rerunIfFailed replaces a run in one of these: it will not succeed.
RERUNNABLE_STATES: frozenset[str] = ${set(sets.RERUNNABLE)}


class GriffinRunState(RunStateQueries):
    """States of a Griffin training run (the service's run state machine)."""

${members}
`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const text = renderSdkStates();
  const relative = path.relative(ROOT, SDK_STATES_FILE);
  if (process.argv.includes('--check')) {
    const current = fs.existsSync(SDK_STATES_FILE) ? fs.readFileSync(SDK_STATES_FILE, 'utf8') : '';
    if (current !== text) {
      console.error(`${relative} is out of date with server/domain/lifecycle.ts: run \`${REGENERATE}\``);
      process.exit(1);
    }
    console.log(`${relative} is up to date`);
  } else {
    fs.writeFileSync(SDK_STATES_FILE, text);
    console.log(`wrote ${relative}`);
  }
}
